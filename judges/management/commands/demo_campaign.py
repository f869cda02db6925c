"""A `make demo` step (see DEMO_STEPS in arena/management/commands/demo.py): offline lexical judges and a
finished campaign over the demo arena.

Runs the campaign in this process, through the same service a worker runs for each judgment, so the demo
shows finished judge verdicts (and their inconsistencies) at once, without waiting for the worker. Safe to
run twice: configs are reused and the campaign is not started again once it exists.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand

from arena.demo.loader import PROMPT_SET_SLUG
from arena.models import Contender
from judges.models import Campaign, JudgeConfig, Judgment, WorkStatus
from judges.services.campaigns import CampaignSpec, campaign_start
from judges.services.configs import JudgeConfigData, judge_config_create
from judges.services.judging import judgment_run
from judges.services.progress import campaign_progress

CAMPAIGN_NAME = "Demo: offline lexical judges on arena-starter"
JUDGES = {
    "lexical-token-f1": ("Lexical: token F1 against the reference", "token_f1"),
    "lexical-contains": ("Lexical: contains the reference", "contains"),
}


class Command(BaseCommand):
    help = "Create offline lexical judge configs and run a finished judge campaign over the demo arena."

    def handle(self, *args, **options):
        for slug, (name, model) in JUDGES.items():
            if not JudgeConfig.objects.filter(slug=slug).exists():
                data = JudgeConfigData(
                    name=name, provider="lexical", model=model, dimensions=["overall", "correctness"],
                    sees_reference=True, concurrency_limit=4,
                )  # fmt: skip
                judge_config_create(slug=slug, data=data)
        campaign = Campaign.objects.filter(name=CAMPAIGN_NAME).first()
        if campaign is None:
            campaign = self._run()
        progress = campaign_progress(campaign=campaign)
        self.stdout.write(
            f"Demo judge campaign #{campaign.pk} {campaign.status}: {progress.done}/{progress.total} judgments, "
            f"{progress.final_verdicts} verdicts, {progress.inconsistent} inconsistent."
        )

    def _run(self) -> Campaign:
        approved = Contender.objects.filter(
            status=Contender.Status.APPROVED, outputs__prompt__prompt_set__slug=PROMPT_SET_SLUG
        )
        spec = CampaignSpec(
            contenders=sorted(set(approved.values_list("slug", flat=True))), prompt_set=PROMPT_SET_SLUG,
            judges=list(JUDGES), plan="all-pairs", name=CAMPAIGN_NAME,
        )  # fmt: skip
        campaign = campaign_start(spec=spec, enqueue=False)
        pending = Judgment.objects.filter(campaign=campaign, status=WorkStatus.PENDING).values_list(
            "pk", flat=True
        )
        for pk in list(pending):
            judgment_run(judgment_id=pk)
        campaign.refresh_from_db()
        return campaign
