"""Live battles started at the same moment at a limit: the limit holds (each start counts and stores in turn)."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from arena.errors import DomainError
from live.models import LiveBattle
from live.services.battles import live_battle_start
from tests.live.conftest import make_live_contenders
from tests.support import factories

pytestmark = pytest.mark.django_db(transaction=True)

STARTS = 8


def _start_together(voters: list) -> list[str]:
    """Start one battle per voter, all released at once from their own threads (own connections); what each
    start ended with: "started" or the refusal's message."""
    barrier = threading.Barrier(len(voters))
    outcomes: list[str] = [""] * len(voters)

    def start(i: int) -> None:
        try:
            barrier.wait()
            live_battle_start(voter=voters[i], text=f"Question {i}?")
            outcomes[i] = "started"
        except DomainError as exc:
            outcomes[i] = exc.message
        finally:
            connection.close()

    threads = [threading.Thread(target=start, args=(i,)) for i in range(len(voters))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


@pytest.fixture
def contenders(db, settings):
    factories.fresh_rate_limits(settings)
    return make_live_contenders("http://127.0.0.1:9/v1")


def test_simultaneous_starts_of_one_person_stop_at_the_daily_limit(contenders, settings):
    settings.ARENA_LIVE_BATTLES_PER_USER_PER_DAY = 3
    voter = factories.voter_of(factories.make_user("eager"))
    outcomes = _start_together([voter] * STARTS)
    assert outcomes.count("started") == 3
    assert all("daily limit" in outcome for outcome in outcomes if outcome != "started")
    assert LiveBattle.objects.filter(voter_key=voter.key).count() == 3


def test_simultaneous_starts_of_many_people_stop_at_the_hourly_limit_of_the_models(contenders, settings):
    settings.ARENA_LIVE_BATTLES_PER_MODEL_PER_HOUR = 2  # two models: every battle draws both
    voters = [factories.voter_of(factories.make_user(f"person-{i}")) for i in range(STARTS)]
    outcomes = _start_together(voters)
    assert outcomes.count("started") == 2
    assert all("hourly limit" in outcome for outcome in outcomes if outcome != "started")
    assert LiveBattle.objects.count() == 2
