"""Reads for the leaderboard pages, exports and API: everything comes from stored snapshots, nothing is fitted.

Only approved contenders are shown, also in past runs (a contender withdrawn since disappears from them).
"""

from leaderboard.selectors.agreement import AgreementRow, agreement_table
from leaderboard.selectors.board import (
    Board,
    ContenderRow,
    ProfilePoint,
    SourceChoice,
    board_get,
    categories_in,
    dimensions_shown,
    matrix_for,
    profile_get,
    rows_sorted,
    run_running,
    runs_recent,
    snapshot_find,
    snapshot_rows,
    sources_in,
)
from leaderboard.selectors.contenders import (
    BattleExample,
    ComparisonLine,
    HeadToHead,
    RatingCell,
    battles_example,
    battles_example_withheld,
    compare_get,
    contender_pair_or_error,
    contender_public_or_404,
    contender_ratings,
    contenders_public,
    head_to_head,
)

__all__ = [
    "AgreementRow",
    "BattleExample",
    "Board",
    "ComparisonLine",
    "ContenderRow",
    "HeadToHead",
    "ProfilePoint",
    "RatingCell",
    "SourceChoice",
    "agreement_table",
    "battles_example",
    "battles_example_withheld",
    "board_get",
    "categories_in",
    "compare_get",
    "contender_pair_or_error",
    "contender_public_or_404",
    "contender_ratings",
    "contenders_public",
    "dimensions_shown",
    "head_to_head",
    "matrix_for",
    "profile_get",
    "rows_sorted",
    "run_running",
    "runs_recent",
    "snapshot_find",
    "snapshot_rows",
    "sources_in",
]
