"""Reading a judge source's report-card rows from the database (the card itself is `judges.report.card`).

For an LLM judge config version: its judgments in both orders (done or unparsed; calls that failed for
transport reasons say nothing about the judge and are left out), its final verdicts, the battles' answer
features, people's votes on the same battles, and the newest stored leaderboards of the judge's source and
of the people on the same dimension (all categories). Other kinds of source (e.g. a jury) register a reader
with `row_reader_register`; their final verdicts come from the arena's verdict ledger.

The leaderboards are read from `leaderboard.models` (stored snapshots, read-only): comparing a judge's board
with the people's is the one place where the judges' report needs the leaderboard app's tables.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from django.db.models import Exists, OuterRef

from arena.models import Battle, Contender, Dimension, Source, Verdict
from judges.models import FinalVerdict, JudgeConfig, JudgeConfigVersion, Judgment, WorkStatus
from judges.report.card import BattleRow, BoardRow, JudgmentRow, ReportRows, VerdictRow, VoteRow
from leaderboard.models import ALL_CATEGORIES, RecomputeRun, Snapshot, SnapshotRow

RowReader = Callable[[Source, Dimension], ReportRows]
_READERS: dict[str, RowReader] = {}
PEOPLE_KEY = "people"


def row_reader_register(kind: str, reader: RowReader) -> None:
    """Let sources of `kind` (e.g. "jury") have a report card: `reader(source, dimension)` gives their rows."""
    _READERS[kind] = reader


def model_family(model: str) -> str:
    """The family of a judge model, for self-preference: the first run of letters of its last path part
    ("gpt-4o-mini" → "gpt", "meta/llama-3" → "llama"); empty when shorter than three letters."""
    match = re.match(r"[a-z]+", model.rsplit("/", 1)[-1].lower())
    family = match.group(0) if match else ""
    return family if len(family) >= 3 else ""


def contender_is_own(family: str, contender: Contender) -> bool:
    """Whether a contender belongs to the judge's model family: the family is one of the letter runs of
    its slug, name, organization or endpoint model ("answer-gpt35" and "GPT-4" are both "gpt")."""
    if not family:
        return False
    text = " ".join([contender.slug, contender.name, contender.organization, contender.endpoint_model])
    return family in re.findall(r"[a-z]+", text.lower())


def version_rows(version: JudgeConfigVersion, dimension: Dimension) -> ReportRows:
    """The report rows of one judge config version on one dimension."""
    judgments = _judgment_rows(version, dimension)
    battle_ids = {j.battle for j in judgments}
    verdicts = [
        VerdictRow(b, o)
        for b, o in FinalVerdict.objects.filter(config_version=version, dimension=dimension).values_list(
            "battle_id", "outcome"
        )
    ]
    battle_ids |= {v.battle for v in verdicts}
    family = model_family(version.model)
    source_key = version.config.source.key
    return ReportRows(
        judgments=judgments,
        battles=battle_rows(battle_ids, family),
        verdicts=verdicts,
        votes=people_votes(battle_ids, dimension),
        judge_board=board_rows(source_key, dimension),
        people_board=board_rows(PEOPLE_KEY, dimension),
    )


def source_rows(
    source: Source, dimension: Dimension, *, version: JudgeConfigVersion | None = None
) -> ReportRows:
    """Rows for any source: a judge config's given (default: current) version, or a registered reader."""
    if source.kind == Source.Kind.JUDGE:
        config = JudgeConfig.objects.select_related("current_version").filter(source=source).first()
        version = version or (config.current_version if config else None)
        if version is not None:
            return version_rows(version, dimension)
    reader = _READERS.get(source.kind)
    if reader is not None:
        return reader(source, dimension)
    return ledger_rows(source, dimension)


def ledger_rows(source: Source, dimension: Dimension) -> ReportRows:
    """Rows from the verdict ledger alone (no per-order judgments): final verdicts, votes and boards."""
    verdicts = [
        VerdictRow(b, o)
        for b, o in Verdict.objects.filter(
            source=source, dimension=dimension, outcome__isnull=False, excluded=False
        ).values_list("battle_id", "outcome")
    ]
    ids = {v.battle for v in verdicts}
    return ReportRows(
        verdicts=verdicts,
        battles=battle_rows(ids, ""),
        votes=people_votes(ids, dimension),
        judge_board=board_rows(source.key, dimension),
        people_board=board_rows(PEOPLE_KEY, dimension),
    )


def _judgment_rows(version: JudgeConfigVersion, dimension: Dimension) -> list[JudgmentRow]:
    rows = Judgment.objects.filter(
        config_version=version, status__in=[WorkStatus.DONE, WorkStatus.PARSE_FAILED]
    ).values_list("battle_id", "order", "status", "verdicts", "cost", "latency_ms")
    out = []
    for battle_id, order, status, verdicts, cost, latency in rows.iterator(chunk_size=5000):
        choice = (verdicts or {}).get(dimension.slug) if status == WorkStatus.DONE else None
        out.append(JudgmentRow(battle_id, order, choice, float(cost), latency))
    return out


def battle_rows(battle_ids: Iterable[int], family: str) -> list[BattleRow]:
    """Answer features (characters, list items, headers, bold) and own-family flags of the battles."""
    ids = list(battle_ids)
    battles = Battle.objects.filter(pk__in=ids).values_list(
        "pk", "contender_a_id", "contender_b_id",
        "output_a__n_chars", "output_b__n_chars", "output_a__n_list_items", "output_b__n_list_items",
        "output_a__n_headers", "output_b__n_headers", "output_a__n_bold", "output_b__n_bold",
    )  # fmt: skip
    rows = list(battles.iterator(chunk_size=5000))
    contender_ids = {r[1] for r in rows} | {r[2] for r in rows}
    own = {c.pk: contender_is_own(family, c) for c in Contender.objects.filter(pk__in=contender_ids)}
    return [BattleRow(*r, own_a=own[r[1]], own_b=own[r[2]]) for r in rows]


def people_votes(battle_ids: Iterable[int], dimension: Dimension) -> list[VoteRow]:
    """People's hard votes (not excluded by staff) on these battles and this dimension."""
    rows = Verdict.objects.filter(
        battle_id__in=list(battle_ids),
        dimension=dimension,
        source__kind=Source.Kind.HUMAN,
        outcome__isnull=False,
        excluded=False,
    ).values_list("battle_id", "voter_key", "outcome")
    return [VoteRow(*r) for r in rows.iterator(chunk_size=5000)]


def board_rows(source_key: str, dimension: Dimension) -> list[BoardRow]:
    """The source's leaderboard on `dimension` over all categories, from the newest finished recompute."""
    run = RecomputeRun.objects.filter(status=RecomputeRun.Status.DONE).order_by("-finished").first()
    if run is None:
        return []
    snapshot = Snapshot.objects.filter(
        run=run,
        dimension=dimension,
        category=ALL_CATEGORIES,
        source_key=source_key,
        status=Snapshot.Status.OK,
    ).first()
    if snapshot is None:
        return []
    rows = SnapshotRow.objects.filter(snapshot=snapshot).values_list(
        "contender_id", "rating", "ci_low", "ci_high"
    )
    return [BoardRow(*r) for r in rows]


def versions_reported() -> list[JudgeConfigVersion]:
    """Every judge config version with at least one final verdict, by config name then newest version first.

    Read through the final verdicts' index on the version, not by scanning judgments (a version whose every
    battle failed to parse has no card until one settles)."""
    settled = FinalVerdict.objects.filter(config_version=OuterRef("pk"))
    return list(
        JudgeConfigVersion.objects.filter(Exists(settled))
        .select_related("config__source")
        .order_by("config__name", "-number")
    )


def sources_registered() -> list[Source]:
    """Sources of the kinds a reader was registered for (juries), which have a card of their own."""
    return list(Source.objects.filter(kind__in=list(_READERS)).order_by("name"))


def _jury_rows(source: Source, dimension: Dimension) -> ReportRows:
    from judges.report.jury_rows import jury_rows  # imports this module: read on first use

    return jury_rows(source, dimension)


# Juries get report cards like judges: their per-order combined choices stand in for judgments.
row_reader_register(Source.Kind.JURY, _jury_rows)
