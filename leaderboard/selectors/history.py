"""A contender's rating across the kept runs of one leaderboard (dimension × category × source)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from arena.models import Contender
from leaderboard.board_query import BoardQuery
from leaderboard.models import RecomputeRun, Snapshot, SnapshotRow
from leaderboard.selectors.board import ContenderRow, row_view
from leaderboard.selectors.standing import standings_apply


@dataclass(frozen=True)
class HistoryPoint:
    run_id: int
    finished: datetime
    row: ContenderRow  # with `standing` and `rank` as the page showed them then


def rating_history(query: BoardQuery, contender: Contender, *, limit: int = 200) -> list[HistoryPoint]:
    """The contender's row on the query's leaderboard in each finished run, oldest first (runs where the
    board was not fitted or the contender absent are left out)."""
    snapshots = list(
        Snapshot.objects.filter(
            run__status=RecomputeRun.Status.DONE,
            dimension=query.dimension,
            category=query.category,
            source_key=query.source_key,
            status=Snapshot.Status.OK,
            rows__contender=contender,
        )
        .select_related("run")
        .order_by("-run__finished")[:limit]
    )
    rows = SnapshotRow.objects.filter(
        snapshot__in=snapshots, contender__status=Contender.Status.APPROVED
    ).select_related("contender")
    by_snapshot: dict[int, list[ContenderRow]] = defaultdict(list)
    for row in rows.order_by("snapshot_id", "position"):
        by_snapshot[row.snapshot_id].append(row_view(row))
    points = []
    for snapshot in reversed(snapshots):
        ranked = standings_apply(by_snapshot[snapshot.pk])
        mine = next((r for r in ranked if r.contender_id == contender.pk), None)
        if mine is not None:
            points.append(HistoryPoint(snapshot.run_id, snapshot.run.finished, mine))
    return points
