"""The leaderboard pages: one view for page and htmx fragment, filters in the query string, clear errors."""

import re

import pytest
from django.urls import reverse

from arena.models import Contender
from leaderboard.models import RecomputeRun
from leaderboard.services import coalescing
from tests.leaderboard.arena_data import verdicts_add
from tests.support import factories

INDEX = "/leaderboard/"


def table_slugs(response) -> list[str]:
    return re.findall(r'<tr data-contender="([^"]+)"', response.content.decode())


def test_it_shows_the_people_overall_leaderboard_with_charts(client, rated_arena):
    response = client.get(INDEX)

    html = response.content.decode()
    assert response.status_code == 200 and "<html" in html
    assert set(table_slugs(response)) == {"alpha", "beta", "gamma", "delta"}  # omega is pending
    for chart in ("forest", "win-rate", "win-fraction", "battle-count"):
        assert f'id="figure-{chart}"' in html
    assert (
        'id="figure-profile"' in html
        and "/static/vendor/plotly.min" in html
        and "/static/js/leaderboard." in html
    )
    assert "Rank" in html and "95% CI" in html and "Style-controlled" in html
    assert 'aria-current="page" data-dimension="overall"' in html


def test_an_htmx_request_gets_only_the_board(client, rated_arena):
    response = client.get(INDEX, {"dimension": "helpfulness"}, headers={"HX-Request": "true"})

    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html
    assert html.lstrip().startswith('<div id="board"') and 'data-dimension="helpfulness"' in html


def test_tabs_and_sort_links_keep_href_and_hx_get_with_the_state(client, rated_arena):
    html = client.get(INDEX, {"source": "judge-gpt", "min_votes": "1"}).content.decode()

    tab = re.search(
        r'<a href="([^"]+)" hx-get="([^"]+)" class="lb-tab[^"]*"\s+data-dimension="helpfulness"', html
    )
    assert tab and tab.group(1) == tab.group(2)
    assert "source=judge-gpt" in tab.group(1) and "min_votes=1" in tab.group(1)
    assert (
        'hx-get="/leaderboard/?dimension=overall&amp;source=judge-gpt&amp;min_votes=1&amp;sort=-rating"'
        in html
    )


def test_source_category_and_min_votes_filter_the_rows(client, rated_arena):
    people = table_slugs(client.get(INDEX))
    llama = table_slugs(client.get(INDEX, {"source": "judge-llama"}))
    assert llama[0] == "gamma" and people != llama  # the Llama judge was scripted to prefer gamma

    response = client.get(INDEX, {"category": "math"})
    assert response.status_code == 200 and len(table_slugs(response)) == 4
    hidden = client.get(INDEX, {"min_votes": "100000"})
    assert table_slugs(hidden) == [] and "No contender has 100000 votes or more" in hidden.content.decode()


def test_columns_sort_both_ways(client, rated_arena):
    by_name = table_slugs(client.get(INDEX, {"sort": "name"}))
    assert by_name == sorted(by_name)
    assert table_slugs(client.get(INDEX, {"sort": "-name"})) == by_name[::-1]
    best_first = table_slugs(client.get(INDEX, {"sort": "-rating"}))
    assert table_slugs(client.get(INDEX, {"sort": "rating"})) == best_first[::-1]
    assert best_first == table_slugs(client.get(INDEX))  # the default, by rank, agrees here


@pytest.mark.parametrize(
    ("params", "status", "message"),
    [
        ({"dimension": "wit"}, 400, "Unknown dimension &#x27;wit&#x27;: choose one of overall"),
        ({"source": "nobody"}, 400, "Unknown source &#x27;nobody&#x27;: choose one of judges"),
        ({"category": "poetry"}, 400, "Unknown category &#x27;poetry&#x27;"),
        ({"min_votes": "-1"}, 400, "min_votes must be a whole number, 0 or more"),
        ({"min_votes": "many"}, 400, "min_votes must be a whole number"),
        ({"sort": "height"}, 400, "Unknown sort &#x27;height&#x27;"),
        ({"run": "abc"}, 400, "run must be a run number"),
        ({"run": "99999"}, 404, "No finished leaderboard run #99999"),
        ({"profile": "omega"}, 400, "Unknown contender &#x27;omega&#x27; in profile"),
    ],
)
def test_bad_parameters_say_what_is_wrong(client, rated_arena, params, status, message):
    response = client.get(INDEX, params)

    assert response.status_code == status
    assert message in response.content.decode()


def test_a_past_run_stays_viewable(client, rated_arena):
    first = rated_arena.run
    verdicts_add(rated_arena.battles, seed=99, votes_per_battle=1, dimension="correctness")
    from leaderboard.services.recompute import leaderboards_recompute

    leaderboards_recompute(trigger="test")

    latest = client.get(INDEX, {"dimension": "correctness"})
    past = client.get(INDEX, {"dimension": "correctness", "run": first.pk})
    assert table_slugs(latest) and not table_slugs(past)
    assert "No verdicts on Correctness from this source yet." in past.content.decode()
    assert f'<option value="{first.pk}" selected>' in past.content.decode()


def test_an_empty_arena_says_nothing_is_computed_yet(client, db):
    response = client.get(INDEX)

    assert (
        response.status_code == 200 and "No leaderboard has been computed yet." in response.content.decode()
    )


def test_judges_vs_people_table_is_on_the_page(client, rated_arena):
    html = client.get(INDEX).content.decode()

    assert 'data-testid="agreement-table"' in html and "GPT judge" in html and "Llama judge" in html


def test_the_contender_page_shows_ratings_record_and_battles(client, rated_arena):
    response = client.get(reverse("leaderboard:contender", args=["alpha"]), {"source": "people"})

    html = response.content.decode()
    assert response.status_code == 200
    assert 'data-testid="ratings-table"' in html and "GPT judge" in html
    assert re.findall(r'data-opponent="([^"]+)"', html) and "omega" not in re.findall(
        r'data-opponent="([^"]+)"', html
    )
    assert html.count('data-testid="example-battle"') == 5
    assert reverse("arena:contender-detail", args=["alpha"]) in html


def test_example_answers_are_rendered_safely(client, rated_arena):
    # The newest battle between approved contenders: examples show the newest first.
    battle = next(
        b for b in reversed(rated_arena.battles) if "omega" not in (b.contender_a.slug, b.contender_b.slug)
    )
    battle.output_a.text = '<script>alert("x")</script> **bold**'
    battle.output_a.save()

    html = client.get(reverse("leaderboard:contender", args=[battle.contender_a.slug])).content.decode()

    assert '<script>alert("x")</script>' not in html and "&lt;script&gt;" in html


def test_a_pending_contender_has_no_leaderboard_page(client, rated_arena):
    response = client.get(reverse("leaderboard:contender", args=["omega"]))

    assert (
        response.status_code == 404 and "No approved contender &#x27;omega&#x27;" in response.content.decode()
    )


def test_compare_two_contenders(client, rated_arena):
    response = client.get(reverse("leaderboard:compare"), {"a": "alpha", "b": "gamma"})

    html = response.content.decode()
    assert response.status_code == 200 and 'data-testid="compare-table"' in html
    assert 'data-dimension="overall"' in html and "%" in html


@pytest.mark.parametrize(
    ("params", "status", "message"),
    [
        ({"a": "alpha"}, 400, "Choose two contenders to compare"),
        ({"a": "alpha", "b": "alpha"}, 400, "Choose two different contenders"),
        ({"a": "alpha", "b": "nobody"}, 404, "No approved contender &#x27;nobody&#x27;"),
        ({"a": "alpha", "b": "omega"}, 404, "No approved contender &#x27;omega&#x27;"),
    ],
)
def test_compare_refuses_bad_pairs(client, rated_arena, params, status, message):
    response = client.get(reverse("leaderboard:compare"), params)

    assert response.status_code == status and message in response.content.decode()


def test_only_staff_can_ask_for_a_recompute(
    client, rated_arena, monkeypatch, django_capture_on_commit_callbacks
):
    sent = []
    monkeypatch.setattr(coalescing, "_send", sent.append)
    url = reverse("leaderboard:recompute")

    assert client.post(url).status_code == 403
    client.force_login(factories.make_user("viewer"))
    assert client.post(url).status_code == 403
    client.force_login(factories.make_user("boss", is_staff=True))
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, {"next": "/leaderboard/?dimension=helpfulness"})
    assert response.status_code == 302 and response["Location"] == "/leaderboard/?dimension=helpfulness"
    fragment = client.post(url, headers={"HX-Request": "true"})
    assert fragment.content.decode().strip().startswith('<div id="recompute-status"')
    assert "already queued" in fragment.content.decode()
    assert sent == ["staff"]


def test_the_staff_button_is_shown_to_staff_only(client, rated_arena):
    assert 'data-testid="recompute"' not in client.get(INDEX).content.decode()
    client.force_login(factories.make_user("boss", is_staff=True))
    assert 'data-testid="recompute"' in client.get(INDEX).content.decode()


def test_a_contender_withdrawn_after_the_run_disappears_from_it(client, rated_arena):
    Contender.objects.filter(slug="alpha").update(status="hidden")

    assert "alpha" not in table_slugs(client.get(INDEX))
    assert RecomputeRun.objects.count() == 1
