"""Claiming a battle's turn for its stream: one statement on PostgreSQL, the same battle as the ORM reads it."""

from __future__ import annotations

import pytest
from django.forms.models import model_to_dict

from live.models import LiveBattle
from live.services import battles
from live.services.battles import live_battle_start, live_stream_claim
from tests.live.conftest import LiveArena
from tests.support import factories

pytestmark = pytest.mark.django_db


def _started(live_arena: LiveArena) -> LiveBattle:
    return live_battle_start(voter=factories.voter_of(live_arena.user), text="Tell me **about** rivers?")


def _as_read(battle: LiveBattle) -> tuple[dict, dict, dict]:
    battle_fields = {f.attname: getattr(battle, f.attname) for f in LiveBattle._meta.concrete_fields}
    return battle_fields, model_to_dict(battle.contender_a), model_to_dict(battle.contender_b)


@pytest.mark.parametrize("claim", [battles._claim_returning, battles._claim_then_read])
def test_it_returns_the_claimed_battle_and_its_contenders_as_the_orm_reads_them(live_arena, claim):
    started = _started(live_arena)
    claimed = claim(token=started.token, voter_key=started.voter_key)
    assert claimed is not None and claimed.state == LiveBattle.State.STREAMING
    stored = LiveBattle.objects.select_related("contender_a", "contender_b").get(pk=started.pk)
    assert _as_read(claimed) == _as_read(stored)
    assert claimed.turns == ["Tell me **about** rivers?"]  # JSON, not its text
    assert claimed.contender_a.slug != claimed.contender_b.slug


@pytest.mark.parametrize("claim", [battles._claim_returning, battles._claim_then_read])
def test_it_claims_nothing_for_someone_else_nor_twice(live_arena, claim):
    started = _started(live_arena)
    assert claim(token=started.token, voter_key="u:somebody-else") is None
    assert LiveBattle.objects.get(pk=started.pk).state == LiveBattle.State.PENDING
    assert claim(token=started.token, voter_key=started.voter_key) is not None
    assert claim(token=started.token, voter_key=started.voter_key) is None


def test_a_refused_claim_says_why(live_arena):
    from arena.errors import Forbidden, NotFound

    started = _started(live_arena)
    intruder = factories.voter_of(factories.make_user("intruder"))
    with pytest.raises(Forbidden):
        live_stream_claim(token=started.token, voter=intruder)
    with pytest.raises(NotFound):
        live_stream_claim(token="no-such-token", voter=factories.voter_of(live_arena.user))
    assert LiveBattle.objects.get(pk=started.pk).state == LiveBattle.State.PENDING
