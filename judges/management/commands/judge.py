"""`manage.py judge`: judge configs and campaigns from the shell, through the same services as the pages.

judge configs
judge estimate --contenders a,b,c --prompt-set S --judge CONFIG [--plan all-pairs] [--baseline X] [--k N]
judge start    (same options) [--name NAME] [--wait [--timeout SECONDS]]
judge generate --contenders a,b --prompt-set S [--wait]
judge status ID [--json]
judge pause ID | resume ID | cancel ID
judge sweep     (recovery pass over running campaigns; beat runs it every JUDGES_SWEEP_SECONDS)
"""

from __future__ import annotations

import json
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from arena.error_responses import command_error
from arena.errors import DomainError
from judges import selectors
from judges.models import Campaign
from judges.services.campaigns import PLANS, CampaignSpec, campaign_estimate, campaign_start
from judges.services.generation import generation_start
from judges.services.lifecycle import campaign_cancel, campaign_pause, campaign_resume
from judges.services.progress import Progress, campaign_progress
from judges.services.reconcile import campaign_reconcile, campaigns_sweep

ACTIONS = {"pause": campaign_pause, "resume": campaign_resume, "cancel": campaign_cancel}


def _slugs(values: list[str]) -> list[str]:
    return [slug.strip() for value in values for slug in value.split(",") if slug.strip()]


class Command(BaseCommand):
    help = "Judge configs and campaigns: configs, estimate, start, generate, status, pause, resume, cancel, sweep."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="subcommand", required=True)
        sub.add_parser(
            "configs", help="List judge configs (the API key is never shown, only where it is read)."
        )
        for name in ("estimate", "start"):
            p = sub.add_parser(name, help=f"{name.title()} a judge campaign.")
            p.add_argument("--contenders", action="append", required=True, help="Slugs, comma-separated.")
            p.add_argument("--prompt-set", required=True)
            p.add_argument(
                "--judge", action="append", required=True, help="Judge config slugs (repeat or comma)."
            )
            p.add_argument("--plan", default="all-pairs", help=f"One of: {', '.join(PLANS)}.")
            p.add_argument("--baseline", default="")
            p.add_argument("--k", type=int, default=1)
            p.add_argument("--seed", type=int, default=0)
            if name == "start":
                self._add_start_options(p)
        g = sub.add_parser("generate", help="Generate missing outputs from contenders' endpoints.")
        g.add_argument("--contenders", action="append", required=True)
        g.add_argument("--prompt-set", required=True)
        self._add_start_options(g)
        s = sub.add_parser("status", help="Progress of a campaign.")
        s.add_argument("campaign_id", type=int)
        s.add_argument("--json", action="store_true")
        for name in ACTIONS:
            sub.add_parser(name, help=f"{name.title()} a campaign.").add_argument("campaign_id", type=int)
        sub.add_parser("sweep", help="Recover stale claims and lost messages of running campaigns.")

    @staticmethod
    def _add_start_options(p) -> None:
        p.add_argument("--name", default="")
        p.add_argument("--wait", action="store_true", help="Wait until it finishes, printing progress.")
        p.add_argument(
            "--timeout", type=float, default=0, help="With --wait: give up after this many seconds."
        )

    def handle(self, *args, subcommand: str, **options):
        try:
            getattr(self, f"_{subcommand}")(**options)
        except DomainError as exc:
            raise command_error(exc) from None

    def _configs(self, **_):
        for c in selectors.judge_configs_all():
            version = f"v{c.current_version.number}" if c.current_version else "-"
            dims = ",".join(d.slug for d in c.dimensions.all())
            self.stdout.write(
                f"{c.slug:<24} {version:<4} {c.provider}:{c.model} {c.base_url or '(default)'} key={c.api_key_reference} "
                f"dims={dims} ${c.price_input_per_mtok}/{c.price_output_per_mtok} per 1M, concurrency {c.concurrency_limit}"
                f"{'' if c.is_active else ' (inactive)'}"
            )

    def _spec(self, options) -> CampaignSpec:
        return CampaignSpec(
            contenders=_slugs(options["contenders"]), prompt_set=options["prompt_set"],
            judges=_slugs(options["judge"]), plan=options["plan"], baseline=options["baseline"],
            k=options["k"], seed=options["seed"], name=options.get("name", ""),
        )  # fmt: skip

    def _estimate(self, **options):
        estimate = campaign_estimate(spec=self._spec(options)).estimate
        self.stdout.write(
            f"{estimate.calls} calls ({estimate.reused} from the reuse cache, {estimate.already_judged} already "
            f"judged), ~{estimate.tokens_in} input tokens, <= {estimate.tokens_out} output tokens, "
            f"<= ${estimate.cost:.4f}"
        )
        for slug, row in estimate.by_judge.items():
            self.stdout.write(f"  {slug} v{row['version']}: {row['calls']} calls, <= ${row['cost_usd']:.4f}")

    def _start(self, **options):
        campaign = campaign_start(spec=self._spec(options))
        self._started(campaign, options)

    def _generate(self, **options):
        campaign = generation_start(
            contender_slugs=_slugs(options["contenders"]),
            prompt_set_slug=options["prompt_set"],
            name=options["name"],
        )
        self._started(campaign, options)

    def _started(self, campaign: Campaign, options) -> None:
        self.stdout.write(
            f"Campaign {campaign.pk} started: {campaign.name} ({campaign.est_calls} calls estimated)"
        )
        if options["wait"]:
            self._wait(campaign.pk, options["timeout"])

    def _status(self, campaign_id: int, json: bool = False, **_):
        campaign = selectors.campaign_get_or_404(campaign_id)
        progress = campaign_progress(campaign=campaign)
        if json:
            self.stdout.write(_json({**selectors.campaign_summary(campaign), "progress": progress.as_dict()}))
        else:
            self.stdout.write(f"Campaign {campaign.pk} {campaign.name}: {_line(progress)}")
            for error in progress.errors:
                self.stdout.write(f"  failed {error['count']} x {error['message']}")
            if campaign.last_error:
                self.stdout.write(f"  stopped a judge: {campaign.last_error}")

    def _pause(self, campaign_id: int, **_):
        self._act("pause", campaign_id)

    def _resume(self, campaign_id: int, **_):
        self._act("resume", campaign_id)

    def _cancel(self, campaign_id: int, **_):
        self._act("cancel", campaign_id)

    def _act(self, action: str, campaign_id: int) -> None:
        campaign = selectors.campaign_get_or_404(campaign_id)
        changed = ACTIONS[action](campaign=campaign)
        campaign.refresh_from_db()
        self.stdout.write(
            f"Campaign {campaign.pk}: {'done' if changed else 'nothing to do'}; now {campaign.status}."
        )

    def _sweep(self, **_):
        for pk, result in campaigns_sweep().items():
            self.stdout.write(f"Campaign {pk}: {result}")

    def _wait(self, campaign_id: int, timeout: float) -> None:
        started, last_sweep = time.monotonic(), time.monotonic()
        while True:
            campaign = selectors.campaign_get_or_404(campaign_id)
            progress = campaign_progress(campaign=campaign)
            self.stdout.write(_line(progress))
            if campaign.status != Campaign.Status.RUNNING:
                break
            if timeout and time.monotonic() - started > timeout:
                raise CommandError(
                    f"Campaign {campaign_id} still running after {timeout:g}s; it keeps running."
                )
            if time.monotonic() - last_sweep >= settings.JUDGES_SWEEP_SECONDS:
                campaign_reconcile(campaign_id=campaign_id)  # no beat needed while someone waits
                last_sweep = time.monotonic()
            time.sleep(2)
        if progress.failed:
            raise CommandError(
                f"Campaign {campaign_id} ended {campaign.status} with {progress.failed} failures."
            )


def _line(p: Progress) -> str:
    eta = f", ETA {p.eta_s:.0f}s" if p.eta_s is not None else ""
    return (
        f"{p.status}: {p.done}/{p.total} done, {p.pending} pending, {p.running} running, {p.failed} failed, "
        f"{p.parse_failed} parse failures, {p.inconsistent} inconsistent, {p.rate}/s, ${p.spend:.4f}{eta}"
    )


def _json(data) -> str:
    return json.dumps(data, indent=2, default=str)
