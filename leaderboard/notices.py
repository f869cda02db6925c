"""What the leaderboard page says about its data, in plain words, each with an anchor of /leaderboard/about/.

Stored fit messages and diagnostics speak the rating core's language (components, MLE, regulariser); the
page shows these sentences instead, built from the same stored facts. No setting name appears: the about
page explains what they mean and how the numbers grow trustworthy.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

from arena.models import Contender, Source
from leaderboard.models import Snapshot
from leaderboard.selectors.board import Board


@dataclass(frozen=True)
class Notice:
    text: str
    anchor: str  # an id on the about page


def _names(slugs: list[str]) -> str:
    names = dict(Contender.objects.filter(slug__in=slugs).values_list("slug", "name"))
    shown = [names.get(slug, slug) for slug in slugs]
    return ", ".join(shown[:-1]) + (" and " if len(shown) > 1 else "") + shown[-1] if shown else ""


def _how_to_fill(source_key: str, kind: str | None) -> str:
    if kind == Source.Kind.HUMAN or source_key == "people":
        return (
            "People's votes on a dimension arrive once an annotation task's prompt set asks about it "
            "(staff choose the dimensions), and people vote."
        )
    return "LLM judges rate a dimension when a judge campaign that includes it has run."


def board_notices(board: Board) -> list[Notice]:
    """Every notice the page shows above the table for `board`, most important first."""
    query, snapshot = board.query, board.snapshot
    if query.run is None:
        return [
            Notice(
                "No leaderboard has been computed yet. Ratings appear after the first recompute, which runs "
                "on a schedule (staff can also start one).",
                "recompute",
            )
        ]
    if snapshot is None:
        where = f" in the {query.category} category" if query.category else ""
        kind = Source.objects.filter(key=query.source_key).values_list("kind", flat=True).first()
        return [
            Notice(
                f"No verdicts on {query.dimension.name}{where} from this source yet. "
                + _how_to_fill(query.source_key, kind),
                "no-data",
            )
        ]
    notices = _diagnostics(snapshot)
    if snapshot.status == Snapshot.Status.FAILED and not notices:
        anchor = "too-few" if snapshot.message.startswith("Too few") else "not-fitted"
        notices.append(Notice(snapshot.message, anchor))
    if board.n_provisional:
        notices.append(
            Notice(
                f"{_count(board.n_provisional, 'rating is', 'ratings are')} provisional (greyed, without a "
                f"rank): their 95% interval is still {settings.LEADERBOARD_PROVISIONAL_CI} points wide or "
                f"more, and they have fewer than {settings.LEADERBOARD_MIN_VOTES} votes. More votes narrow "
                "the interval.",
                "provisional",
            )
        )
    if board.incomplete:
        notices.append(
            Notice(
                f"{_count(len(board.incomplete), 'contender', 'contenders')} answered only part of the "
                "prompts this leaderboard uses, so they are listed apart below, not ranked.",
                "coverage",
            )
        )
    return notices


def _diagnostics(snapshot: Snapshot) -> list[Notice]:
    found = snapshot.diagnostics or {}
    notices = []
    components = found.get("components") or []
    if len(components) > 1:
        groups = "; ".join(f"({_names(group)})" for group in components)
        notices.append(
            Notice(
                f"Some contenders were never compared with the others, even indirectly, so their ratings "
                f"cannot share one scale. The groups are {groups}. Battles between the groups will fix this.",
                "disconnected",
            )
        )
    if found.get("never_lost"):
        notices.append(
            Notice(
                f"{_names(found['never_lost'])} has not lost or tied a battle here yet, so its rating is "
                "only a rough estimate that will settle once it does.",
                "unbeaten",
            )
        )
    if found.get("never_won"):
        notices.append(
            Notice(
                f"{_names(found['never_won'])} has not won or tied a battle here yet, so its rating is only "
                "a rough estimate that will settle once it does.",
                "unbeaten",
            )
        )
    return notices


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def style_notice(board: Board) -> Notice | None:
    """Why the style-controlled column is hidden, when it is."""
    if not board.rows or any(row.style_rating is not None for row in board.rows):
        return None
    return Notice(
        "Style-controlled ratings (which discount long or heavily formatted answers) need more battles than "
        "this leaderboard has; the column appears once there are enough.",
        "style",
    )
