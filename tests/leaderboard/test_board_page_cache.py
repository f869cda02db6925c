"""The leaderboard page renders its board once per stored run and query, then serves it from the cache to
everyone; what is the viewer's own (the navigation, staff's recompute button) is rendered for each request."""

import re
from unittest import mock

import pytest
from django.core.cache import cache
from django.test import Client

from arena.models import Contender, Dimension, Source
from leaderboard import selectors, views
from leaderboard.models import RecomputeRun
from leaderboard.services.recompute import leaderboards_recompute
from tests.leaderboard.arena_data import verdicts_add

INDEX = "/leaderboard/"


def board_of(page: str) -> str:
    return page[page.index('<div id="board"') :]


def page_of(client: Client, params: dict | None = None, **headers: str) -> str:
    response = client.get(INDEX, params or {}, headers=headers)
    assert response.status_code == 200
    return response.content.decode()


def run_shown(page: str) -> int:
    found = re.search(r"Run #(\d+), computed", page)
    assert found, "the board names no run"
    return int(found.group(1))


def test_it_serves_the_same_board_again_without_building_it(client, rated_arena):
    first = page_of(client)
    with mock.patch.object(selectors, "board_get", side_effect=AssertionError("board built again")):
        second = page_of(client)
        fragment = page_of(client, HX_Request="true")

    assert board_of(second) == board_of(first)
    assert board_of(first).startswith(fragment.strip())


def test_it_shows_a_newly_stored_run_at_once(client, rated_arena):
    assert run_shown(page_of(client)) == rated_arena.run.pk
    verdicts_add(rated_arena.battles, seed=9, dimension="correctness")

    new_run = leaderboards_recompute(trigger="test")

    assert new_run.pk != rated_arena.run.pk
    assert run_shown(page_of(client)) == new_run.pk
    assert run_shown(page_of(client, HX_Request="true")) == new_run.pk


def test_other_parameters_get_their_own_board(client, rated_arena):
    overall = page_of(client)
    helpfulness = page_of(client, {"dimension": "helpfulness"})

    assert 'aria-current="page" data-dimension="overall"' in overall
    assert 'aria-current="page" data-dimension="helpfulness"' in helpfulness


@pytest.fixture
def cached_boards():
    """The keys of the boards stored in the cache during the test."""
    keys: list[str] = []
    store = cache.set

    def set_and_record(key, *args, **kwargs):
        if key.startswith("leaderboard:board:"):
            keys.append(key)
        return store(key, *args, **kwargs)

    with mock.patch.object(views.cache, "set", side_effect=set_and_record):
        yield keys


def test_a_bad_parameter_is_refused_each_time_and_never_cached(client, rated_arena, cached_boards):
    for _ in range(2):
        response = client.get(INDEX, {"dimension": "nonsense"})
        assert response.status_code == 400
        assert "dimension" in response.content.decode()
    assert cached_boards == []


def test_spellings_of_one_board_share_its_cache_entry(client, rated_arena, cached_boards):
    page_of(client, {"dimension": "helpfulness"})
    page_of(client, {"dimension": "helpfulness", "sort": "rank", "unknown": "x"})

    assert len(set(cached_boards)) == 1


@pytest.mark.parametrize("params", [{"min_votes": "7"}, {"min_votes": "007"}, {"run": "shown"}])
def test_boards_with_free_valued_parameters_are_rendered_each_time_not_cached(
    client, rated_arena, params, cached_boards
):
    """Their values are countless: cached, anyone could fill the shared cache with variants."""
    if params.get("run") == "shown":
        params = {"run": str(rated_arena.run.pk)}  # a run named in the link, as older runs are
    page_of(client, params)
    with mock.patch.object(selectors, "board_get", wraps=selectors.board_get) as built:
        page_of(client, params)

    assert built.call_count == 1
    assert cached_boards == []


@pytest.mark.parametrize("first_viewer", ["anonymous", "staff"])
def test_a_shared_board_never_carries_another_viewers_nav(first_viewer, rated_arena, staff):
    anonymous, signed_in = Client(), Client()
    signed_in.force_login(staff)
    viewers = {"anonymous": anonymous, "staff": signed_in}
    order = [first_viewer, "staff" if first_viewer == "anonymous" else "anonymous"]

    pages = {name: page_of(viewers[name]) for name in order}

    assert board_of(pages["anonymous"]) == board_of(pages["staff"])
    assert f"Sign out ({staff.username})" in pages["staff"]
    assert 'data-testid="recompute"' in pages["staff"]
    assert "Sign out" not in pages["anonymous"]
    assert 'data-testid="recompute"' not in pages["anonymous"]
    assert "csrfmiddlewaretoken" not in board_of(pages["staff"])


def test_a_repeated_page_reads_the_database_once(client, rated_arena, django_assert_num_queries):
    """Everything the cached board's key and the status box need comes from one statement
    (`leaderboard.board_state`); the board itself from the cache. Ten queries before."""
    page_of(client)
    with django_assert_num_queries(1):
        page_of(client)


def test_a_repeated_request_finds_its_board_without_parsing_the_query(client, rated_arena):
    page_of(client, {"dimension": "helpfulness", "sort": "-votes"})
    with mock.patch.object(views, "board_query_parse", side_effect=AssertionError("query parsed again")):
        again = page_of(client, {"sort": "-votes", "dimension": "helpfulness"})
        fragment = page_of(client, {"dimension": "helpfulness", "sort": "-votes"}, HX_Request="true")

    assert 'aria-current="page" data-dimension="helpfulness"' in again
    assert board_of(again).startswith(fragment.strip())


def test_the_filter_forms_empty_fields_do_not_stop_a_repeated_request_finding_its_board(client, rated_arena):
    """The filter form sends `category`, `min_votes`, `run` and `since` on every request, empty when unset."""
    form = {
        "dimension": "helpfulness",
        "category": "",
        "min_votes": "",
        "run": "",
        "since": "",
        "sort": "rank",
    }
    first = page_of(client, form)
    with mock.patch.object(views, "board_query_parse", side_effect=AssertionError("query parsed again")):
        again = page_of(client, form)
        shorter = page_of(client, {"dimension": "helpfulness", "sort": "rank"})

    assert board_of(again) == board_of(first) == board_of(shorter)


@pytest.mark.parametrize(
    "params",
    [
        {"category": "math"},
        {"dimension": "overall", "utm": "x"},
        {"dimension": "overall", "utm": ""},
    ],
)
def test_other_parameters_are_parsed_each_time(client, rated_arena, params):
    """A category is checked against the prompts, which the state does not name; an unknown parameter could
    take countless values."""
    page_of(client, params)
    with mock.patch.object(views, "board_query_parse", wraps=views.board_query_parse) as parsed:
        page_of(client, params)

    assert parsed.call_count == 1


def tab_order(page: str) -> list[str]:
    return re.findall(r'data-dimension="([^"]+)"', board_of(page))


# Staff changes the board shows: each must show on the very next GET, with the board cached before it.
STAFF_CHANGES = {
    "contender renamed": (
        lambda: Contender.objects.filter(slug="beta").update(name="Beta Renamed"),
        lambda page: "Beta Renamed" in board_of(page),
    ),
    "contender hidden": (
        lambda: Contender.objects.filter(slug="beta").update(status="hidden"),
        lambda page: (
            'data-contender="beta"' not in board_of(page) and 'data-contender="alpha"' in board_of(page)
        ),
    ),
    "contender's organization changed": (
        lambda: Contender.objects.filter(slug="beta").update(organization="Elsewhere Inc"),
        lambda page: "Elsewhere Inc" in board_of(page),
    ),
    "dimension renamed": (
        lambda: Dimension.objects.filter(slug="helpfulness").update(name="Usefulness"),
        lambda page: ">Usefulness" in board_of(page),
    ),
    "dimension retired": (
        lambda: Dimension.objects.filter(slug="helpfulness").update(is_active=False),
        lambda page: "helpfulness" not in tab_order(page),
    ),
    "dimensions reordered": (
        lambda: Dimension.objects.filter(slug="overall").update(position=99),
        lambda page: tab_order(page)[0] != "overall" and "overall" in tab_order(page),
    ),
    "source renamed": (
        lambda: Source.objects.filter(key="judge-gpt").update(name="Renamed judge"),
        lambda page: "Renamed judge" in board_of(page),
    ),
}


@pytest.mark.parametrize("change", sorted(STAFF_CHANGES))
def test_a_staff_change_to_what_the_board_shows_is_shown_at_once(client, rated_arena, change):
    make, shown = STAFF_CHANGES[change]
    before = page_of(client)
    page_of(client)  # served from the cache (and by its parameters as written)
    assert not shown(before), "the change is already visible before it is made: the check proves nothing"

    make()

    assert shown(page_of(client))
    assert shown(page_of(client, HX_Request="true"))


def test_a_started_recompute_shows_on_the_cached_board_at_once(client, rated_arena):
    page_of(client)
    RecomputeRun.objects.create(trigger="test", status=RecomputeRun.Status.RUNNING)

    assert "a recompute is running" in board_of(page_of(client))
