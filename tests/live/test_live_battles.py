"""Live battles without the stream: starting (limits, moderation, drawing), follow-ups, the vote and what it
stores, and bad input that changes nothing."""

from __future__ import annotations

import html
from datetime import timedelta

import pytest
from django.utils import timezone

from arena.error_responses import status_for
from arena.errors import DomainError
from arena.models import Battle, Output, Prompt, Verdict
from arena.voting import Ballot
from live.models import LiveBattle, ModerationRecord
from live.moderation import Decision
from live.services.battles import live_battle_start, live_regenerate, live_stream_finish, live_turn_add
from live.services.recording import live_vote_record
from tests.live.conftest import make_live_contenders, signed_in_client
from tests.support import factories

pytestmark = pytest.mark.django_db


def refuse_the_word_forbidden(text: str, *, voter_key: str) -> Decision:
    if "forbidden" in text.lower():
        return Decision(allowed=False, reason="the word 'forbidden' is not allowed here")
    return Decision(allowed=True)


def _answered(battle: LiveBattle, a: str = "Answer from A.", b: str = "Answer from B.") -> LiveBattle:
    LiveBattle.objects.filter(pk=battle.pk).update(state=LiveBattle.State.STREAMING)
    battle.refresh_from_db()
    return live_stream_finish(battle=battle, reply_a=a, reply_b=b)


def test_a_battle_is_drawn_between_two_approved_contenders_with_endpoints(live_arena):
    factories.make_contender("no-endpoint")  # approved, but nothing to call
    factories.make_contender("pending-one", status="pending", endpoint_url="http://x/v1", endpoint_model="m")
    battle = live_battle_start(voter=factories.voter_of(live_arena.user), text="  Hello there  ")
    assert {battle.contender_a, battle.contender_b} == set(live_arena.contenders)
    assert battle.turns == ["Hello there"]
    assert battle.state == LiveBattle.State.PENDING
    assert ModerationRecord.objects.get().allowed is True  # the default hook refuses nothing but records


def test_ones_own_contenders_are_never_drawn(live_arena, stub):
    mine = make_live_contenders(stub.base_url, n=1, first=2)[0]
    mine.submitted_by = live_arena.user
    mine.save()
    for _ in range(10):
        battle = live_battle_start(voter=factories.voter_of(live_arena.user), text="Hi")
        assert mine not in (battle.contender_a, battle.contender_b)


def test_the_pair_priority_hook_of_voting_chooses_the_pair(live_arena, stub, settings):
    extra = factories.make_contender("live-model-9", endpoint_url=stub.base_url, endpoint_model="stub-9")
    settings.ARENA_VOTE_PAIR_PRIORITY = "tests.arena.test_voting_selection.prefer_the_last_two"
    battle = live_battle_start(voter=factories.voter_of(live_arena.user), text="Hi")
    assert {battle.contender_a, battle.contender_b} == {live_arena.contenders[1], extra}


@pytest.mark.parametrize(
    ("text", "message"),
    [("   ", "the box is empty"), ("x" * 41, "has 41 characters; this arena takes at most 40")],
)
def test_an_empty_or_too_long_message_is_refused_and_nothing_is_stored(live_arena, settings, text, message):
    settings.ARENA_LIVE_MAX_PROMPT_CHARS = 40
    with pytest.raises(DomainError, match=message) as caught:
        live_battle_start(voter=factories.voter_of(live_arena.user), text=text)
    assert status_for(caught.value) == 400
    assert not LiveBattle.objects.exists() and not ModerationRecord.objects.exists()


def test_the_moderation_hook_refuses_and_the_refusal_is_recorded(live_arena, settings):
    settings.ARENA_LIVE_MODERATION = "tests.live.test_live_battles.refuse_the_word_forbidden"
    with pytest.raises(DomainError, match="refused by the arena's moderation: the word 'forbidden'"):
        live_battle_start(voter=factories.voter_of(live_arena.user), text="Something forbidden")
    assert not LiveBattle.objects.exists()
    record = ModerationRecord.objects.get()
    assert (record.allowed, record.text) == (False, "Something forbidden")


def test_the_daily_limit_per_person_refuses_a_new_battle(live_arena, settings):
    settings.ARENA_LIVE_BATTLES_PER_USER_PER_DAY = 2
    voter = factories.voter_of(live_arena.user)
    first = live_battle_start(voter=voter, text="one")
    live_battle_start(voter=voter, text="two")
    with pytest.raises(DomainError, match="daily limit") as caught:
        live_battle_start(voter=voter, text="three")
    assert status_for(caught.value) == 429
    assert LiveBattle.objects.count() == 2
    LiveBattle.objects.filter(pk=first.pk).update(created=timezone.now() - timedelta(days=1, minutes=1))
    live_battle_start(voter=voter, text="a day later")  # the window moves on


def test_the_hourly_limit_per_model_takes_busy_models_out_of_the_draw(live_arena, settings, stub):
    settings.ARENA_LIVE_BATTLES_PER_MODEL_PER_HOUR = 1
    live_battle_start(voter=factories.voter_of(live_arena.user), text="one")
    with pytest.raises(DomainError, match="hourly limit") as caught:
        live_battle_start(voter=factories.voter_of(factories.make_user("second")), text="two")
    assert status_for(caught.value) == 429
    assert LiveBattle.objects.count() == 1


def test_without_two_models_with_endpoints_the_arena_says_what_staff_must_do(db):
    factories.make_contender("lonely", endpoint_url="http://127.0.0.1:9/v1", endpoint_model="m")
    with pytest.raises(DomainError, match="need two approved models with endpoints") as caught:
        live_battle_start(voter=factories.voter_of(factories.make_user("u")), text="Hi")
    assert status_for(caught.value) == 409


def test_follow_ups_and_regenerations_share_the_turn_limit(live_arena, settings):
    settings.ARENA_LIVE_MAX_TURNS = 3
    voter = factories.voter_of(live_arena.user)
    battle = _answered(live_battle_start(voter=voter, text="First"))
    with pytest.raises(DomainError, match="Wait for both answers"):
        live_turn_add(token=live_battle_start(voter=voter, text="other").token, voter=voter, text="too soon")
    battle = live_turn_add(token=battle.token, voter=voter, text="Second")
    assert (battle.turns, battle.state) == (["First", "Second"], LiveBattle.State.PENDING)
    battle = _answered(battle, "A2", "B2")
    assert (battle.replies_a, battle.replies_b) == (["Answer from A.", "A2"], ["Answer from B.", "B2"])
    battle = live_regenerate(token=battle.token, voter=voter)
    assert battle.replies_a == ["Answer from A."] and battle.regenerations == 1
    battle = _answered(battle, "A2 again", "B2 again")
    with pytest.raises(DomainError, match="used its 3 turns") as caught:
        live_turn_add(token=battle.token, voter=voter, text="Fourth")
    assert status_for(caught.value) == 409
    battle.refresh_from_db()
    assert battle.turns == ["First", "Second"]


def test_a_vote_stores_a_live_prompt_two_outputs_a_battle_and_counted_verdicts(live_arena):
    voter = factories.voter_of(live_arena.user)
    battle = live_battle_start(voter=voter, text="First question")
    battle = _answered(battle)
    battle = live_turn_add(token=battle.token, voter=voter, text="And a follow-up")
    battle = _answered(battle, "A second", "B second")
    reveal = live_vote_record(
        token=battle.token, voter=voter, ballot=Ballot("left", {"correctness": "right"})
    )
    assert reveal.counted is True
    a, b = battle.contender_a.name, battle.contender_b.name
    assert (reveal.left_name, reveal.right_name) == ((a, b) if battle.left_is_a else (b, a))
    prompt = Prompt.objects.get()
    assert (prompt.text, prompt.later_turns, prompt.category) == (
        "First question",
        ["And a follow-up"],
        "live",
    )
    assert prompt.prompt_set.slug == "live-battles"
    outputs = {o.contender_id: o for o in Output.objects.all()}
    assert outputs[battle.contender_a_id].replies == ["Answer from A.", "A second"]
    assert outputs[battle.contender_b_id].replies == ["Answer from B.", "B second"]
    stored = Battle.objects.get()
    verdicts = {v.dimension.slug: v for v in Verdict.objects.select_related("dimension")}
    left_outcome = "a" if battle.left_is_a else "b"
    assert verdicts["overall"].outcome == left_outcome
    assert verdicts["correctness"].outcome == ("b" if left_outcome == "a" else "a")
    assert all(not v.excluded and v.voter_key == voter.key for v in verdicts.values())
    assert all(v.battle_id == stored.pk for v in verdicts.values())
    battle.refresh_from_db()
    assert (battle.state, battle.battle_id) == (LiveBattle.State.VOTED, stored.pk)
    # A replay changes nothing and reveals the stored vote.
    again = live_vote_record(token=battle.token, voter=voter, ballot=Ballot("tie"))
    assert again.choice_label == "A is better" and Verdict.objects.count() == 2


def test_an_answer_naming_its_model_is_marked_and_its_vote_not_counted(live_arena):
    voter = factories.voter_of(live_arena.user)
    battle = live_battle_start(voter=voter, text="Who are you?")
    battle = _answered(battle, a="I am Claude, made by Anthropic.")
    assert "Claude" in battle.identity_leak
    reveal = live_vote_record(token=battle.token, voter=voter, ballot=Ballot("right"))
    assert reveal.counted is False
    assert Verdict.objects.get().excluded is True
    assert Output.objects.get(contender=battle.contender_a).identity_leak


@pytest.mark.parametrize(
    ("data", "message"),
    [({}, "Choose the overall verdict"), ({"overall": "maybe"}, "Unknown choice 'maybe'"),
     ({"overall": "left", "dim-nonsense": "left"}, "asks for no dimension nonsense")],
)  # fmt: skip
def test_a_bad_ballot_is_refused_with_its_reason_and_nothing_is_stored(live_arena, data, message):
    battle = _answered(live_battle_start(voter=factories.voter_of(live_arena.user), text="Q"))
    response = signed_in_client(live_arena.user).post(f"/arena/b/{battle.token}/vote/", data)
    assert response.status_code == 400
    assert message in html.unescape(response.content.decode())
    assert not Verdict.objects.exists() and not Prompt.objects.exists()
    battle.refresh_from_db()
    assert battle.state == LiveBattle.State.READY


def test_the_page_starts_a_battle_and_redirects_to_it(live_arena):
    client = signed_in_client(live_arena.user)
    assert "Battle" in client.get("/arena/").content.decode()
    response = client.post("/arena/start/", {"prompt": "Hello"})
    battle = LiveBattle.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/arena/b/{battle.token}/"
    page = client.get(response["Location"]).content.decode()
    assert 'data-state="pending"' in page and "Hello" in page
    assert battle.contender_a.name not in page and battle.contender_b.name not in page


def test_an_empty_prompt_on_the_page_gets_the_page_back_with_the_reason(live_arena):
    response = signed_in_client(live_arena.user).post("/arena/start/", {"prompt": ""})
    assert response.status_code == 400
    assert "the box is empty" in response.content.decode()
    assert not LiveBattle.objects.exists()


def test_anonymous_people_are_asked_to_sign_in_unless_the_arena_allows_anonymous_votes(
    live_arena, client, settings
):
    assert "to start a live battle" in client.get("/arena/").content.decode()
    response = client.post("/arena/start/", {"prompt": "Hi"})
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    assert not LiveBattle.objects.exists()
    settings.ARENA_ANONYMOUS_VOTING = True
    response = client.post("/arena/start/", {"prompt": "Hi"})
    assert response.status_code == 302
    assert LiveBattle.objects.get().voter_key.startswith("s:")


def test_someone_elses_battle_page_and_vote_are_refused(live_arena):
    battle = _answered(live_battle_start(voter=factories.voter_of(live_arena.user), text="Mine"))
    other = signed_in_client(factories.make_user("other"))
    assert other.get(f"/arena/b/{battle.token}/").status_code == 403
    response = other.post(f"/arena/b/{battle.token}/vote/", {"overall": "left"})
    assert response.status_code == 403 and "belongs to someone else" in response.content.decode()
    assert not Verdict.objects.exists()


def test_voted_live_battles_reach_the_leaderboard_in_category_live_ranked_not_incomplete(
    live_arena, stub, settings
):
    from leaderboard.models import Snapshot
    from leaderboard.services.recompute import leaderboards_recompute

    settings.LEADERBOARD_MIN_VERDICTS, settings.LEADERBOARD_BOOTSTRAP_ROUNDS = 3, 5
    make_live_contenders(stub.base_url, n=1, first=2)
    for number in range(12):
        voter = factories.voter_of(factories.make_user(f"voter-{number}"))
        battle = _answered(live_battle_start(voter=voter, text=f"Question {number}"))
        live_vote_record(token=battle.token, voter=voter, ballot=Ballot(["left", "right", "tie"][number % 3]))
    leaderboards_recompute(trigger="test")
    board = Snapshot.objects.get(source_key="people", dimension__slug="overall", category="live")
    assert board.status == Snapshot.Status.OK and board.n_verdicts == 12
    rows = list(board.rows.all())
    assert len(rows) == 3
    # Each live prompt has two answers only; coverage is not asked of the live set.
    assert all(row.prompts_total in (0, None) or row.prompts_answered == row.prompts_total for row in rows)
    everything = Snapshot.objects.get(source_key="people", dimension__slug="overall", category="")
    assert everything.n_verdicts == 12
