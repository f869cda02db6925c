"""Planned boards and fitted snapshots as bytes, for the job rows workers take them from and return them in.

A planned board travels as an ``.npz`` archive (numpy's own format, read with ``allow_pickle=False``): one
member per array and a JSON header for the rest. A fitted board is stored by its worker under the run; its
job's result (JSON) only says where: the board's place in the plan, the snapshot's id and status.
"""

from __future__ import annotations

import io
from dataclasses import fields
from typing import Any

import numpy as np
import orjson

from leaderboard.models import Snapshot
from leaderboard.rating import PairCounts
from leaderboard.services.board_plan import PlannedBoard
from leaderboard.services.boards import BoardInput, BoardKey, SourceGroup
from leaderboard.services.calibration import LabelledRows
from leaderboard.services.fitting import BoardData, StyleData

_COUNTS = ("wins", "ties", "score_squares")
_STYLE = tuple(field.name for field in fields(StyleData))
_LABELLED = tuple(field.name for field in fields(LabelledRows))


class PackingError(ValueError):
    """Bytes that are not a packed board or snapshot of this format (a job row from another version)."""


def planned_board_pack(planned: PlannedBoard) -> bytes:
    key, data = planned.board.key, planned.board.data
    header = {
        "order": planned.order,
        "fingerprint": planned.fingerprint,
        "source": {field.name: getattr(key.source, field.name) for field in fields(SourceGroup)},
        "dimension_id": key.dimension_id,
        "category": key.category,
        "contender_ids": list(data.contender_ids),
        "models": list(data.counts.models),
        "n_verdicts": data.n_verdicts,
        "covered": [planned.covered[cid] for cid in data.contender_ids],
        "style": data.style is not None,
        "labelled": planned.labelled is not None,
    }
    arrays = {name: getattr(data.counts, name) for name in _COUNTS}
    if data.style is not None:
        arrays |= {f"style_{name}": getattr(data.style, name) for name in _STYLE}
    if planned.labelled is not None:
        arrays |= {f"labelled_{name}": getattr(planned.labelled, name) for name in _LABELLED}
    narrowed: dict[str, Any] = {name: _narrowed(array) for name, array in arrays.items()}
    header["restore"] = {
        name: array.dtype.str for name, array in arrays.items() if narrowed[name] is not array
    }
    buffer = io.BytesIO()
    np.savez(buffer, header=np.frombuffer(orjson.dumps(header), np.uint8), **narrowed)
    return buffer.getvalue()


def _narrowed(array: np.ndarray) -> np.ndarray:
    """`array` as uint32 when that loses nothing (style counts, weights and indices are whole numbers kept as
    floats or int64): the packed board is half the size. Otherwise `array` itself."""
    if array.dtype == np.uint32 or array.dtype.kind not in "iuf" or array.size == 0:
        return array
    with np.errstate(invalid="ignore"):
        whole = (array >= 0) & (array < 2**32) & (array == np.floor(array)) & ~np.signbit(array)
    return array.astype(np.uint32) if whole.all() else array


def planned_board_unpack(packed: bytes) -> PlannedBoard:
    try:
        with np.load(io.BytesIO(packed), allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
        header = orjson.loads(arrays.pop("header").tobytes())
        for name, dtype in header["restore"].items():
            arrays[name] = arrays[name].astype(np.dtype(dtype))
    except (ValueError, OSError, KeyError, orjson.JSONDecodeError) as error:
        raise PackingError(f"not a packed board: {error}") from error
    source = dict(header["source"], source_ids=tuple(header["source"]["source_ids"]))
    key = BoardKey(SourceGroup(**source), header["dimension_id"], header["category"])
    counts = PairCounts(tuple(header["models"]), *(arrays[name] for name in _COUNTS))
    style = StyleData(**{name: arrays[f"style_{name}"] for name in _STYLE}) if header["style"] else None
    ids = tuple(header["contender_ids"])
    data = BoardData(ids, counts, header["n_verdicts"], style)
    labelled = None
    if header["labelled"]:
        labelled = LabelledRows(**{name: arrays[f"labelled_{name}"] for name in _LABELLED})
    covered = {cid: (answered, total) for cid, (answered, total) in zip(ids, header["covered"], strict=True)}
    return PlannedBoard(header["order"], BoardInput(key, data), covered, labelled, header["fingerprint"])


def stored_snapshot_pack(order: int, snapshot: Snapshot) -> bytes:
    """A job's result: the board's place in its run's plan, and the id and status of the snapshot its worker
    stored under the run."""
    return orjson.dumps({"order": order, "snapshot_id": snapshot.pk, "status": snapshot.status})


def stored_snapshot_unpack(packed: bytes) -> tuple[int, int, str]:
    """(order in the plan, snapshot id, status) of `stored_snapshot_pack`."""
    try:
        stored = orjson.loads(packed)
        return int(stored["order"]), int(stored["snapshot_id"]), str(stored["status"])
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as error:
        raise PackingError(f"not a packed snapshot: {error}") from error
