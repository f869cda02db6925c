"""A digest of everything one leaderboard is fitted and stored from: equal digests give equal snapshots.

A fanned-out recompute (leaderboard.services.fanout) copies the previous run's snapshot of a board whose
digest did not change instead of fitting it again. So the digest covers every input of `board_fit`,
`board_calibrate`, `snapshot_build` and `snapshot_rows_build`: the run's fit settings, the board's identity
(source, dimension, category), its contenders and their slugs, the pair counts, the style groups, the battles
people also judged (calibrated boards only) and each contender's prompt coverage.

What it cannot see is the code: bump FINGERPRINT_VERSION whenever fitting or storing changes what a snapshot
holds for the same inputs, so that the next run refits every board.
"""

from __future__ import annotations

import hashlib
from dataclasses import fields

import numpy as np
import orjson

from leaderboard.services.boards import BoardInput
from leaderboard.services.calibration import LabelledRows
from leaderboard.services.fitting import FitSettings
from leaderboard.services.storing import Covered

# 2: calibration converges on sparse boards that used to fail ("did not converge"); intervals move by
# under 1e-7 Elo points elsewhere.
FINGERPRINT_VERSION = 2


def board_fingerprint(
    board: BoardInput, fits: FitSettings, *, covered: Covered, labelled: LabelledRows | None
) -> str:
    """The hex SHA-256 of the board's inputs (see the module docstring); `labelled` is the slice
    `board_calibrate` would use (None when the board is not calibrated or people judged none of it)."""
    key, data = board.key, board.data
    header = {
        "version": FINGERPRINT_VERSION,
        "settings": fits.as_dict(),
        "source": [key.source.key, key.source.kind, key.source.name, list(key.source.source_ids)],
        "source_id": key.source.source_id,
        "dimension": key.dimension_id,
        "category": key.category,
        "contenders": list(data.contender_ids),
        "models": list(data.counts.models),
        "n_verdicts": data.n_verdicts,
        "covered": [covered.get(cid, (None, None)) for cid in data.contender_ids],
        "style": data.style is not None,
        "labelled": labelled is not None,
    }
    digest = hashlib.sha256(orjson.dumps(header, option=orjson.OPT_SORT_KEYS))
    arrays = [data.counts.wins, data.counts.ties, data.counts.score_squares]
    if data.style is not None:
        arrays += [getattr(data.style, field.name) for field in fields(data.style)]
    if labelled is not None:
        arrays += [getattr(labelled, field.name) for field in fields(labelled)]
    for array in arrays:
        _add_array(digest, np.asarray(array))
    return digest.hexdigest()


def _add_array(digest, array: np.ndarray) -> None:
    # Dtype and shape first, so that equal bytes under another shape or type never collide.
    digest.update(f"{array.dtype.str}{array.shape}".encode())
    digest.update(np.ascontiguousarray(array))  # its buffer: the same bytes as tobytes(), not copied
