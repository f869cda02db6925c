"""A jury follows its members through real Celery workers: a finished judge campaign refreshes the juries,
which then ask for the leaderboard refit that shows the jury as a source."""

from __future__ import annotations

import pytest

from arena.models import Verdict
from judges.models import Campaign, JuryOrderChoice
from judges.services.campaigns import CampaignSpec, campaign_start
from judges.services.juries import jury_create
from leaderboard.models import RecomputeRun, Snapshot
from tests.judges.conftest import make_arena, make_judge
from tests.support.celery_worker import wait_until
from tests.support.openai_stub import OpenAIStub, position_biased, prefer_marker

pytestmark = pytest.mark.worker


def _by_model(body):
    """Judges 1 and 2 prefer the marked answer; judge 3 always names the first answer it is shown."""
    return (position_biased("A") if body["model"] == "m3" else prefer_marker())(body)


def test_a_finished_campaign_refreshes_the_jury_and_the_leaderboard_shows_it(worker_factory):
    prompt_set, contenders = make_arena(n_prompts=4)  # 3 pairs × 4 prompts = 12 battles
    with OpenAIStub(script=_by_model) as stub:
        for n in (1, 2, 3):
            make_judge(f"judge-{n}", model=f"m{n}", base_url=stub.base_url)
        jury = jury_create(
            slug="panel", name="Panel", method="majority", members=["judge-1", "judge-2", "judge-3"]
        )
        worker_factory(queues="judge,ratings", concurrency=4, pool="threads")
        spec = CampaignSpec(
            contenders=[c.slug for c in contenders], prompt_set=prompt_set.slug,
            judges=["judge-1", "judge-2", "judge-3"],
        )  # fmt: skip
        campaign = campaign_start(spec=spec)
        wait_until(
            lambda: Campaign.objects.get(pk=campaign.pk).status == "finished",
            timeout=120,
            what="the campaign",
        )
    run = wait_until(
        lambda: RecomputeRun.objects.filter(status="done", snapshots__source_key="panel").first(),
        timeout=90,
        what="a leaderboard run with the jury",
    )
    # Judges 1 and 2 outvote judge 3's position bias: the jury says what they say, on every battle.
    member = dict(Verdict.objects.filter(source__key="judge-judge-1").values_list("battle_id", "outcome"))
    assert dict(Verdict.objects.filter(source=jury.source).values_list("battle_id", "outcome")) == member
    assert len(member) == 12
    assert JuryOrderChoice.objects.filter(jury=jury).count() == 24  # both orders of every battle
    snapshot = Snapshot.objects.get(run=run, source_key="panel", category="", dimension__slug="overall")
    assert snapshot.source_kind == "jury" and snapshot.n_verdicts == 12
