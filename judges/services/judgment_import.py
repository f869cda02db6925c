"""Outside judgment studies (qlora, mtbench) into the database under one judge source; all or nothing.

What an import creates, all inside one transaction:
- a `Source(kind="judge")` keyed `source_key` and an inactive `JudgeConfig` of the same slug with provider
  "imported" (never called: campaigns only offer active configs), whose version records the judge model;
- contenders by system name (reused when the slug exists; new ones pending review unless `approve_new`),
  a prompt set "imported-<key>" with the study's real questions, and each system's answer text as the judge
  saw it (style counts included, so length and style figures work);
- one battle per question × unordered pair of systems (answer A = the system whose name sorts first), its two
  judgments (order "shown": A first; "swapped": B first) with the judge's positional verdict and review, and,
  when both orders parsed, the final verdict and the arena verdict (through `verdicts_record`, the verdict
  ledger), inconsistent orders becoming a flagged tie exactly as for live judges.

Importing the same study again adds nothing (every row is unique on what it describes). Anything wrong — an
unreadable file (named with its line), a source key owned by people, an import or a live judge, an answer
text that differs from the one stored for that system and question — writes nothing.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from arena.errors import Invalid
from arena.models import Battle, Contender, Dimension, Output, Prompt, PromptSet, Source
from arena.services.imported_contenders import contender_slugs, contenders_ensure
from arena.services.style import style_counts
from arena.services.verdicts import VerdictEntry, verdicts_record
from judges.judgment_files import JUDGMENT_FORMATS, JudgmentFileError, Study, study_read
from judges.models import Campaign, FinalVerdict, JudgeConfig, JudgeConfigVersion, Judgment, WorkStatus
from judges.services.configs import judge_config_version_current
from judges.services.consistency import combine_orders

IMPORTED_PROVIDER = "imported"
BATCH = 2000


@dataclass(frozen=True)
class JudgmentImportResult:
    source: Source
    version: JudgeConfigVersion
    prompt_set: PromptSet
    units: int
    judgments_created: int
    verdicts_created: int
    inconsistent: int
    contenders_created: tuple[str, ...]
    contenders_pending: tuple[str, ...]


def judgments_import(
    *, path: str, file_format: str, source_key: str, source_name: str | None = None, approve_new: bool = False
) -> JudgmentImportResult:
    """Import the study at `path` (see the module docstring); raises `Invalid` and writes nothing when
    anything is wrong."""
    if file_format not in JUDGMENT_FORMATS:
        raise Invalid(
            f"Unknown format {file_format!r}: use one of {', '.join(JUDGMENT_FORMATS)}.", field="format"
        )
    _check_key(source_key)
    try:
        study = study_read(path, file_format)
    except JudgmentFileError as error:
        raise Invalid(str(error), field="path") from error
    slugs = contender_slugs(kind="System name", names=sorted({system for system, _ in study.answers}))
    with transaction.atomic():
        return _write(study, slugs, source_key, source_name or f"{study.judge} (imported)", approve_new, path)


def _check_key(key: str) -> None:
    if not key or slugify(key) != key or key in ("judges", "people") or len(key) > 80:
        raise Invalid(
            f"Source key {key!r} is not usable: use lowercase letters, digits and hyphens, up to 80 characters "
            "(and not 'judges' or 'people').",
            field="source",
        )


def _write(study: Study, slugs, key, name, approve_new, path) -> JudgmentImportResult:
    overall = Dimension.objects.filter(slug="overall").first()
    if overall is None:
        raise Invalid("Dimension 'overall' is missing; run `manage.py migrate` first.")
    source, config = _judge(key, name)
    config.dimensions.set([overall])
    version = _version(config, study.judge)
    prompt_set, _ = PromptSet.objects.get_or_create(
        slug=f"imported-{key}"[:100], defaults={"name": f"Imported judgments: {name}"[:200]}
    )
    campaign = _campaign(prompt_set, version, name)
    note = f"Created by import_judgments from {path}."
    contenders, created = contenders_ensure(slugs, approve_new=approve_new, note=note)
    prompts = _prompts(prompt_set, study)
    outputs = _outputs(study, contenders, prompts)
    battles = _battles(study, contenders, prompts, outputs)
    judgments_before = Judgment.objects.filter(config_version=version).count()
    _judgments(study, battles, version, campaign)
    verdicts, inconsistent = _verdicts(study, battles, version, campaign, source, overall)
    pending = tuple(sorted(c.slug for c in contenders.values() if c.status != Contender.Status.APPROVED))
    return JudgmentImportResult(
        source=source, version=version, prompt_set=prompt_set, units=len(study.units),
        judgments_created=Judgment.objects.filter(config_version=version).count() - judgments_before,
        verdicts_created=verdicts, inconsistent=inconsistent,
        contenders_created=tuple(created), contenders_pending=pending,
    )  # fmt: skip


def _judge(key: str, name: str) -> tuple[Source, JudgeConfig]:
    source = Source.objects.filter(key=key).first()
    if source is not None and source.kind != Source.Kind.JUDGE:
        raise Invalid(
            f"Source {key!r} already exists as a {source.get_kind_display()} source; pass --source with another key.",
            field="source",
        )
    config = JudgeConfig.objects.filter(slug=key).first()
    if config is not None and (config.provider != IMPORTED_PROVIDER or config.source.key != key):
        raise Invalid(
            f"Judge config {key!r} is a live judge ({config.provider}); imported judgments need their own key: "
            "pass --source with another key.",
            field="source",
        )
    if source is not None and config is None:
        raise Invalid(
            f"Source {key!r} belongs to another judge; pass --source with another key.", field="source"
        )
    if config is not None:
        return source, config
    source = Source.objects.create(kind=Source.Kind.JUDGE, key=key, name=name[:200])
    config = JudgeConfig.objects.create(
        slug=key, name=name[:200], provider=IMPORTED_PROVIDER, model="-", is_active=False, source=source
    )
    return source, config


def _version(config: JudgeConfig, judge_model: str) -> JudgeConfigVersion:
    if config.model != judge_model:
        JudgeConfig.objects.filter(pk=config.pk).update(model=judge_model[:200])
        config.model = judge_model[:200]
    return judge_config_version_current(config=config)


def _campaign(prompt_set: PromptSet, version: JudgeConfigVersion, name: str) -> Campaign:
    title = f"Imported judgments: {name}"[:200]
    campaign = Campaign.objects.filter(name=title, prompt_set=prompt_set).first()
    if campaign is None:
        now = timezone.now()
        campaign = Campaign.objects.create(
            name=title, prompt_set=prompt_set, status=Campaign.Status.FINISHED, finished_at=now
        )
    campaign.judges.add(version)
    return campaign


def _prompts(prompt_set: PromptSet, study: Study) -> dict[str, int]:
    Prompt.objects.bulk_create(
        (
            Prompt(prompt_set=prompt_set, external_id=q.key[:100], text=q.text, category=q.category[:100])
            for q in study.questions.values()
        ),
        batch_size=BATCH,
        ignore_conflicts=True,
    )
    stored = {
        key: (pk, text) for key, pk, text in prompt_set.prompts.values_list("external_id", "id", "text")
    }
    for question in study.questions.values():
        if stored[question.key[:100]][1] != question.text:
            raise Invalid(
                f"Question {question.key} differs from the one stored in prompt set {prompt_set.slug!r}; "
                "import a changed study under a new --source key."
            )
    return {key: pk for key, (pk, _) in stored.items()}


def _outputs(study: Study, contenders, prompts) -> dict[tuple[str, str], int]:
    wanted = {}
    for question, low, high in study.units:
        for system in (low, high):
            wanted[system, question] = (
                contenders[system].pk,
                prompts[question],
                study.answers[system, question],
            )
    Output.objects.bulk_create(
        (Output(contender_id=c, prompt_id=p, text=t, **style_counts(t)) for c, p, t in wanted.values()),
        batch_size=BATCH,
        ignore_conflicts=True,
    )
    stored = {
        (c, p): (i, t)
        for c, p, i, t in Output.objects.filter(prompt_id__in=set(prompts.values())).values_list(
            "contender_id", "prompt_id", "id", "text"
        )
    }
    out = {}
    for (system, question), (c, p, text) in wanted.items():
        output_id, stored_text = stored[c, p]
        if stored_text != text:
            raise Invalid(
                f"The stored answer of {system} to question {question} differs from the one in {system}'s file; "
                "import changed answers under a new --source key."
            )
        out[system, question] = output_id
    return out


def _battles(study: Study, contenders, prompts, outputs) -> dict[tuple[str, str, str], Battle]:
    rows = {
        unit: Battle(
            prompt_id=prompts[unit[0]],
            output_a_id=outputs[unit[1], unit[0]],
            output_b_id=outputs[unit[2], unit[0]],
            contender_a_id=contenders[unit[1]].pk,
            contender_b_id=contenders[unit[2]].pk,
        )  # fmt: skip
        for unit in study.units
    }
    Battle.objects.bulk_create(rows.values(), batch_size=BATCH, ignore_conflicts=True)
    stored = {
        (a, b): battle
        for battle in Battle.objects.filter(prompt_id__in=set(prompts.values()))
        for a, b in [(battle.output_a_id, battle.output_b_id)]
    }
    return {unit: stored[row.output_a_id, row.output_b_id] for unit, row in rows.items()}


def _content_key(version: JudgeConfigVersion, study: Study, unit, first: str) -> str:
    question, low, high = unit
    second = high if first == low else low
    digest = hashlib.sha256()
    for part in (
        version.fingerprint,
        study.questions[question].text,
        study.answers[first, question],
        study.answers[second, question],
    ):
        data = part.encode()
        digest.update(len(data).to_bytes(8, "big"))
        digest.update(data)
    return digest.hexdigest()


def _judgments(study: Study, battles, version: JudgeConfigVersion, campaign: Campaign) -> None:
    now = timezone.now()
    rows = []
    for unit, orders in study.units.items():
        battle = battles[unit]
        for first, order in orders.items():
            parsed = order.choice is not None
            rows.append(
                Judgment(
                    campaign=campaign,
                    battle=battle,
                    config_version=version,
                    order=Judgment.Order.SHOWN if first == unit[1] else Judgment.Order.SWAPPED,
                    content_key=_content_key(version, study, unit, first),
                    status=WorkStatus.DONE if parsed else WorkStatus.PARSE_FAILED,
                    verdicts={"overall": order.choice} if parsed else None,
                    raw_text=order.text,
                    finished_at=now,
                    attempts=1,
                    parse_error="" if parsed else f"the study marks this judgment unparsed ({order.where})",
                    error_kind="" if parsed else "parse",
                )  # fmt: skip
            )
    Judgment.objects.bulk_create(rows, batch_size=BATCH, ignore_conflicts=True)


def _verdicts(study: Study, battles, version, campaign, source, dimension) -> tuple[int, int]:
    """Final and arena verdicts for every unit whose two orders both parsed. Returns (new verdicts,
    inconsistent units)."""
    pairs: dict[int, dict[str, tuple[int, str]]] = {}
    ids = [b.pk for b in battles.values()]
    for pk, battle_id, order, verdicts in Judgment.objects.filter(
        config_version=version, battle_id__in=ids, status=WorkStatus.DONE
    ).values_list("pk", "battle_id", "order", "verdicts"):
        pairs.setdefault(battle_id, {})[order] = (pk, verdicts["overall"])
    settled = []  # (battle, shown judgment id, swapped judgment id, outcome, inconsistent)
    for battle in battles.values():
        pair = pairs.get(battle.pk, {})
        if len(pair) == 2:
            shown_id, shown = pair[Judgment.Order.SHOWN]
            swapped_id, swapped = pair[Judgment.Order.SWAPPED]
            settled.append((battle, shown_id, swapped_id, *combine_orders(shown, swapped)))
    recorded = verdicts_record([
        VerdictEntry(
            battle_id=battle.pk, contender_a_id=battle.contender_a_id, contender_b_id=battle.contender_b_id,
            dimension_id=dimension.pk, source_id=source.pk, outcome=outcome, inconsistent=flagged,
        )
        for battle, _, _, outcome, flagged in settled
    ])  # fmt: skip
    # A verdict the ledger held already keeps the final verdict that owns it, if one does.
    owned = set(
        FinalVerdict.objects.filter(verdict_id__in=[r.id for r in recorded if not r.created]).values_list(
            "verdict_id", flat=True
        )
    )
    finals = [
        FinalVerdict(
            battle=battle, dimension=dimension, config_version=version, campaign=campaign, outcome=outcome,
            inconsistent=flagged, shown_id=shown_id, swapped_id=swapped_id,
            verdict_id=None if verdict.id in owned else verdict.id,
        )
        for (battle, shown_id, swapped_id, outcome, flagged), verdict in zip(settled, recorded, strict=True)
    ]  # fmt: skip
    FinalVerdict.objects.bulk_create(finals, batch_size=BATCH, ignore_conflicts=True)
    return sum(r.created for r in recorded), sum(flagged for *_, flagged in settled)
