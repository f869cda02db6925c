"""Rows grouped by equal values in several numpy columns, by one stable sort, no hashing.

The columns are named, sorted together (the first column the primary key: ``np.lexsort``, or one sort of
the integer columns packed into one, ranks standing for the columns packed so far when they do not fit:
the same order), and a group starts wherever any column changes from the row before. Exact for any integer or float columns, whatever their range, and the
groups come out ordered by the columns' values.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class RowGroups:
    """`first[g]`: the row that stands for group g (its first row in the original order); `group_of[r]`: the
    group of row r; groups are numbered in the sorted order of their keys."""

    first: np.ndarray
    group_of: np.ndarray

    def __len__(self) -> int:
        return len(self.first)

    def count(self) -> np.ndarray:
        """Rows per group."""
        return np.bincount(self.group_of, minlength=len(self.first)).astype(np.int64)

    def sum(self, values: np.ndarray) -> np.ndarray:
        """`values` summed per group (float)."""
        return np.bincount(self.group_of, weights=values, minlength=len(self.first))


def row_groups(columns: dict[str, np.ndarray]) -> RowGroups:
    """Group the rows of equal-length `columns` (at least one) by all their values, in the dict's order."""
    keys = list(columns.values())
    n = len(keys[0])
    if n == 0:
        return RowGroups(np.zeros(0, np.intp), np.zeros(0, np.intp))
    order = _stable_order(keys)
    starts = np.zeros(n, dtype=bool)
    starts[0] = True
    for key in keys:
        ordered = key[order]
        starts[1:] |= ordered[1:] != ordered[:-1]
    group_of = np.empty(n, dtype=np.intp)
    group_of[order] = np.cumsum(starts) - 1
    return RowGroups(first=order[starts], group_of=group_of)


def _stable_order(keys: list[np.ndarray]) -> np.ndarray:
    """``np.lexsort(keys[::-1])``: the rows sorted by the keys, the first the primary one, equal rows in their
    original order. Integer keys are packed into one int64 (each key's offset from its minimum, the first in
    the highest bits) and sorted once, stably: the same order as sorting key by key, for one sort instead of
    one per key. When they do not fit in 63 bits together, the keys packed so far are replaced by their rank
    (equal prefixes, equal ranks, in the same order) and packing goes on; once every prefix is distinct, the
    keys left cannot change the order and are not sorted."""
    n = len(keys[0])
    if not all(key.dtype.kind in "iu" for key in keys):
        return np.lexsort(keys[::-1])
    lows = [int(key.min()) for key in keys]
    widths = [max(int(key.max()) - low, 0).bit_length() for key, low in zip(keys, lows, strict=True)]
    if sum(widths) > 63 and max(widths) + (n - 1).bit_length() > 63:  # a key too wide to pack beside a rank
        return np.lexsort(keys[::-1])
    packed = np.zeros(n, dtype=np.int64)
    used = 0
    for key, low, width in zip(keys, lows, widths, strict=True):
        if used + width > 63:
            order = np.argsort(packed, kind="stable")
            packed, distinct = _ranks(packed, order)
            if distinct == n:
                return order
            used = (distinct - 1).bit_length()
        packed <<= width
        packed |= key.astype(np.int64) - low
        used += width
    return np.argsort(packed, kind="stable")


def _ranks(values: np.ndarray, order: np.ndarray) -> tuple[np.ndarray, int]:
    """Each value's rank among the distinct values (0 for the smallest), given their sorting order, and the
    number of distinct values."""
    ordered = values[order]
    starts = np.empty(len(values), dtype=bool)
    starts[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=starts[1:])
    ranks = np.empty(len(values), dtype=np.int64)
    ranks[order] = np.cumsum(starts) - 1
    return ranks, int(ranks[order[-1]]) + 1
