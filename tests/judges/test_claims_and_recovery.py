"""The claim protocol and the recovery sweep, row by row (the worker tests show them under SIGKILL)."""

from __future__ import annotations

import contextlib
import time
import uuid
from datetime import timedelta
from unittest import mock

import pytest
from django.test import override_settings
from django.utils import timezone

from judges.models import Campaign, FinalVerdict, Judgment, PaidCall, WorkStatus
from judges.services.judging import judgment_run
from judges.services.lifecycle import campaign_finish_if_done
from judges.services.progress import campaign_progress
from judges.services.reconcile import campaign_reconcile
from judges.services.work_protocol import work_claim, work_settle
from tests.judges.conftest import make_arena, make_judge, run_inline, start_campaign

pytestmark = pytest.mark.django_db


@pytest.fixture
def campaign(stub):
    prompt_set, contenders = make_arena(n_prompts=2, slugs=("alpha", "bravo"))
    make_judge("fair", base_url=stub.base_url)
    return start_campaign(prompt_set, contenders, "fair")


def test_a_claim_changes_exactly_one_row_once(campaign):
    judgment = Judgment.objects.filter(campaign=campaign).first()
    token = work_claim(Judgment, pk=judgment.pk, lease_s=30)
    assert token is not None
    assert work_claim(Judgment, pk=judgment.pk, lease_s=30) is None
    judgment.refresh_from_db()
    assert judgment.status == "running" and judgment.attempts == 1 and judgment.claim_token == token
    assert judgment.lease_until > timezone.now() + timedelta(seconds=25)


def test_a_worker_whose_lease_ran_out_cannot_overwrite_the_new_claim(
    campaign, django_capture_on_commit_callbacks
):
    judgment = Judgment.objects.filter(campaign=campaign).first()
    stale = work_claim(Judgment, pk=judgment.pk, lease_s=30)
    Judgment.objects.filter(pk=judgment.pk).update(lease_until=timezone.now() - timedelta(seconds=1))
    with django_capture_on_commit_callbacks() as queued:
        assert campaign_reconcile(campaign_id=campaign.pk).reclaimed == 1
    assert len(queued) == 1  # the reclaimed judgment is queued again, on commit
    fresh = work_claim(Judgment, pk=judgment.pk, lease_s=30)
    assert not work_settle(
        Judgment, pk=judgment.pk, token=stale, status=WorkStatus.DONE, verdicts={"overall": "A"}
    )
    assert work_settle(
        Judgment, pk=judgment.pk, token=fresh, status=WorkStatus.DONE, verdicts={"overall": "B"}
    )
    judgment.refresh_from_db()
    assert judgment.verdicts == {"overall": "B"} and judgment.attempts == 2


@override_settings(JUDGES_MAX_ATTEMPTS=2)
def test_a_row_that_keeps_losing_its_worker_fails_instead_of_looping(campaign):
    judgment = Judgment.objects.filter(campaign=campaign).first()
    Judgment.objects.filter(pk=judgment.pk).update(attempts=1)
    work_claim(Judgment, pk=judgment.pk, lease_s=30)
    Judgment.objects.filter(pk=judgment.pk).update(lease_until=timezone.now() - timedelta(seconds=1))
    campaign_reconcile(campaign_id=campaign.pk)
    judgment.refresh_from_db()
    assert judgment.status == "failed" and "worker was lost during each of 2 attempts" in judgment.error


@override_settings(JUDGES_REQUEUE_STALLED_SECONDS=60)
def test_pending_work_is_queued_again_only_once_the_campaign_has_stalled(
    campaign, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as queued:
        assert campaign_reconcile(campaign_id=campaign.pk).requeued == 0  # just started: messages are queued
    assert not queued
    long_ago = timezone.now() - timedelta(minutes=5)
    Campaign.objects.filter(pk=campaign.pk).update(created=long_ago)
    Judgment.objects.filter(campaign=campaign).update(enqueued_at=long_ago)
    with django_capture_on_commit_callbacks() as queued:
        assert campaign_reconcile(campaign_id=campaign.pk).requeued == 4
    assert len(queued) == 1
    assert campaign_reconcile(campaign_id=campaign.pk).requeued == 0  # not again until it stalls again


def test_the_sweep_settles_a_battle_whose_worker_died_between_its_two_writes(campaign):
    run_inline(campaign)
    FinalVerdict.objects.all().delete()
    Campaign.objects.filter(pk=campaign.pk).update(status="running", finished_at=None)
    result = campaign_reconcile(campaign_id=campaign.pk)
    assert result.settled == 2 and result.finished
    assert FinalVerdict.objects.count() == 2


def test_a_finished_campaign_asks_the_leaderboard_to_recompute_by_task_name(
    campaign, django_capture_on_commit_callbacks
):
    Judgment.objects.filter(campaign=campaign).update(status=WorkStatus.CANCELLED)
    with mock.patch("arena.celery.app.send_task") as send_task:
        with django_capture_on_commit_callbacks(execute=True):
            assert campaign_finish_if_done(campaign_id=campaign.pk)
        assert not campaign_finish_if_done(campaign_id=campaign.pk)  # once
    send_task.assert_called_once_with("leaderboard.recompute_all")
    assert Campaign.objects.get(pk=campaign.pk).status == "finished"


def test_a_final_verdict_never_takes_an_arena_verdict_another_version_owns(campaign):
    from judges.services.configs import JudgeConfigData, judge_config_update
    from judges.services.judgment_sql import final_verdict_insert

    run_inline(campaign)
    owned = FinalVerdict.objects.select_related("config_version__config").first()
    config = owned.config_version.config
    data = JudgeConfigData(name=config.name, provider=config.provider, model=config.model, dimensions=["overall"],
                           base_url=config.base_url, temperature=0.5)  # fmt: skip
    newer = judge_config_update(config=config, data=data)
    copy = FinalVerdict(battle_id=owned.battle_id, dimension=owned.dimension, config_version=newer, campaign=campaign,
                        outcome="tie", inconsistent=True, shown=owned.shown, swapped=owned.swapped, verdict=owned.verdict)  # fmt: skip
    final_verdict_insert(copy)  # as if both versions settled the battle at the same moment
    stored = FinalVerdict.objects.get(battle_id=owned.battle_id, config_version=newer)
    assert stored.verdict is None and FinalVerdict.objects.get(pk=owned.pk).verdict == owned.verdict
    final_verdict_insert(copy)  # and settling again changes nothing
    assert FinalVerdict.objects.filter(battle_id=owned.battle_id).count() == 2


def test_a_battle_settled_for_the_first_time_writes_its_arena_and_final_verdicts_in_one_statement(
    stub, monkeypatch
):
    from arena.models import Verdict
    from judges.services import consistency, judgment_sql

    prompt_set, contenders = make_arena(n_prompts=1, slugs=("alpha", "bravo"))
    make_judge("wide", base_url=stub.base_url, dimensions=["overall", "correctness", "clarity"])
    campaign = start_campaign(prompt_set, contenders, "wide")
    writes: list[str] = []  # statements that write a verdict of either kind
    real_run, long_way = judgment_sql.sql_run, []

    def counting(sql, params):
        if (
            f"INSERT INTO {FinalVerdict._meta.db_table}" in sql
            or f"INSERT INTO {Verdict._meta.db_table}" in sql
        ):
            writes.append(sql)
        return real_run(sql, params)

    monkeypatch.setattr(judgment_sql, "sql_run", counting)
    real_record = consistency.verdicts_record
    monkeypatch.setattr(
        consistency, "verdicts_record", lambda entries: long_way.append(entries) or real_record(entries)
    )
    run_inline(campaign)

    assert long_way == [], "a battle settled for the first time does not take the long way"
    assert len(writes) == 1, "one statement for the battle's three arena verdicts and three final verdicts"
    finals = FinalVerdict.objects.filter(campaign=campaign).select_related(
        "verdict", "config_version__config"
    )
    assert sorted(final.dimension.slug for final in finals) == ["clarity", "correctness", "overall"]
    for final in finals:  # each final verdict owns the arena verdict of its own dimension, with its outcome
        verdict = final.verdict
        assert (verdict.battle_id, verdict.dimension_id) == (final.battle_id, final.dimension_id)
        assert (verdict.outcome, verdict.inconsistent) == (final.outcome, final.inconsistent)
        assert verdict.source_id == final.config_version.config.source_id and final.created is not None
    assert Verdict.objects.count() == 3


def _newer_version_campaign(campaign, dimensions: list[str]):
    """A newer version of the campaign's judge config, judging `dimensions`, and a campaign of it over the same
    battles: (the version, the campaign)."""
    from judges.services.configs import JudgeConfigData, judge_config_update

    config = (
        FinalVerdict.objects.select_related("config_version__config").order_by("pk")[0].config_version.config
    )
    data = JudgeConfigData(name=config.name, provider=config.provider, model=config.model, dimensions=dimensions,
                           base_url=config.base_url, temperature=0.5)  # fmt: skip
    newer = judge_config_update(config=config, data=data)
    return newer, start_campaign(campaign.prompt_set, list(campaign.contenders.all()), config.slug)


def test_a_battle_an_older_version_settled_first_is_settled_the_long_way(campaign, stub):
    """The one-statement settle writes nothing of a battle whose arena verdict exists: the newer version's
    final verdict is stored without it, the older one keeps its own, and nothing is written twice."""
    from arena.models import Verdict

    run_inline(campaign)
    older = {final.battle_id: final.verdict_id for final in FinalVerdict.objects.all()}
    newer, again = _newer_version_campaign(campaign, ["overall"])
    assert set(run_inline(again)) == {"done"}

    stored = FinalVerdict.objects.filter(config_version=newer)
    assert sorted(stored.values_list("battle_id", flat=True)) == sorted(older)
    assert all(final.verdict_id is None for final in stored)
    assert {f.battle_id: f.verdict_id for f in FinalVerdict.objects.exclude(config_version=newer)} == older
    assert Verdict.objects.count() == len(older)


def test_a_newer_version_adding_a_dimension_settles_every_dimension(campaign, stub):
    """A partial conflict: the older version recorded `overall`, the newer one adds `correctness`. Each battle
    gets both final verdicts; the new dimension's owns the arena verdict it created, `overall`'s none."""
    from arena.models import Verdict

    run_inline(campaign)
    older = {final.battle_id for final in FinalVerdict.objects.all()}
    newer, again = _newer_version_campaign(campaign, ["overall", "correctness"])
    assert set(run_inline(again)) == {"done"}

    stored = FinalVerdict.objects.filter(config_version=newer).select_related("dimension", "verdict")
    assert sorted((f.battle_id, f.dimension.slug) for f in stored) == sorted(
        (battle, slug) for battle in older for slug in ("correctness", "overall")
    )
    for final in stored:
        if final.dimension.slug == "overall":
            assert final.verdict_id is None  # the older version owns that arena verdict
        else:
            assert final.verdict.dimension_id == final.dimension_id
    assert Verdict.objects.count() == 2 * len(older)


def test_a_worker_dying_after_a_partial_conflict_leaves_a_battle_the_sweep_completes(campaign, monkeypatch):
    """The newer version adds a dimension, and the long way fails (a lost connection, a dead worker) right
    after the one-statement settle found the older version's verdict. The battle must hold no final verdict
    of the newer version, so the sweep, which settles battles with none, completes every dimension. (A
    statement that committed the new dimension's final verdict there left the battle half settled for good.)"""
    from arena.models import Verdict
    from judges.services import consistency

    run_inline(campaign)
    older = {final.battle_id for final in FinalVerdict.objects.all()}
    newer, again = _newer_version_campaign(campaign, ["overall", "correctness"])

    class LostConnection(Exception):
        pass

    def fails(entries):
        raise LostConnection

    monkeypatch.setattr(consistency, "verdicts_record", fails)
    for pk in Judgment.objects.filter(campaign=again, status=WorkStatus.PENDING).values_list("pk", flat=True):
        with contextlib.suppress(LostConnection):
            judgment_run(judgment_id=pk)
    monkeypatch.undo()
    assert not Judgment.objects.filter(campaign=again).exclude(status=WorkStatus.DONE).exists()
    # The statement ran (it created the new dimension's arena verdicts) and left no final verdict behind.
    assert Verdict.objects.filter(dimension__slug="correctness").count() == len(older)
    assert not FinalVerdict.objects.filter(config_version=newer).exists()

    consistency.campaign_settle_missing(campaign_id=again.pk)
    settled: dict[int, set[str]] = {}
    for final in FinalVerdict.objects.filter(config_version=newer).select_related("dimension"):
        settled.setdefault(final.battle_id, set()).add(final.dimension.slug)
    assert settled == {battle: {"overall", "correctness"} for battle in older}


def test_final_verdicts_one_of_which_another_version_owns_go_in_one_by_one(campaign):
    from judges.services.configs import JudgeConfigData, judge_config_update
    from judges.services.judgment_sql import final_verdicts_insert

    run_inline(campaign)
    first, second = FinalVerdict.objects.select_related("config_version__config").order_by("pk")[:2]
    config = first.config_version.config
    data = JudgeConfigData(name=config.name, provider=config.provider, model=config.model, dimensions=["overall"],
                           base_url=config.base_url, temperature=0.5)  # fmt: skip
    newer = judge_config_update(config=config, data=data)
    copies = [
        FinalVerdict(battle_id=old.battle_id, dimension=old.dimension, config_version=newer, campaign=campaign,
                     outcome=old.outcome, inconsistent=old.inconsistent, shown=old.shown, swapped=old.swapped,
                     verdict=verdict)
        for old, verdict in ((first, first.verdict), (second, None))
    ]  # fmt: skip
    final_verdicts_insert(copies)  # the first's arena verdict is owned by the older version

    stored = FinalVerdict.objects.filter(config_version=newer).order_by("battle_id")
    assert [(f.battle_id, f.verdict_id) for f in stored] == sorted(
        [(first.battle_id, None), (second.battle_id, None)]
    )
    assert FinalVerdict.objects.get(pk=first.pk).verdict_id == first.verdict_id
    final_verdicts_insert(copies)  # and settling again changes nothing
    assert FinalVerdict.objects.filter(config_version=newer).count() == 2


class _WorkerDied(BaseException):
    """Stands for SIGKILL between the paid reply and storing it: nothing after it runs in that worker."""


def test_a_call_paid_but_never_stored_still_counts_in_the_campaign_spend(
    campaign, stub, monkeypatch, client, staff
):
    judgment = Judgment.objects.filter(campaign=campaign).order_by("pk").first()

    def die(*args, **kwargs):
        raise _WorkerDied

    monkeypatch.setattr("judges.services.judging._store", die)
    with pytest.raises(_WorkerDied):
        judgment_run(judgment_id=judgment.pk)
    monkeypatch.undo()
    Judgment.objects.filter(pk=judgment.pk).update(lease_until=timezone.now() - timedelta(seconds=1))
    assert campaign_reconcile(campaign_id=campaign.pk).reclaimed == 1
    assert judgment_run(judgment_id=judgment.pk).outcome == "done"
    judgment.refresh_from_db()
    calls = PaidCall.objects.filter(campaign=campaign, item_id=judgment.pk)
    assert len(stub.requests) == calls.count() == calls.filter(outcome="answered").count() == 2
    # The row's own cost counts the call whose result landed; the campaign's spend counts both paid calls.
    assert judgment.cost > 0 and judgment.attempts == 2
    progress = campaign_progress(campaign=Campaign.objects.get(pk=campaign.pk))
    assert progress.calls == 2 and progress.calls_unanswered == 0
    assert progress.spend == sum(call.cost for call in calls) == 2 * judgment.cost
    client.force_login(staff)
    page = client.get(f"/judges/campaigns/{campaign.pk}/").content.decode()
    assert 'data-testid="calls">2<' in page and f'data-testid="spend">${progress.spend:.4f}<' in page


def test_a_call_that_fails_is_in_the_ledger_without_cost(campaign, stub):
    stub.inject({"kind": "http", "status": 400, "message": "bad request"})
    judgment = Judgment.objects.filter(campaign=campaign).order_by("pk").first()
    assert judgment_run(judgment_id=judgment.pk).outcome == "failed"
    call = PaidCall.objects.get(campaign=campaign, item_id=judgment.pk)
    assert call.outcome == "failed" and call.cost == 0 and call.replied_at is not None


def test_a_claim_that_does_not_land_writes_no_ledger_row(campaign):
    from judges.services.judgment_sql import judgment_claim_recording_call

    judgment = Judgment.objects.filter(campaign=campaign).order_by("pk").first()
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.PAUSED)
    key = judgment.content_key
    assert judgment_claim_recording_call(judgment.pk, uuid.uuid4(), 30, content_key=key) is None
    assert not PaidCall.objects.filter(item_id=judgment.pk).exists()
    assert Judgment.objects.get(pk=judgment.pk).status == WorkStatus.PENDING
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.RUNNING)
    token = uuid.uuid4()
    claimed = judgment_claim_recording_call(judgment.pk, token, 30, content_key=key)
    assert claimed.twin_id is None
    call = PaidCall.objects.get(pk=claimed.call_id)
    assert (call.item_id, call.claim_token, call.outcome) == (judgment.pk, token, "sent")
    assert Judgment.objects.get(pk=judgment.pk).claim_token == token


def test_settling_the_second_order_sees_the_first_without_another_read(campaign):
    from judges.services.judgment_sql import judgment_finish

    shown, swapped = Judgment.objects.filter(campaign=campaign, battle__isnull=False).order_by(
        "battle", "order"
    )[:2]
    assert shown.battle_id == swapped.battle_id
    first, second = (
        work_claim(Judgment, pk=shown.pk, lease_s=30),
        work_claim(Judgment, pk=swapped.pk, lease_s=30),
    )
    seen_first = judgment_finish(shown.pk, first, status=WorkStatus.DONE, verdicts={"overall": "A"})
    assert seen_first.landed and seen_first.other.status == WorkStatus.RUNNING  # not final: read again later
    seen_second = judgment_finish(swapped.pk, second, status=WorkStatus.DONE, verdicts={"overall": "B"})
    assert seen_second.landed
    assert (seen_second.other.pk, seen_second.other.status, seen_second.other.verdicts) == (
        shown.pk, WorkStatus.DONE, {"overall": "A"}
    )  # fmt: skip
    assert not judgment_finish(swapped.pk, second, status=WorkStatus.DONE, verdicts={"overall": "B"}).landed


def test_the_settle_statement_completes_the_answered_calls_ledger_row_even_when_it_does_not_land(campaign):
    from judges.services.judgment_sql import CallEnd, judgment_claim_recording_call, judgment_finish

    judgment = Judgment.objects.filter(campaign=campaign).order_by("pk").first()
    token = uuid.uuid4()
    claimed = judgment_claim_recording_call(judgment.pk, token, 30, content_key=judgment.content_key)
    lost = judgment_finish(
        judgment.pk, uuid.uuid4(), status=WorkStatus.DONE, verdicts={"overall": "A"},
        call_end=CallEnd(claimed.call_id, PaidCall.Outcome.ANSWERED.value, 7, 3, 0),
    )  # fmt: skip
    # A worker whose claim was handed on still paid for its call: the ledger says so, the row is untouched.
    call = PaidCall.objects.get(pk=claimed.call_id)
    assert not lost.landed and Judgment.objects.get(pk=judgment.pk).status == WorkStatus.RUNNING
    assert (call.outcome, call.tokens_in, call.tokens_out) == ("answered", 7, 3) and call.replied_at
    second = PaidCall.objects.create(
        campaign=campaign, item_id=judgment.pk, claim_token=token, outcome="sent"
    )
    end = CallEnd(second.pk, PaidCall.Outcome.ANSWERED.value, 11, 5, 0)
    kept = judgment_finish(
        judgment.pk, token, status=WorkStatus.DONE, verdicts={"overall": "A"}, call_end=end
    )
    second.refresh_from_db()
    assert kept.landed and Judgment.objects.get(pk=judgment.pk).status == WorkStatus.DONE
    assert (second.outcome, second.tokens_in, second.tokens_out) == ("answered", 11, 5)


def test_storing_that_fails_after_the_answer_still_completes_the_ledger_row(campaign, stub, monkeypatch):
    judgment = Judgment.objects.filter(campaign=campaign).order_by("pk").first()

    def finish_fails(*args, **kwargs):
        raise _WorkerDied

    monkeypatch.setattr("judges.services.judging.judgment_finish", finish_fails)
    with pytest.raises(_WorkerDied):
        judgment_run(judgment_id=judgment.pk)
    call = PaidCall.objects.get(item_id=judgment.pk)
    assert call.outcome == "answered" and call.tokens_in > 0 and call.replied_at is not None


def test_a_reply_nested_too_deeply_to_parse_is_a_parse_failure_with_both_calls_answered(campaign, stub):
    from tests.support.openai_stub import fixed_text

    # Deep enough to exhaust the JSON decoder's recursion limit: it raised RecursionError, which escaped the
    # run and left the answered call "sent" (0 tokens, no cost) and the row claimed, to be paid for again.
    depth = 200_000
    stub.script = fixed_text('{"overall": ' + "[" * depth + "]" * depth + "}")
    judgment = Judgment.objects.filter(campaign=campaign).order_by("pk").first()
    assert judgment_run(judgment_id=judgment.pk).outcome == "parse_failed"
    judgment.refresh_from_db()
    assert judgment.status == WorkStatus.PARSE_FAILED and "nested too deeply" in judgment.parse_error
    calls = PaidCall.objects.filter(item_id=judgment.pk)
    assert len(stub.requests) == calls.count() == 2  # the answer and its repair
    assert all(c.outcome == "answered" and c.tokens_in > 0 and c.cost > 0 and c.replied_at for c in calls)
    assert sum(c.cost for c in calls) == judgment.cost


def test_an_error_after_the_answer_and_before_storing_still_completes_the_ledger_row(
    campaign, stub, monkeypatch
):
    judgment = Judgment.objects.filter(campaign=campaign).order_by("pk").first()

    def parser_bug(*args, **kwargs):
        raise RuntimeError("a bug in the parser")

    # Not a kill: any exception raised once the reply is in (here while parsing it) ends the run.
    monkeypatch.setattr("judges.services.judging.parse_verdicts", parser_bug)
    with pytest.raises(RuntimeError, match="a bug in the parser"):
        judgment_run(judgment_id=judgment.pk)
    call = PaidCall.objects.get(item_id=judgment.pk)
    assert len(stub.requests) == 1
    assert call.outcome == "answered" and call.tokens_in > 0 and call.cost > 0 and call.replied_at is not None


def test_an_answered_calls_reply_time_is_when_the_reply_came_not_when_it_was_stored(
    campaign, stub, monkeypatch
):
    from judges.services import judging

    judgment = Judgment.objects.filter(campaign=campaign).order_by("pk").first()
    real_store, entered = judging._store, []

    def store_later(*args, **kwargs):
        entered.append(timezone.now())  # the reply is in, parsed; the settle statement writes the ledger row
        time.sleep(0.05)  # so that a time stamped by that statement is certainly later than this
        return real_store(*args, **kwargs)

    monkeypatch.setattr("judges.services.judging._store", store_later)
    assert judgment_run(judgment_id=judgment.pk).outcome == "done"
    call = PaidCall.objects.get(item_id=judgment.pk)
    assert call.outcome == "answered" and call.replied_at <= entered[0]
    assert call.replied_at >= Judgment.objects.get(pk=judgment.pk).claimed_at


def test_only_final_statuses_settle_a_row(campaign):
    judgment = Judgment.objects.filter(campaign=campaign).first()
    token = work_claim(Judgment, pk=judgment.pk, lease_s=30)
    with pytest.raises(ValueError, match="'pending' is not a final status"):
        work_settle(Judgment, pk=judgment.pk, token=token, status=WorkStatus.PENDING)
    assert Judgment.objects.get(pk=judgment.pk).status == WorkStatus.RUNNING
