"""Judge campaigns through real Celery workers while a worker is SIGKILLed or the broker's Redis restarts.

Recovery runs as in production: a worker with embedded beat (`-B`) runs `judges.sweep` every
JUDGES_SWEEP_SECONDS on the "celery" queue, with the default lease (JUDGES_LEASE_SECONDS) and stall
(JUDGES_REQUEUE_STALLED_SECONDS) settings. Each test prints the recovery time it measured.
"""

from __future__ import annotations

import time

import pytest
from django.conf import settings
from django.db import connection
from django.db.models import Count, Sum
from django.utils import timezone

from arena.models import Verdict
from judges.models import Campaign, FinalVerdict, Judgment, PaidCall, WorkStatus
from judges.services.campaigns import CampaignSpec, campaign_start
from judges.services.progress import campaign_progress
from tests.judges.conftest import make_arena, make_judge, start_campaign
from tests.support.celery_worker import test_database_url as worker_database_url
from tests.support.celery_worker import wait_until
from tests.support.openai_stub import OpenAIStub
from tests.support.services import RedisServer

pytestmark = [pytest.mark.worker, pytest.mark.fault]

FAST_BACKOFF = {"JUDGES_BACKOFF_BASE_MS": "50", "JUDGES_BACKOFF_MAX_MS": "200"}
RECOVERY_LIMIT_S = 30  # the promise: stalled work resumes within 30 s of a worker's or the broker's death


KILLED_WORKER = "judge-faults-killed-worker"  # the application_name of the killed worker's connections


def _backends_of(application_name: str) -> list[int]:
    """PostgreSQL's server processes still serving connections that gave this application name."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pid FROM pg_stat_activity WHERE application_name = %s", [application_name])
        return [pid for (pid,) in cursor.fetchall()]


def _status(campaign) -> str:
    return Campaign.objects.get(pk=campaign.pk).status


def _counts(campaign) -> dict[str, int]:
    rows = Judgment.objects.filter(campaign=campaign).values("status").annotate(n=Count("pk"))
    return {row["status"]: row["n"] for row in rows}


def _assert_each_judgment_once(campaign, *, battles: int) -> None:
    assert Judgment.objects.filter(campaign=campaign).count() == 2 * battles
    assert _counts(campaign) == {"done": 2 * battles}
    assert FinalVerdict.objects.filter(campaign=campaign).count() == battles
    verdicts = Verdict.objects.filter(source__key="judge-fair")
    assert verdicts.count() == battles
    assert verdicts.values("battle").distinct().count() == battles  # none doubled


def test_a_judge_worker_killed_mid_campaign_recovers_within_30_s_and_every_paid_call_is_counted(
    worker_factory,
):
    prompt_set, contenders = make_arena(n_prompts=30, slugs=("alpha", "bravo", "charlie"))
    with OpenAIStub(script="prefer-marker", latency=0.3) as stub:
        make_judge("fair", base_url=stub.base_url, concurrency_limit=16, timeout_seconds=5)
        # Its connections are named, so that the test can tell when PostgreSQL is done with them.
        named = {"DATABASE_URL": f"{worker_database_url()}?application_name={KILLED_WORKER}"}
        first = worker_factory(queues="judge", concurrency=16, name="w1", env={**FAST_BACKOFF, **named})
        campaign = campaign_start(spec=CampaignSpec(contenders=[c.slug for c in contenders],
                                                   prompt_set=prompt_set.slug, judges=["fair"]))  # fmt: skip
        done = Judgment.objects.filter(campaign=campaign, status=WorkStatus.DONE)
        wait_until(lambda: done.count() >= 40, timeout=40, what="40 judgments before the kill")
        # (the wait below would pass at once if the name were lost: the connections must show it)
        wait_until(lambda: _backends_of(KILLED_WORKER), timeout=10, what="the worker's named connections")
        first.kill()
        killed_at = timezone.now()
        # A statement the worker sent just before it died (a claim writing its call's ledger row) still runs,
        # and commits, after the kill: its server process reads what is left in the socket before it sees the
        # connection closed and exits. Only once they have all exited is the set of stranded claims final.
        wait_until(
            lambda: not _backends_of(KILLED_WORKER), timeout=30, interval=0.1,
            what="the killed worker's database connections to end",
        )  # fmt: skip
        quiet_s = (timezone.now() - killed_at).total_seconds()
        stranded = dict(
            Judgment.objects.filter(campaign=campaign, status=WorkStatus.RUNNING).values_list(
                "pk", "claim_token"
            )
        )
        assert stranded, "the kill should catch calls in flight"
        worker_factory(queues="judge,celery", concurrency=16, name="w2", env=FAST_BACKOFF, beat=True)

        def stranded_claimed_again():
            rows = Judgment.objects.filter(pk__in=stranded).values_list("pk", "claim_token", "claimed_at")
            again = [at for pk, token, at in rows if token != stranded[pk] and at and at > killed_at]
            return max(again) if len(again) == len(stranded) else None

        resumed_at = wait_until(
            stranded_claimed_again, timeout=45, interval=0.2, what="stranded work to resume"
        )
        recovery = (resumed_at - killed_at).total_seconds()
        wait_until(
            lambda: _status(campaign) == "finished", timeout=45, interval=0.5, what="the campaign to finish"
        )
        requests = len(stub.requests)
    print(f"\nworker SIGKILL: its connections ended {quiet_s * 1000:.0f} ms after the kill; "
          f"{len(stranded)} claims in flight; all claimed again {recovery:.1f}s after the kill "
          f"(lease {settings.JUDGES_LEASE_SECONDS}s, sweep every {settings.JUDGES_SWEEP_SECONDS}s); "
          f"{requests} calls for 180 judgments")  # fmt: skip
    assert recovery <= RECOVERY_LIMIT_S
    # 3 pairs × 30 prompts = 90 battles × 2 orders: each judgment once, all done, each battle settled once.
    _assert_each_judgment_once(campaign, battles=90)
    # Every request the endpoint received is in the ledger, the repeated ones too ...
    assert requests > 180, "the calls in flight at the kill were made again"
    # (a killed worker may also have recorded a call it never got to send: at most one per claim it held).
    progress = campaign_progress(campaign=Campaign.objects.get(pk=campaign.pk))
    assert progress.calls == PaidCall.objects.filter(campaign=campaign).count()
    assert requests <= progress.calls <= requests + len(stranded)
    # ... those whose reply died with the worker are shown as unanswered, the rest are in the spend; an
    # unanswered call is one of the claims the kill stranded (each sent once: one ledger row per claim).
    assert 1 <= progress.calls_unanswered <= len(stranded)
    unanswered = list(
        PaidCall.objects.filter(campaign=campaign, outcome="sent").values_list("item_id", "claim_token")
    )
    assert len(unanswered) == len(set(unanswered)) == progress.calls_unanswered
    assert set(unanswered) <= set(stranded.items()), "an unanswered call that no stranded claim made"
    answered = PaidCall.objects.filter(campaign=campaign, outcome="answered").aggregate(
        n=Count("pk"), cost=Sum("cost")
    )
    assert answered["n"] == progress.calls - progress.calls_unanswered >= requests - len(stranded)
    assert (
        progress.spend
        == answered["cost"]
        >= Judgment.objects.filter(campaign=campaign).aggregate(c=Sum("cost"))["c"]
    )


def test_a_broker_redis_killed_and_restarted_mid_campaign_loses_and_doubles_no_judgment(worker_factory):
    from arena.celery import app

    redis = RedisServer().start()
    broker = {"CELERY_BROKER_URL": redis.url, "REDIS_URL": redis.url, "JUDGES_LIMITS_REDIS_URL": redis.url}
    prompt_set, contenders = make_arena(n_prompts=25, slugs=("alpha", "bravo", "charlie"))
    try:
        with OpenAIStub(script="prefer-marker", latency=0.3) as stub:
            make_judge("fair", base_url=stub.base_url, concurrency_limit=8, timeout_seconds=5)
            worker_factory(
                queues="judge,celery", concurrency=8, name="w1", env={**FAST_BACKOFF, **broker}, beat=True
            )
            campaign = start_campaign(prompt_set, contenders, "fair")
            ids = list(Judgment.objects.filter(campaign=campaign).values_list("pk", flat=True))
            with app.connection_for_write(url=redis.url) as conn:  # the throwaway broker, not the suite's
                for start in range(0, len(ids), 4):
                    app.send_task(
                        "judges.judge_batch", args=[ids[start : start + 4]], queue="judge", connection=conn
                    )
            done = Judgment.objects.filter(campaign=campaign, status=WorkStatus.DONE)
            wait_until(lambda: done.count() >= 30, timeout=40, what="30 judgments before the broker dies")
            redis.kill()  # every queued message is lost: no persistence
            time.sleep(1)
            redis.start()  # same port, empty
            restarted_at = timezone.now()
            resumed = Judgment.objects.filter(campaign=campaign, claimed_at__gt=restarted_at)
            wait_until(resumed.exists, timeout=45, interval=0.2, what="work to resume after the restart")
            recovery = (resumed.order_by("claimed_at").first().claimed_at - restarted_at).total_seconds()
            wait_until(
                lambda: _status(campaign) == "finished",
                timeout=50,
                interval=0.5,
                what="the campaign to finish",
            )
    finally:
        redis.stop()
    print(f"\nbroker restart: work resumed {recovery:.1f}s after Redis came back empty "
          f"(stall {settings.JUDGES_REQUEUE_STALLED_SECONDS}s, sweep every {settings.JUDGES_SWEEP_SECONDS}s)")  # fmt: skip
    assert recovery <= RECOVERY_LIMIT_S
    _assert_each_judgment_once(campaign, battles=75)
    assert PaidCall.objects.filter(campaign=campaign).count() == len(stub.requests)


def test_a_busy_worker_keeps_taking_work_across_repeated_broker_restarts(worker_factory):
    """Ten broker restarts in a row, each while the worker has calls in flight and messages unacknowledged:
    after each, judgments sent only to the new Redis are taken at once. With kombu's own Redis transport the
    worker stopped (status 1) in about one restart in ten: messages of the old channel acknowledged after the
    reconnect raised AttributeError (arena/broker_transport.py)."""
    from arena.celery import app

    redis = RedisServer().start()
    # Beat's sweep is off (once an hour): only the messages this test sends give the worker work.
    broker = {"CELERY_BROKER_URL": redis.url, "REDIS_URL": redis.url, "JUDGES_LIMITS_REDIS_URL": redis.url,
              "JUDGES_SWEEP_SECONDS": "3600"}  # fmt: skip
    prompt_set, contenders = make_arena(n_prompts=100, slugs=("alpha", "bravo", "charlie"))  # 600 judgments
    waits: list[float] = []
    try:
        with OpenAIStub(script="prefer-marker", latency=0.4) as stub:
            make_judge("fair", base_url=stub.base_url, concurrency_limit=8, timeout_seconds=5)
            worker = worker_factory(
                queues="judge,celery", concurrency=8, name="w1", env={**FAST_BACKOFF, **broker}
            )
            campaign = start_campaign(prompt_set, contenders, "fair")
            unsent = list(
                Judgment.objects.filter(campaign=campaign, status=WorkStatus.PENDING)
                .order_by("pk")
                .values_list("pk", flat=True)
            )

            def send(n: int) -> list[int]:
                """The next `n` judgments never sent before, in batches of four."""
                ids, unsent[:n] = unsent[:n], []
                assert len(ids) == n, "the campaign ran out of judgments never sent"
                with app.connection_for_write(url=redis.url) as conn:
                    for start in range(0, n, 4):
                        app.send_task(
                            "judges.judge_batch",
                            args=[ids[start : start + 4]],
                            queue="judge",
                            connection=conn,
                        )
                return ids

            for restart in range(1, 11):
                send(48)
                # Calls in flight, their messages unacknowledged; a different moment in each round.
                time.sleep(1.0 + 0.15 * restart)
                redis.kill()
                time.sleep(1)
                redis.start()
                began = time.monotonic()
                fresh = Judgment.objects.filter(
                    pk__in=send(4), claimed_at__isnull=False
                )  # only on the new Redis
                try:
                    wait_until(
                        fresh.exists, timeout=20, interval=0.2, what=f"work after broker restart {restart}"
                    )
                except AssertionError as exc:
                    raise AssertionError(f"{exc} (worker exit status {worker.proc.poll()})") from exc
                waits.append(time.monotonic() - began)
            assert worker.proc.poll() is None, "the worker exited"
    finally:
        redis.stop()
    print(f"\n10 broker restarts: judgments sent after each taken {min(waits):.1f}–{max(waits):.1f} s later")
    assert not any("Unrecoverable error" in line for line in worker.log)
