"""The vote pages through Django's test client: blind before the vote, revealed after, htmx fragments, errors."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from arena.models import Assignment, Battle, Contender, Dimension, Output, Verdict
from arena.services.battles import people_source
from arena.voting.identity import SESSION_VOTER
from tests.support import factories

HX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture(autouse=True)
def _limits(settings):
    factories.fresh_rate_limits(settings)


def _battle_page(client, task, **extra):
    return client.get(reverse("voting:task", args=[task.slug]) + "?start=1", **extra)


def _token(response) -> str:
    return re.search(r'/vote/b/([A-Za-z0-9_-]+)/"', response.content.decode()).group(1)


def test_the_entry_point_goes_to_the_only_open_task(voter_client, voting_task):
    response = voter_client.get(reverse("voting:vote"))
    assert response.status_code == 302 and response["Location"] == reverse(
        "voting:task", args=[voting_task.slug]
    )


def test_first_visit_shows_the_guidelines_and_the_keys(voter_client, voting_task):
    response = voter_client.get(reverse("voting:task", args=[voting_task.slug]))
    html = response.content.decode()
    assert "Prefer <strong>correct</strong> answers." in html and 'id="start-voting"' in html
    assert "<kbd>S</kbd>" in html and not Assignment.objects.exists()


def test_the_battle_page_hides_which_models_and_battle_it_shows(voter_client, voting_task):
    html = _battle_page(voter_client, voting_task).content.decode()
    assignment = Assignment.objects.get()
    battle = assignment.battle
    for contender in Contender.objects.all():
        assert contender.name not in html and contender.slug not in html
    assert f"/{battle.pk}/" not in html and f'"{battle.pk}"' not in html
    assert assignment.token in html
    assert re.search(r"Answer \d from a model", html) and "A is better" in html and "<kbd>1</kbd>" in html


def test_a_vote_reveals_the_models_and_disables_the_buttons(voter_client, voting_task, voter):
    token = _token(_battle_page(voter_client, voting_task))
    response = voter_client.post(reverse("voting:submit", args=[token]), {"overall": "left"}, **HX)
    assert response.status_code == 200
    html = response.content.decode()
    assignment = Assignment.objects.get()
    left = assignment.battle.contender_a if assignment.left_is_a else assignment.battle.contender_b
    assert f'data-testid="reveal-left">{left.name}<' in html and 'hx-swap-oob="true"' in html
    assert html.count("disabled") == 4 and 'id="next-battle"' in html
    assert Verdict.objects.get().voter_key == f"u:{voter.pk}"


def test_a_double_submit_returns_the_same_response_and_stores_one_vote(voter_client, voting_task):
    token = _token(_battle_page(voter_client, voting_task))
    url = reverse("voting:submit", args=[token])
    first = voter_client.post(url, {"overall": "tie"}, **HX)
    second = voter_client.post(url, {"overall": "left"}, **HX)
    assert first.content == second.content and Verdict.objects.count() == 1


def test_a_vote_without_htmx_renders_the_whole_page_revealed(voter_client, voting_task):
    token = _token(_battle_page(voter_client, voting_task))
    response = voter_client.post(reverse("voting:submit", args=[token]), {"overall": "right"})
    assert (
        response.status_code == 200
        and b'data-testid="revealed"' in response.content
        and b"<html" in response.content
    )


def test_next_battle_via_htmx_is_a_fragment_with_progress(voter_client, voting_task):
    token = _token(_battle_page(voter_client, voting_task))
    voter_client.post(reverse("voting:submit", args=[token]), {"overall": "right"}, **HX)
    response = _battle_page(voter_client, voting_task, **HX)
    html = response.content.decode()
    assert not html.lstrip().startswith("<!doctype") and html.lstrip().startswith('<section id="battle"')
    assert 'data-testid="today">1<' in html and 'data-testid="total">1<' in html
    assert _token(response) != token


def test_a_replay_from_another_user_is_refused_with_a_clear_message(
    voter_client, client, voting_task, django_user_model
):
    token = _token(_battle_page(voter_client, voting_task))
    voter_client.logout()
    client.force_login(factories.make_annotator_user("mallory"))
    response = client.post(reverse("voting:submit", args=[token]), {"overall": "left"}, **HX)
    assert response.status_code == 403 and "served to someone else" in response.content.decode()
    assert not Verdict.objects.exists()


def test_a_replay_from_another_session_is_refused(client, voting_task, settings):
    settings.ARENA_ANONYMOUS_VOTING = True
    token = _token(_battle_page(client, voting_task))
    client.cookies.clear()
    _battle_page(client, voting_task)  # a fresh session with its own voter id
    response = client.post(reverse("voting:submit", args=[token]), {"overall": "left"}, **HX)
    assert response.status_code == 403 and "served to someone else" in response.content.decode()
    assert not Verdict.objects.exists()


@pytest.mark.parametrize(
    ("post", "status", "message"),
    [
        ({}, 400, "Choose the overall verdict"),
        ({"overall": "sideways"}, 400, "Unknown choice 'sideways'"),
        ({"overall": "left", "dim-harmlessness": "left"}, 400, "asks for no dimension harmlessness"),
    ],
)
def test_bad_input_gets_a_clear_4xx_and_stores_nothing(voter_client, voting_task, post, status, message):
    token = _token(_battle_page(voter_client, voting_task))
    response = voter_client.post(reverse("voting:submit", args=[token]), post, **HX)
    assert response.status_code == status and message in response.content.decode()
    assert not Verdict.objects.exists() and Assignment.objects.get().state == "served"


def test_an_unknown_or_closed_task_is_a_404_and_serves_nothing(voter_client, voting_task):
    assert voter_client.get(reverse("voting:task", args=["no-such-task"]) + "?start=1").status_code == 404
    voting_task.is_active = False
    voting_task.save(update_fields=["is_active"])
    assert voter_client.get(reverse("voting:task", args=[voting_task.slug]) + "?start=1").status_code == 404
    assert not Assignment.objects.exists()
    voting_task.is_active = True
    voting_task.save(update_fields=["is_active"])
    response = voter_client.get(reverse("voting:task", args=[voting_task.slug]) + "?start=1")
    assert response.status_code == 200 and Assignment.objects.filter(task=voting_task).count() == 1


def test_an_unknown_token_is_a_404_page(voter_client, voting_task):
    response = voter_client.post(reverse("voting:submit", args=["forged-token"]), {"overall": "left"})
    assert response.status_code == 404 and b"Unknown battle" in response.content


def test_anonymous_voting_off_means_sign_in_first(client, voting_task):
    page = client.get(reverse("voting:task", args=[voting_task.slug]) + "?start=1")
    assert page.status_code == 302 and page["Location"].startswith(reverse("login"))
    htmx = client.get(reverse("voting:task", args=[voting_task.slug]), **HX)
    assert htmx.status_code == 200 and htmx["HX-Redirect"].startswith(reverse("login"))
    vote = client.post(reverse("voting:submit", args=["whatever"]), {"overall": "left"})
    assert vote.status_code == 403 and b"Sign in to vote" in vote.content
    assert not Assignment.objects.exists()


def test_anonymous_voting_on_counts_the_session_as_the_voter(client, voting_task, settings):
    settings.ARENA_ANONYMOUS_VOTING = True
    token = _token(_battle_page(client, voting_task))
    response = client.post(reverse("voting:submit", args=[token]), {"overall": "both_bad"}, **HX)
    verdict = Verdict.objects.get()
    assert response.status_code == 200 and verdict.user is None
    assert re.fullmatch(r"s:[0-9a-f]{40}", verdict.voter_key)
    assert client.session[SESSION_VOTER] not in verdict.voter_key  # only a hash of the session's voter id


def test_a_skip_serves_the_next_battle_and_is_no_vote(voter_client, voting_task):
    token = _token(_battle_page(voter_client, voting_task))
    response = voter_client.post(reverse("voting:skip", args=[token]), **HX)
    assert response.status_code == 200 and _token(response) != token
    assert not Verdict.objects.exists()
    assert list(Assignment.objects.order_by("pk").values_list("state", flat=True)) == ["skipped", "served"]


def test_votes_over_the_rate_limit_get_429_and_store_nothing(voter_client, voting_task, settings):
    factories.fresh_rate_limits(settings, per_voter=2)
    for _ in range(2):
        token = _token(_battle_page(voter_client, voting_task))
        assert (
            voter_client.post(reverse("voting:submit", args=[token]), {"overall": "left"}, **HX).status_code
            == 200
        )
    token = _token(_battle_page(voter_client, voting_task))
    response = voter_client.post(reverse("voting:submit", args=[token]), {"overall": "left"}, **HX)
    assert response.status_code == 429 and int(response["Retry-After"]) > 0
    assert "Too many votes from this account: at most 2 a minute" in response.content.decode()
    assert Verdict.objects.count() == 2 and Assignment.objects.get(token=token).state == "served"


def test_the_ip_limit_applies_across_accounts(client, voting_task, settings):
    factories.fresh_rate_limits(settings, per_ip=1)
    ip = {"REMOTE_ADDR": "203.0.113.7"}
    client.force_login(factories.make_annotator_user("one"))
    _battle_page(client, voting_task, **ip)
    _battle_page(client, voting_task, **ip)  # serving has twice the vote budget
    client.force_login(factories.make_annotator_user("two"))
    response = _battle_page(client, voting_task, **ip, **HX)
    assert response.status_code == 429 and "from your network address" in response.content.decode()
    assert Assignment.objects.count() == 1


def test_the_vote_hot_path_is_lean(voter_client, voting_task):
    people_source()  # as in any arena where someone voted: the first vote ever creates the row
    token = _token(_battle_page(voter_client, voting_task))
    Assignment.objects.update(min_read_ms=0)  # no flag row to write: the common case
    with CaptureQueriesContext(connection) as queries:
        response = voter_client.post(reverse("voting:submit", args=[token]), {"overall": "left"}, **HX)
    assert response.status_code == 200
    statements = [q["sql"] for q in queries.captured_queries if "SAVEPOINT" not in q["sql"]]
    # the user (the session comes from the cache), the assignment locked with everything the vote needs
    # (the people's source and the overall dimension included), one INSERT … ON CONFLICT for the verdict,
    # the assignment and annotator updates (one statement on PostgreSQL, two on SQLite).
    assert len(statements) <= (4 if connection.vendor == "postgresql" else 5), "\n".join(
        sql[:120] for sql in statements
    )
    assert sum("INSERT INTO" in sql for sql in statements) == 1
    # + the vote's own transaction (a savepoint inside the test's transaction; BEGIN/COMMIT in production)
    assert len(queries) <= 7, "\n".join(q["sql"][:120] for q in queries.captured_queries)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="data-modifying CTEs: PostgreSQL only")
def test_a_flagged_vote_closes_the_assignment_and_writes_its_flag_in_one_statement(voter_client, voting_task):
    people_source()
    token = _token(_battle_page(voter_client, voting_task))  # voted at once: too fast, so flagged
    with CaptureQueriesContext(connection) as queries:
        response = voter_client.post(reverse("voting:submit", args=[token]), {"overall": "left"}, **HX)
    assert response.status_code == 200
    writes = [
        q["sql"]
        for q in queries.captured_queries
        if q["sql"].lstrip().startswith(("UPDATE", "INSERT", "WITH"))
    ]
    closing = [sql for sql in writes if "arena_voteflag" in sql]
    assert (
        len(closing) == 1
        and "UPDATE arena_assignment" in closing[0]
        and "UPDATE arena_annotator" in closing[0]
        and "INSERT INTO arena_verdict" in closing[0]  # the ledger's statement, as one more CTE
    )
    assert len(writes) == 1, writes
    assert Verdict.objects.filter(battle__vote_assignments__token=token).count() == 1
    assignment = Assignment.objects.get(token=token)
    assert assignment.state == "voted" and assignment.flagged
    assert [flag.kind for flag in assignment.flags.all()] == ["too_fast"]
    assert assignment.annotator.streak == 1 and assignment.annotator.last_choice == "left"


def test_a_vote_with_an_optional_row_reads_the_dimensions_once_and_names_them(voter_client, voting_task):
    people_source()
    voting_task.prompt_set.vote_dimensions.set(Dimension.objects.filter(slug__in=["correctness", "clarity"]))
    token = _token(_battle_page(voter_client, voting_task))
    with CaptureQueriesContext(connection) as queries:
        response = voter_client.post(
            reverse("voting:submit", args=[token]), {"overall": "left", "dim-correctness": "right"}, **HX
        )
    assert response.status_code == 200
    # The rows offered (checked against the ballot) carry the names the reveal shows: no second statement.
    named = [
        q["sql"]
        for q in queries.captured_queries
        if re.match(r"\s*SELECT (d\.id AS d_id|slug, name FROM arena_dimension)", q["sql"])
    ]
    assert len(named) == 1, named
    assert Dimension.objects.get(slug="correctness").name in response.content.decode()


def test_the_vote_count_does_not_grow_the_query_count(voter_client, voting_task):
    """Queries per vote stay flat as votes accumulate (no scans over history in the hot path)."""
    people_source()  # as in any arena where someone voted: the first vote ever creates the row
    counts = []
    for _ in range(3):
        token = _token(_battle_page(voter_client, voting_task))
        with CaptureQueriesContext(connection) as queries:
            voter_client.post(reverse("voting:submit", args=[token]), {"overall": "tie"}, **HX)
        counts.append(len(queries))
    assert len(set(counts)) == 1
    assert Battle.objects.count() >= 3 and Output.objects.exists()


def test_a_vote_without_the_csrf_token_is_refused_and_stores_nothing(voting_task, voter):
    from django.test import Client

    browser = Client(enforce_csrf_checks=True)
    browser.force_login(voter)
    token = _token(_battle_page(browser, voting_task))
    response = browser.post(reverse("voting:submit", args=[token]), {"overall": "left"}, **HX)
    assert response.status_code == 403 and not Verdict.objects.exists()
