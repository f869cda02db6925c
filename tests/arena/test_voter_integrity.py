"""Voter integrity: nobody is served (or counted on) their own or their organization's contenders; votes from
accounts younger than ARENA_VOTE_MIN_ACCOUNT_AGE are kept out of ratings; sign-up and sign-in are throttled
per address and per account (429 with Retry-After, a lockout after repeated failures)."""

from __future__ import annotations

import itertools
import uuid
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from arena.models import Annotator, Assignment, Contender, Verdict
from arena.voting.ballots import Ballot
from arena.voting.identity import annotator_for
from arena.voting.recording import vote_record
from tests.support import factories

pytestmark = pytest.mark.django_db
_ip_counter = itertools.count(1)


@pytest.fixture(autouse=True)
def _limits(settings):
    factories.fresh_rate_limits(settings)


def _fresh_ip() -> str:
    """Throttle counters live in Redis for the whole run: each test gets its own client address."""
    return f"198.51.{uuid.uuid4().int % 250}.{next(_ip_counter) % 250 + 1}"


def _served_contenders(task, user) -> set[str]:
    seen = set()
    while (assignment := factories.serve_to(task, user)) is not None:
        seen |= {assignment.battle.contender_a.slug, assignment.battle.contender_b.slug}
        Assignment.objects.filter(pk=assignment.pk).update(state="skipped", answered_at=assignment.served_at)
    return seen


def test_a_submitter_is_never_served_battles_of_their_own_contender(db):
    task, contenders = factories.make_voting_arena(n_contenders=3, n_prompts=2)
    submitter, other = factories.make_annotator_user("submitter"), factories.make_annotator_user("other")
    Contender.objects.filter(pk=contenders[0].pk).update(submitted_by=submitter)

    assert _served_contenders(task, submitter) == {"model-2", "model-3"}
    assert _served_contenders(task, other) == {"model-1", "model-2", "model-3"}


def test_nobody_is_served_their_organizations_contenders(db):
    task, contenders = factories.make_voting_arena(n_contenders=3, n_prompts=1)
    Contender.objects.filter(pk=contenders[1].pk).update(organization="Acme Labs")
    employee = factories.make_annotator_user("employee")
    annotator = annotator_for(factories.voter_of(employee))
    Annotator.objects.filter(pk=annotator.pk).update(organization="acme labs")  # any case

    assert _served_contenders(task, employee) == {"model-1", "model-3"}


def test_a_vote_on_an_own_contender_served_before_it_was_theirs_is_kept_out_of_ratings(db):
    task, contenders = factories.make_voting_arena(n_contenders=2, n_prompts=1)
    voter = factories.make_annotator_user("late-submitter")
    assignment = factories.serve_to(task, voter)
    Contender.objects.filter(pk=contenders[0].pk).update(submitted_by=voter)

    vote_record(token=assignment.token, voter=factories.voter_of(voter), ballot=Ballot("left"))

    verdicts = Verdict.objects.filter(voter_key=f"u:{voter.pk}")
    assert verdicts.count() == 1 and verdicts.get().excluded is True


@pytest.mark.parametrize(("age", "counted"), [(timedelta(minutes=10), False), (timedelta(days=2), True)])
def test_votes_count_only_from_accounts_older_than_the_minimum_age(db, settings, age, counted):
    settings.ARENA_VOTE_MIN_ACCOUNT_AGE = 24 * 3600
    task, _ = factories.make_voting_arena(n_contenders=2, n_prompts=1)
    voter = factories.make_annotator_user("voter")
    get_user_model().objects.filter(pk=voter.pk).update(date_joined=timezone.now() - age)
    voter.refresh_from_db()
    assignment = factories.serve_to(task, voter)

    vote_record(token=assignment.token, voter=factories.voter_of(voter), ballot=Ballot("tie"))

    assert Verdict.objects.get(voter_key=f"u:{voter.pk}").excluded is (not counted)


def test_without_a_minimum_age_a_new_account_counts(db):
    task, _ = factories.make_voting_arena(n_contenders=2, n_prompts=1)
    voter = factories.make_annotator_user("newcomer")
    assignment = factories.serve_to(task, voter)
    vote_record(token=assignment.token, voter=factories.voter_of(voter), ballot=Ballot("tie"))
    assert Verdict.objects.get(voter_key=f"u:{voter.pk}").excluded is False


# --- sign-up and sign-in throttling ---------------------------------------------------------------------


def _signup(client, ip: str, username: str):
    form = {"username": username, "password1": factories.PASSWORD, "password2": factories.PASSWORD}
    return client.post("/accounts/signup/", form, REMOTE_ADDR=ip)


def test_sign_ups_are_throttled_per_address(client, db, settings):
    settings.ARENA_SIGNUP_PER_HOUR_IP = 2
    ip = _fresh_ip()
    for n in range(2):
        assert _signup(client, ip, f"new{n}-{ip}").status_code == 302
        client.logout()

    refused = _signup(client, ip, f"third-{ip}")

    assert refused.status_code == 429 and 0 < int(refused["Retry-After"]) <= 3600
    assert (
        "Too many accounts created from your network address: at most 2 an hour" in refused.content.decode()
    )
    assert not get_user_model().objects.filter(username=f"third-{ip}").exists()
    assert (
        _signup(client, _fresh_ip(), f"elsewhere-{ip}").status_code == 302
    )  # another address is not held up


def test_a_bad_sign_up_is_a_400_with_the_reason_and_creates_nothing(client, db):
    form = {"username": "x", "password1": factories.PASSWORD, "password2": "different"}
    response = client.post("/accounts/signup/", form, REMOTE_ADDR=_fresh_ip())
    assert response.status_code == 400 and "didn’t match" in response.content.decode()
    assert not get_user_model().objects.exists()


def _signin(client, ip: str, username: str, password: str):
    return client.post("/accounts/login/", {"username": username, "password": password}, REMOTE_ADDR=ip)


def test_repeated_wrong_passwords_lock_the_account_even_against_the_right_one(client, db, settings):
    settings.ARENA_SIGNIN_FAILURES_PER_ACCOUNT = 3
    settings.ARENA_SIGNIN_LOCKOUT_SECONDS = 600
    user = factories.make_user(f"victim-{uuid.uuid4().hex[:8]}")
    for _ in range(3):
        wrong = _signin(client, _fresh_ip(), user.username, "wrong-password")
        assert wrong.status_code == 400  # an ordinary failed sign-in, from a new address each time

    locked = _signin(client, _fresh_ip(), user.username, factories.PASSWORD)

    assert locked.status_code == 429 and 0 < int(locked["Retry-After"]) <= 600
    assert "Too many failed sign-ins for this account" in locked.content.decode()
    assert "_auth_user_id" not in client.session


def test_many_failures_from_one_address_lock_that_address(client, db, settings):
    settings.ARENA_SIGNIN_FAILURES_PER_IP = 4
    ip, user = _fresh_ip(), factories.make_user(f"someone-{uuid.uuid4().hex[:8]}")
    for n in range(4):
        assert _signin(client, ip, f"guess{n}", "pw").status_code == 400

    locked = _signin(client, ip, user.username, factories.PASSWORD)

    assert locked.status_code == 429 and int(locked["Retry-After"]) > 0
    assert "Too many failed sign-ins from your network address" in locked.content.decode()
    assert _signin(client, _fresh_ip(), user.username, factories.PASSWORD).status_code == 302


def test_a_successful_sign_in_clears_the_accounts_failures(client, db, settings):
    settings.ARENA_SIGNIN_FAILURES_PER_ACCOUNT = 3
    user = factories.make_user(f"forgetful-{uuid.uuid4().hex[:8]}")
    for _ in range(2):
        _signin(client, _fresh_ip(), user.username, "wrong")
    assert _signin(client, _fresh_ip(), user.username, factories.PASSWORD).status_code == 302
    client.logout()
    for _ in range(2):
        _signin(client, _fresh_ip(), user.username, "wrong")
    assert _signin(client, _fresh_ip(), user.username, factories.PASSWORD).status_code == 302


def test_throttling_lets_requests_through_when_the_cache_is_down(settings, caplog):
    # Sessions during a Redis outage are i9c's fault tests; here only the throttle itself: it must not refuse.
    from arena import throttling

    settings.CACHES = {"default": {"BACKEND": "arena.cache.RedisCache", "LOCATION": "redis://127.0.0.1:1/0"}}
    settings.ARENA_SIGNIN_FAILURES_PER_ACCOUNT = 1
    throttling.signin_failed(username="someone", ip="192.0.2.1")
    assert throttling.signin_check(username="someone", ip="192.0.2.1") is None
    assert throttling.signup_check(ip="192.0.2.1") is None
    assert "throttle cache unavailable" in caplog.text
