"""One judgment end to end, in this process, against the loopback stub: both orders, consistency, repair,
parse failures, cost, reuse, retries and fail-fast. (The same service runs in workers; see
test_campaign_worker.py for real worker processes.)"""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from django.db import connection
from django.test import override_settings

from arena.models import Verdict
from judges.models import (
    Campaign,
    FinalVerdict,
    JudgeConfig,
    JudgeConfigVersion,
    Judgment,
    PaidCall,
    WorkStatus,
)
from judges.services import judging
from judges.services.consistency import combine_orders
from judges.services.judging import judgment_run, judgments_run
from judges.services.progress import campaign_progress
from tests.judges.conftest import make_arena, make_judge, run_inline, start_campaign
from tests.support.openai_stub import fixed_text, position_biased

pytestmark = pytest.mark.django_db


def test_each_battle_is_judged_in_both_orders_and_mapped_back_to_its_sides(stub):
    prompt_set, contenders = make_arena(n_prompts=2, slugs=("alpha", "bravo"))
    make_judge("fair", base_url=stub.base_url)
    campaign = start_campaign(prompt_set, contenders, "fair")
    assert run_inline(campaign) == ["done"] * 4
    for battle_id in Judgment.objects.values_list("battle_id", flat=True).distinct():
        shown = Judgment.objects.select_related("battle__contender_a").get(battle_id=battle_id, order="shown")
        swapped = Judgment.objects.get(battle_id=battle_id, order="swapped")
        alpha_first = shown.battle.contender_a.slug == "alpha"
        # Positional labels: the marked (alpha) answer is "A" when shown first.
        assert shown.verdicts == {"overall": "A" if alpha_first else "B"}
        assert swapped.verdicts == {"overall": "B" if alpha_first else "A"}
        assert shown.raw_text and swapped.raw_text and shown.rationale
        verdict = Verdict.objects.get(battle_id=battle_id, source__key="judge-fair")
        assert verdict.outcome == ("a" if alpha_first else "b") and not verdict.inconsistent
    assert Campaign.objects.get(pk=campaign.pk).status == "finished"


@pytest.mark.parametrize(
    ("shown", "swapped", "expected"),
    [
        ("A", "B", ("a", False)),
        ("B", "A", ("b", False)),
        ("tie", "tie", ("tie", False)),
        ("A", "A", ("tie", True)),
        ("B", "B", ("tie", True)),
        ("A", "tie", ("tie", True)),
        ("tie", "B", ("tie", True)),
    ],
)
def test_orders_combine_into_one_verdict_or_an_inconsistent_tie(shown, swapped, expected):
    assert combine_orders(shown, swapped) == expected


def test_a_position_biased_judge_gives_inconsistent_ties():
    from tests.support.openai_stub import OpenAIStub

    prompt_set, contenders = make_arena(n_prompts=3, slugs=("alpha", "bravo"))
    with OpenAIStub(script=position_biased("A")) as biased:
        make_judge("biased", base_url=biased.base_url)
        campaign = start_campaign(prompt_set, contenders, "biased")
        run_inline(campaign)
    verdicts = Verdict.objects.filter(source__key="judge-biased")
    assert verdicts.count() == 3 and all(v.outcome == "tie" and v.inconsistent for v in verdicts)
    assert campaign_progress(campaign=campaign).inconsistent == 3


def test_malformed_output_gets_one_repair_then_is_a_parse_failure_with_its_raw_text(stub):
    stub.script = fixed_text("Both are fine, I suppose. Verdict: the first one.")
    prompt_set, contenders = make_arena(n_prompts=1, slugs=("alpha", "bravo"))
    make_judge("chatty", base_url=stub.base_url)
    campaign = start_campaign(prompt_set, contenders, "chatty")
    assert run_inline(campaign) == ["parse_failed", "parse_failed"]
    assert len(stub.requests) == 4  # each order: the answer and one repair request, no more
    repair = stub.requests[1].body["messages"]
    assert repair[-2] == {"role": "assistant", "content": "Both are fine, I suppose. Verdict: the first one."}
    assert "could not be used" in repair[-1]["content"]
    for judgment in Judgment.objects.all():
        assert judgment.status == "parse_failed" and judgment.verdicts is None
        assert (
            judgment.raw_text
            == judgment.repair_raw_text
            == "Both are fine, I suppose. Verdict: the first one."
        )
        assert judgment.parse_error.startswith("first reply: the reply contains no JSON object")
        assert judgment.tokens_in > 0 and len(judgment.raw_response) == 2
    # Never silently a tie: no verdict at all for this battle.
    assert not Verdict.objects.exists() and not FinalVerdict.objects.exists()
    assert campaign_progress(campaign=campaign).parse_failed == 2


def test_a_reply_fixed_by_the_repair_request_is_used(stub):
    def repairs_when_asked(body):
        asked_again = any(m["role"] == "assistant" for m in body["messages"])
        return (
            json.dumps({"verdicts": {"overall": "tie"}, "rationale": "equal"})
            if asked_again
            else "{'overall': A}"
        )

    stub.script = repairs_when_asked
    prompt_set, contenders = make_arena(n_prompts=1, slugs=("alpha", "bravo"))
    make_judge("sloppy", base_url=stub.base_url)
    campaign = start_campaign(prompt_set, contenders, "sloppy")
    assert run_inline(campaign) == ["done", "done"]
    judgment = Judgment.objects.first()
    assert judgment.raw_text == "{'overall': A}" and '"tie"' in judgment.repair_raw_text
    assert judgment.verdicts == {"overall": "tie"}
    assert Verdict.objects.get().outcome == "tie"


def test_one_unparseable_order_leaves_the_battle_without_a_final_verdict(stub):
    prompt_set, contenders = make_arena(n_prompts=1, slugs=("alpha", "bravo"))
    make_judge("fair", base_url=stub.base_url)
    campaign = start_campaign(prompt_set, contenders, "fair")
    stub.inject("garbage_content", "garbage_content")  # the first order's answer and its repair
    assert run_inline(campaign) == ["parse_failed", "done"]
    assert not FinalVerdict.objects.exists() and not Verdict.objects.exists()
    assert Campaign.objects.get(pk=campaign.pk).status == "finished"


def test_tokens_cost_latency_and_raw_response_are_recorded(stub):
    prompt_set, contenders = make_arena(n_prompts=1, slugs=("alpha", "bravo"))
    make_judge(
        "priced",
        base_url=stub.base_url,
        price_input_per_mtok=Decimal("2.5"),
        price_output_per_mtok=Decimal("10"),
    )
    campaign = start_campaign(prompt_set, contenders, "priced")
    run_inline(campaign)
    for judgment, request in zip(Judgment.objects.order_by("pk"), stub.requests, strict=True):
        words_in = sum(len(m["content"].split()) for m in request.body["messages"])
        assert judgment.tokens_in == words_in  # the stub counts whitespace words as tokens
        assert judgment.tokens_out == len(judgment.raw_text.split())
        assert (
            judgment.cost
            == (Decimal(words_in) * Decimal("2.5") + judgment.tokens_out * Decimal(10)) / 1_000_000
        )
        assert (
            judgment.latency_ms is not None and judgment.raw_response[0]["usage"]["prompt_tokens"] == words_in
        )
        assert request.body["response_format"] == {"type": "json_object"}  # the endpoint's JSON mode
    progress = campaign_progress(campaign=campaign)
    assert progress.spend == sum(j.cost for j in Judgment.objects.all()) > 0


@pytest.mark.parametrize(
    ("field", "shown"),
    [
        ("price_input_per_mtok", "price per million input tokens is NaN"),
        ("price_output_per_mtok", "price per million output tokens is NaN"),
        ("temperature", "temperature is nan"),
    ],
)
def test_a_price_or_temperature_that_is_not_a_number_fails_before_anything_is_sent_or_paid(
    stub, field, shown
):
    prompt_set, contenders = make_arena(n_prompts=1, slugs=("alpha", "bravo"))
    make_judge("odd", base_url=stub.base_url)
    campaign = start_campaign(prompt_set, contenders, "odd")
    # Written as SQL: the ORM refuses a NaN decimal, but PostgreSQL's numeric (and the constraint) take one.
    model = JudgeConfigVersion if field == "temperature" else JudgeConfig  # the version's temperature is sent
    column = model._meta.get_field(field).column
    where = (
        "config_id = (SELECT id FROM judges_judgeconfig WHERE slug = %s)"
        if model is JudgeConfigVersion
        else "slug = %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {model._meta.db_table} SET {column} = 'NaN' WHERE {where}", ["odd"])
    judgment = Judgment.objects.filter(campaign=campaign).order_by("pk").first()

    assert judgment_run(judgment_id=judgment.pk).outcome == "failed"

    assert stub.requests == [] and not PaidCall.objects.exists()
    judgment.refresh_from_db()
    assert judgment.status == "failed" and judgment.cost == 0
    assert f"judge config 'odd': its {shown}, not a number; set it to a finite number" in judgment.error


def test_an_identical_request_reuses_the_stored_result_instead_of_paying_twice(stub):
    prompt_set, contenders = make_arena(n_prompts=3, slugs=("alpha", "bravo"))
    make_judge("first", base_url=stub.base_url)
    make_judge("twin", base_url=stub.base_url)  # same provider, model, template, dimensions: same fingerprint
    run_inline(start_campaign(prompt_set, contenders, "first"))
    assert len(stub.requests) == 6
    from judges.services.campaigns import CampaignSpec, campaign_estimate

    spec = CampaignSpec(contenders=["alpha", "bravo"], prompt_set=prompt_set.slug, judges=["twin"])
    assert campaign_estimate(spec=spec).estimate.reused == 6
    twin = start_campaign(prompt_set, contenders, "twin")
    assert run_inline(twin) == ["reused"] * 6
    assert len(stub.requests) == 6, "the reuse cache should have answered"
    for judgment in Judgment.objects.filter(campaign=twin):
        assert judgment.reused_from_id and judgment.cost == 0 and judgment.verdicts
    assert Verdict.objects.filter(source__key="judge-twin").count() == 3
    assert campaign_progress(campaign=twin).reused == 6


def test_a_transient_error_releases_the_claim_and_asks_for_a_retry_with_backoff(stub):
    prompt_set, contenders = make_arena(n_prompts=1, slugs=("alpha", "bravo"))
    make_judge("fair", base_url=stub.base_url)
    campaign = start_campaign(prompt_set, contenders, "fair")
    judgment = Judgment.objects.filter(campaign=campaign).first()
    stub.inject("503")
    result = judgment_run(judgment_id=judgment.pk)
    assert result.outcome == "retry" and result.retry_in > 0
    judgment.refresh_from_db()
    assert judgment.status == "pending" and judgment.attempts == 1 and "HTTP 503" in judgment.error
    assert judgment_run(judgment_id=judgment.pk).outcome == "done"
    judgment.refresh_from_db()
    assert judgment.attempts == 2 and judgment.error == ""


def test_a_429_retry_after_is_honoured_by_every_call_of_that_judge(stub):
    prompt_set, contenders = make_arena(n_prompts=1, slugs=("alpha", "bravo"))
    make_judge("limited", base_url=stub.base_url)
    campaign = start_campaign(prompt_set, contenders, "limited")
    first, second = Judgment.objects.filter(campaign=campaign).order_by("pk")
    stub.inject({"kind": "http", "status": 429, "retry_after": 3})
    result = judgment_run(judgment_id=first.pk)
    assert result.outcome == "retry" and result.retry_in >= 3
    cooling = judgment_run(judgment_id=second.pk)  # the judge cools down: no call is made
    assert cooling.outcome == "busy" and 0 < cooling.retry_in <= 3
    assert len(stub.requests) == 1


@override_settings(JUDGES_MAX_ATTEMPTS=2, JUDGES_BACKOFF_BASE_MS=1)
def test_transient_errors_become_a_failure_after_the_attempt_limit(stub):
    prompt_set, contenders = make_arena(n_prompts=1, slugs=("alpha", "bravo"))
    make_judge("flaky", base_url=stub.base_url)
    campaign = start_campaign(prompt_set, contenders, "flaky")
    stub.set_fault_rate(1.0, "500")
    run_inline(campaign, rounds=3)
    for judgment in Judgment.objects.all():
        assert judgment.status == "failed" and judgment.attempts == 2
        assert (
            judgment.error.startswith("gave up after 2 attempts; last error:")
            and "HTTP 500" in judgment.error
        )
    assert len(stub.requests) == 4
    assert Campaign.objects.get(pk=campaign.pk).status == "finished"


def test_an_unknown_model_fails_the_whole_judge_at_once_with_the_endpoint_message(stub):
    stub.models = ["real-model"]
    prompt_set, contenders = make_arena(n_prompts=5, slugs=("alpha", "bravo"))
    make_judge("typo", base_url=stub.base_url, model="reel-model")
    campaign = start_campaign(prompt_set, contenders, "typo")
    first = Judgment.objects.filter(campaign=campaign).order_by("pk").first()
    assert judgment_run(judgment_id=first.pk).outcome == "failed"
    assert len(stub.requests) == 1
    assert set(Judgment.objects.values_list("status", flat=True)) == {"failed"}
    campaign.refresh_from_db()
    assert campaign.status == "finished"
    assert "HTTP 404" in campaign.last_error and "reel-model" in campaign.last_error
    assert "check the model name" in campaign.last_error
    assert Judgment.objects.filter(attempts=0).count() == 9  # never called


def test_a_paused_campaign_claims_nothing_and_a_cancelled_one_cancels_its_pending_work(stub):
    from judges.services.lifecycle import campaign_cancel, campaign_pause

    prompt_set, contenders = make_arena(n_prompts=2, slugs=("alpha", "bravo"))
    make_judge("fair", base_url=stub.base_url)
    campaign = start_campaign(prompt_set, contenders, "fair")
    assert campaign_pause(campaign=campaign) and not campaign_pause(campaign=campaign)
    assert set(run_inline(campaign)) == {"skipped"} and not stub.requests
    assert campaign_cancel(campaign=campaign)
    assert set(Judgment.objects.values_list("status", flat=True)) == {WorkStatus.CANCELLED}


def test_a_batch_loads_its_rows_together_and_reuses_what_an_earlier_row_of_it_was_answered(stub):
    prompt_set, contenders = make_arena(n_prompts=3, slugs=("alpha", "bravo"))
    make_judge("first", base_url=stub.base_url)
    make_judge("twin", base_url=stub.base_url)  # the same requests as "first"
    campaign = start_campaign(prompt_set, contenders, "first", "twin")
    ids = list(
        Judgment.objects.filter(campaign=campaign)
        .order_by("config_version_id", "pk")
        .values_list("pk", flat=True)
    )
    results = judgments_run([*ids, ids[0], 10**9])  # a repeated id and a missing one are skipped
    assert [results[pk].outcome for pk in ids] == ["done"] * 6 + ["reused"] * 6
    assert results[10**9].outcome == "skipped"
    assert len(stub.requests) == 6, "rows loaded before their twins were answered should still reuse them"
    assert Campaign.objects.get(pk=campaign.pk).status == "finished"
    assert judgments_run(ids)[ids[0]].outcome == "skipped"  # a redelivered batch does nothing again


def test_a_row_whose_twin_another_worker_answered_after_the_batch_loaded_is_copied_not_paid_again(
    stub, monkeypatch
):
    prompt_set, contenders = make_arena(n_prompts=3, slugs=("alpha", "bravo"))
    make_judge("first", base_url=stub.base_url)
    make_judge("twin", base_url=stub.base_url)  # the same requests as "first"
    campaign = start_campaign(prompt_set, contenders, "first", "twin")
    by_judge = Judgment.objects.filter(campaign=campaign).order_by("config_version_id", "pk")
    ids = list(by_judge.values_list("pk", flat=True))
    firsts, twins = ids[:6], ids[6:]
    real_load = judging.judgment_load_many

    def load_then_another_worker_answers_the_twins(pks):
        jobs = real_load(pks)  # loaded while no twin was answered: nothing to reuse yet
        assert all(job.reusable_id is None for job in jobs.values())
        for pk in firsts:  # another worker, meanwhile
            assert judgment_run(judgment_id=pk).outcome == "done"
        return jobs

    monkeypatch.setattr(judging, "judgment_load_many", load_then_another_worker_answers_the_twins)
    results = judgments_run(twins)

    assert [results[pk].outcome for pk in twins] == ["reused"] * 6
    assert len(stub.requests) == 6, "each request is paid for once"
    assert not PaidCall.objects.filter(item_id__in=twins).exists()
    for judgment in Judgment.objects.filter(pk__in=twins):
        assert judgment.reused_from_id in firsts and judgment.cost == 0 and judgment.verdicts
    assert Campaign.objects.get(pk=campaign.pk).status == "finished"


def _counting_pair_reads(monkeypatch) -> list[int]:
    """Count the reads of a battle's two orders after a settle (`consistency.judgment_pair`)."""
    from judges.services import consistency

    reads: list[int] = []
    real_pair = consistency.judgment_pair

    def pair(battle_id, version_id):
        reads.append(battle_id)
        return real_pair(battle_id, version_id)

    monkeypatch.setattr(consistency, "judgment_pair", pair)
    return reads


def test_a_battle_whose_two_orders_share_a_batch_is_settled_by_the_second_without_reading_it_again(
    stub, monkeypatch
):
    prompt_set, contenders = make_arena(n_prompts=2, slugs=("alpha", "bravo"))
    make_judge("fair", base_url=stub.base_url)
    campaign = start_campaign(prompt_set, contenders, "fair")
    ids = list(
        Judgment.objects.filter(campaign=campaign).order_by("battle_id", "pk").values_list("pk", flat=True)
    )
    reads = _counting_pair_reads(monkeypatch)

    results = judgments_run(ids)

    assert [results[pk].outcome for pk in ids] == ["done"] * 4
    assert reads == [], "the second order's settle statement saw the first: nothing to read again"
    assert FinalVerdict.objects.count() == Verdict.objects.count() == 2
    assert Campaign.objects.get(pk=campaign.pk).status == "finished"


def test_a_battle_left_to_its_other_order_is_settled_when_another_worker_took_that_order(stub, monkeypatch):
    from judges.services.judgment_sql import judgment_finish
    from judges.services.work_protocol import work_claim

    prompt_set, contenders = make_arena(n_prompts=1, slugs=("alpha", "bravo"))
    make_judge("fair", base_url=stub.base_url)
    campaign = start_campaign(prompt_set, contenders, "fair")
    first, second = Judgment.objects.filter(campaign=campaign).order_by("pk").values_list("pk", flat=True)
    real_load, other = judging.judgment_load_many, {}

    def load_then_another_worker_claims_the_second(pks):
        jobs = real_load(pks)
        other["token"] = work_claim(Judgment, pk=second, lease_s=30)
        return jobs

    real_run = judging._run

    def run_then_the_other_worker_settles(job, *args, **kwargs):
        result = real_run(job, *args, **kwargs)
        if job.pk == first:  # it settles the second order now, having seen the first unsettled (a race)
            settled = judgment_finish(
                second, other["token"], status=WorkStatus.DONE, verdicts={"overall": "tie"}
            )
            assert settled.landed
        return result

    monkeypatch.setattr(judging, "judgment_load_many", load_then_another_worker_claims_the_second)
    monkeypatch.setattr(judging, "_run", run_then_the_other_worker_settles)
    reads = _counting_pair_reads(monkeypatch)

    results = judgments_run([first, second])

    assert (results[first].outcome, results[second].outcome) == ("done", "skipped")
    assert len(reads) == 1, "the battle is read again once its other order turned out not to be this batch's"
    assert FinalVerdict.objects.filter(battle_id=Judgment.objects.get(pk=first).battle_id).count() == 1
    assert Campaign.objects.get(pk=campaign.pk).status == "finished"


def _raising_after_the_second_row(monkeypatch):
    """Make the batch's second row raise after its work is done (a bug or a lost connection mid-batch)."""
    real_run, calls = judging._run, []

    def run_then_fail(*args, **kwargs):
        result = real_run(*args, **kwargs)
        calls.append(result)
        if len(calls) == 2:
            raise RuntimeError("lost mid-batch")
        return result

    monkeypatch.setattr(judging, "_run", run_then_fail)


def test_an_error_mid_batch_still_finishes_the_campaign_its_rows_completed(stub, monkeypatch):
    prompt_set, contenders = make_arena(n_prompts=1, slugs=("alpha", "bravo"))
    make_judge("fair", base_url=stub.base_url)
    campaign = start_campaign(prompt_set, contenders, "fair")
    ids = list(Judgment.objects.filter(campaign=campaign).order_by("pk").values_list("pk", flat=True))
    _raising_after_the_second_row(monkeypatch)

    with pytest.raises(RuntimeError, match="lost mid-batch"):
        judgments_run(ids)

    assert set(Judgment.objects.filter(pk__in=ids).values_list("status", flat=True)) == {"done"}
    assert Campaign.objects.get(pk=campaign.pk).status == "finished"


def test_an_error_mid_batch_keeps_the_retries_of_the_rows_before_it(stub, monkeypatch):
    prompt_set, contenders = make_arena(n_prompts=1, slugs=("alpha", "bravo"))
    make_judge("fair", base_url=stub.base_url)
    campaign = start_campaign(prompt_set, contenders, "fair")
    first, second = Judgment.objects.filter(campaign=campaign).order_by("pk").values_list("pk", flat=True)
    stub.inject("503")  # the first row's call fails and must be retried later
    _raising_after_the_second_row(monkeypatch)
    retries: list[tuple[int, float]] = []

    with pytest.raises(RuntimeError, match="lost mid-batch"):
        judgments_run([first, second], on_retry=lambda pk, seconds: retries.append((pk, seconds)))

    assert [pk for pk, _ in retries] == [first] and retries[0][1] > 0
    assert Judgment.objects.get(pk=first).status == "pending"


@override_settings(JUDGES_SLOT_WAIT_SECONDS=0)
def test_rows_that_find_the_limit_busy_are_sent_back_also_when_the_batch_then_fails(stub, monkeypatch):
    """Every row of a batch that found its judge's limit busy is handed to `on_retry` (none lost, none
    claimed), and the one that did so before a later row raised is still handed back."""
    import uuid

    from judges.services.limits import limits_backend
    from judges.services.runtime import judge_runtime

    prompt_set, contenders = make_arena(n_prompts=2, slugs=("alpha", "bravo"))
    make_judge("fair", base_url=stub.base_url, concurrency_limit=1)
    campaign = start_campaign(prompt_set, contenders, "fair")
    ids = list(
        Judgment.objects.filter(campaign=campaign).order_by("battle_id", "pk").values_list("pk", flat=True)
    )
    runtime = judge_runtime(Judgment.objects.get(pk=ids[0]).config_version_id)
    held = uuid.uuid4().hex
    assert limits_backend().try_acquire(runtime.limit_key, 1, 30.0, held) == 1.0  # held all along
    retries: list[int] = []
    try:
        results = judgments_run(ids, on_retry=lambda pk, seconds: retries.append(pk))

        assert [results[pk].outcome for pk in ids] == ["busy"] * 4 and retries == ids and not stub.requests
        assert set(Judgment.objects.filter(pk__in=ids).values_list("status", flat=True)) == {"pending"}

        # The batch raises in its second row: the first row, found busy before, was still sent back.
        retries.clear()
        _raising_after_the_second_row(monkeypatch)
        with pytest.raises(RuntimeError, match="lost mid-batch"):
            judgments_run(ids, on_retry=lambda pk, seconds: retries.append(pk))
        assert retries == ids[:1]
    finally:
        limits_backend().release(runtime.limit_key, 1, held)
