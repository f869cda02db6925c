"""Report cards for judge sources: finding the source and dimension asked for, and computing the cards.

Cards are computed from the stored rows when asked (nothing is fitted: the leaderboards compared are stored
snapshots) and cached for a few minutes under a key that changes when rows are added to what they read
(`_data_stamp`), so a page full of cards does not recompute the bootstraps at every view.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, Max

from arena.errors import Invalid
from arena.models import Dimension, Source, Verdict
from judges.models import FinalVerdict, JudgeConfig, JudgeConfigVersion
from judges.report.card import Disagreement, disagreements, report_card
from judges.report.selectors import (
    source_rows,
    sources_registered,
    version_rows,
    versions_reported,
)
from leaderboard.models import RecomputeRun


@dataclass(frozen=True)
class CardLine:
    """One row of the judges overview: a judge config version (or a jury source) and its card."""

    source: Source
    version: JudgeConfigVersion | None
    card: dict

    @property
    def label(self) -> str:
        return f"{self.source.name} v{self.version.number}" if self.version else self.source.name

    @property
    def slug(self) -> str:
        return f"{self.source.key}-v{self.version.number}" if self.version else self.source.key


def report_source_get(key: str) -> Source:
    """The judge (or jury) source `key`, or an `Invalid` naming the ones that have a report."""
    source = Source.objects.filter(key=key).exclude(kind__in=[Source.Kind.HUMAN, Source.Kind.IMPORT]).first()
    if source is None:
        known = ", ".join(s.key for s in report_sources()) or "none yet"
        raise Invalid(f"No judge source {key!r} (judge sources: {known}).", field="source")
    return source


def report_sources() -> list[Source]:
    """Judge sources with judgments, and registered kinds (juries)."""
    judged = {v.config.source for v in versions_reported()}
    return sorted(judged | set(sources_registered()), key=lambda s: s.name.lower())


def report_dimension_get(slug: str | None) -> Dimension:
    slug = slug or "overall"
    dimension = Dimension.objects.filter(slug=slug).first()
    if dimension is None:
        known = ", ".join(Dimension.objects.values_list("slug", flat=True))
        raise Invalid(f"No dimension {slug!r} (dimensions: {known}).", field="dimension")
    return dimension


def version_get(source: Source, number: int | None) -> JudgeConfigVersion | None:
    """The judge config version `number` of `source` (its current one when None); None for non-judges."""
    config = JudgeConfig.objects.filter(source=source).select_related("current_version").first()
    if config is None:
        if number is not None:
            raise Invalid(
                f"Source {source.key!r} has no versions (it is not a judge config).", field="version"
            )
        return None
    if number is None:
        return config.current_version
    if not 1 <= number <= 2_147_483_647:  # the column's range: a bigger number must not reach the database
        raise Invalid(f"Version must be a whole number from 1, got {number}.", field="version")
    version = config.versions.filter(number=number).first()
    if version is None:
        known = ", ".join(str(n) for n in config.versions.values_list("number", flat=True))
        raise Invalid(f"Judge {source.key!r} has no version {number} (versions: {known}).", field="version")
    return version


def _data_stamp(version: JudgeConfigVersion | None, dimension: Dimension) -> str:
    """Changes when rows the card reads are added: the version's final verdicts, any verdict or vote, a
    recompute. Each part is an indexed lookup, so checking the cache stays cheap; changes that add no row
    (a staff exclusion, a lone parse failure) show once the cached card expires (JUDGES_REPORT_CACHE_SECONDS)."""
    finals = FinalVerdict.objects.filter(config_version=version, dimension=dimension).aggregate(
        n=Count("id"), m=Max("id")
    )
    ledger = Verdict.objects.aggregate(m=Max("id"))
    run = RecomputeRun.objects.filter(status=RecomputeRun.Status.DONE).aggregate(m=Max("id"))
    return f"{finals['n']}:{finals['m']}:{ledger['m']}:{run['m']}"


def report_card_for_source(
    source: Source,
    dimension: Dimension,
    *,
    version: JudgeConfigVersion | None = None,
    rounds: int | None = None,
    seed: int = 0,
) -> dict:
    """The report card of `source` on `dimension`: a judge config's `version` (default: its current one),
    or any source kind with a registered row reader (a jury). Adds who and what it is about. `rounds`
    defaults to JUDGES_REPORT_BOOTSTRAP_ROUNDS."""
    rounds = settings.JUDGES_REPORT_BOOTSTRAP_ROUNDS if rounds is None else rounds
    if version is None and source.kind == Source.Kind.JUDGE:
        version = version_get(source, None)
    stamp = f"{source.pk}:{version.pk if version else 0}:{dimension.pk}:{rounds}:{seed}:"
    stamp += _data_stamp(version, dimension)
    key = "judge-report:" + hashlib.sha256(stamp.encode()).hexdigest()
    card = cache.get(key)
    if card is None:
        rows = version_rows(version, dimension) if version is not None else source_rows(source, dimension)
        card = report_card(rows, rounds=rounds, seed=seed)
        cache.set(key, card, settings.JUDGES_REPORT_CACHE_SECONDS)
    about = {
        "source": source.key,
        "source_name": source.name,
        "source_kind": source.kind,
        "version": version.number if version else None,
        "judge_model": version.model if version else None,
        "dimension": dimension.slug,
    }
    return {**about, **card}


def report_overview(dimension: Dimension, *, rounds: int | None = None) -> list[CardLine]:
    """One card per judge config version with judgments, then one per jury (registered) source."""
    lines = [
        CardLine(
            v.config.source, v, report_card_for_source(v.config.source, dimension, version=v, rounds=rounds)
        )
        for v in versions_reported()
    ]
    lines += [
        CardLine(s, None, report_card_for_source(s, dimension, rounds=rounds)) for s in sources_registered()
    ]
    return lines


def report_disagreements(
    source: Source, dimension: Dimension, *, version: JudgeConfigVersion | None = None
) -> list[Disagreement]:
    """Battles where the source's verdict differs from the people's strict majority, newest first."""
    if version is None and source.kind == Source.Kind.JUDGE:
        version = version_get(source, None)
    rows = version_rows(version, dimension) if version is not None else source_rows(source, dimension)
    return disagreements(rows)
