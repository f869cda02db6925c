"""Staff relabel live prompts (category "live" by default) in the admin's prompt list; the next recompute ranks
those battles under the new category."""

from __future__ import annotations

import pytest

from arena.models import Prompt
from arena.voting import Ballot
from live.models import LiveBattle
from live.services.battles import live_battle_start, live_stream_finish
from live.services.recording import live_vote_record
from tests.live.conftest import signed_in_client
from tests.support import factories

pytestmark = pytest.mark.django_db


def _voted_live_battles(n: int) -> list[Prompt]:
    for number in range(n):
        voter = factories.voter_of(factories.make_user(f"voter-{number}"))
        battle = live_battle_start(voter=voter, text=f"Write a function number {number}")
        LiveBattle.objects.filter(pk=battle.pk).update(state=LiveBattle.State.STREAMING)
        battle.refresh_from_db()
        live_stream_finish(battle=battle, reply_a="def a(): ...", reply_b="def b(): ...")
        live_vote_record(token=battle.token, voter=voter, ballot=Ballot(["left", "right"][number % 2]))
    return list(Prompt.objects.filter(category="live").order_by("pk"))


def _changelist_post(client, prompts: list[Prompt], categories: list[str]):
    data = {"form-TOTAL_FORMS": str(len(prompts)), "form-INITIAL_FORMS": str(len(prompts)), "_save": "Save"}
    for index, (prompt, category) in enumerate(zip(prompts, categories, strict=True)):
        data[f"form-{index}-id"] = str(prompt.pk)
        data[f"form-{index}-category"] = category
    return client.post("/admin/arena/prompt/?category__exact=live", data)


def test_staff_relabel_moves_live_battles_to_their_category_board(live_arena, settings):
    from leaderboard.models import Snapshot
    from leaderboard.services.recompute import leaderboards_recompute

    settings.LEADERBOARD_MIN_VERDICTS, settings.LEADERBOARD_BOOTSTRAP_ROUNDS = 3, 5
    prompts = _voted_live_battles(6)
    staff = signed_in_client(factories.make_user("editor", is_staff=True, is_superuser=True))
    response = _changelist_post(staff, prompts, ["coding"] * 4 + ["live"] * 2)
    assert response.status_code == 302, response.content.decode()[:2000]
    assert sorted(Prompt.objects.values_list("category", flat=True)) == ["coding"] * 4 + ["live"] * 2

    leaderboards_recompute(trigger="test")
    coding = Snapshot.objects.get(source_key="people", dimension__slug="overall", category="coding")
    live = Snapshot.objects.get(source_key="people", dimension__slug="overall", category="live")
    assert (coding.n_verdicts, live.n_verdicts) == (4, 2)


def test_people_who_are_not_staff_cannot_relabel(live_arena):
    prompts = _voted_live_battles(2)
    person = signed_in_client(factories.make_user("person"))
    response = _changelist_post(person, prompts, ["coding", "coding"])
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    assert list(Prompt.objects.values_list("category", flat=True)) == ["live", "live"]
