"""The leaderboard page's state in one statement (`leaderboard.board_state`): the same runs and recompute
state as the ORM reads, and a names digest that changes with every name the board prints, and only then."""

import pytest
from django.utils import timezone

from arena.models import Contender, Dimension, Source
from leaderboard.board_state import board_state_read, board_state_read_orm
from leaderboard.models import RecomputeRun, RecomputeState
from leaderboard.services.coalescing import recompute_request

READERS = {"one statement": board_state_read, "ORM": board_state_read_orm}


def seen(state) -> tuple:
    """What the page uses of a state, besides the digest."""
    running = state.running and (state.running.pk, state.running.started, state.running.n_boards,
                                 state.running.n_fitted)  # fmt: skip
    recompute = state.recompute and (state.recompute.holder, state.recompute.lease_until,
                                     state.recompute.queued_at)  # fmt: skip
    latest = state.latest and (state.latest.pk, state.latest.finished)
    return latest, running, recompute


def test_the_statement_reads_what_the_orm_reads(rated_arena):
    recompute_request(trigger="test")
    RecomputeRun.objects.create(trigger="test", status=RecomputeRun.Status.RUNNING, n_boards=9, n_fitted=4)
    RecomputeState.objects.filter(pk=1).update(holder="worker-1", lease_until=timezone.now())

    state = board_state_read()

    assert seen(state) == seen(board_state_read_orm())
    assert state.latest.pk == rated_arena.run.pk and state.running.n_fitted == 4
    assert state.recompute.holder == "worker-1" and state.recompute.queued_at is not None


def test_nothing_started_reads_as_nothing(db):
    assert seen(board_state_read()) == (None, None, None) == seen(board_state_read_orm())


CHANGES = {
    "contender renamed": lambda: Contender.objects.filter(slug="beta").update(name="B"),
    "contender hidden": lambda: Contender.objects.filter(slug="beta").update(status="hidden"),
    "pending contender approved": lambda: Contender.objects.filter(slug="omega").update(status="approved"),
    "contender's licence changed": lambda: Contender.objects.filter(slug="beta").update(license="GPL"),
    "dimension renamed": lambda: Dimension.objects.filter(slug="overall").update(name="All"),
    "dimension retired": lambda: Dimension.objects.filter(slug="overall").update(is_active=False),
    "dimensions reordered": lambda: Dimension.objects.filter(slug="overall").update(position=99),
    "source renamed": lambda: Source.objects.filter(key="judge-gpt").update(name="G"),
}


@pytest.mark.parametrize("reader", sorted(READERS))
@pytest.mark.parametrize("change", sorted(CHANGES))
def test_each_name_the_board_prints_changes_the_digest(rated_arena, reader, change):
    read = READERS[reader]
    before = read().names
    assert read().names == before  # stable while nothing changes

    CHANGES[change]()

    assert read().names != before


@pytest.mark.parametrize("reader", sorted(READERS))
def test_what_the_board_does_not_print_leaves_the_digest(rated_arena, reader):
    read = READERS[reader]
    before = read().names

    Contender.objects.filter(slug="beta").update(endpoint_url="http://127.0.0.1:1/v1")
    Contender.objects.filter(slug="omega").update(name="Pending, not shown")
    Dimension.objects.filter(slug="overall").update(rubric="Another rubric")

    assert read().names == before
