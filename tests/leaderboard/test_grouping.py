"""Row grouping: one sort of packed integer keys orders rows exactly as sorting key by key does."""

import numpy as np
import pytest

from leaderboard.services.grouping import row_groups


def _by_lexsort(columns: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The groups `row_groups` must give, from np.lexsort (the reference order)."""
    keys = list(columns.values())
    order = np.lexsort(keys[::-1])
    starts = np.r_[True, np.any([key[order][1:] != key[order][:-1] for key in keys], axis=0)]
    group_of = np.empty(len(order), dtype=np.intp)
    group_of[order] = np.cumsum(starts) - 1
    return order[starts], group_of


@pytest.mark.parametrize(
    "ranges",
    [
        [(1, 6), (1, 7), (0, 6), (1, 101), (1, 101), (0, 5)],  # a recompute's pair keys: packed
        [(-5, 5), (-(2**40), 2**40)],  # negative values: packed from their minimum
        [(0, 2**40), (0, 2**40)],  # 80 bits together: sorted key by key
        [(3, 4), (0, 1)],  # constant columns
    ],
)
def test_groups_equal_those_of_sorting_key_by_key(ranges):
    rng = np.random.default_rng(len(ranges))
    columns = {f"k{i}": rng.integers(low, high, 5000) for i, (low, high) in enumerate(ranges)}
    groups = row_groups(columns)
    first, group_of = _by_lexsort(columns)
    assert np.array_equal(groups.first, first) and np.array_equal(groups.group_of, group_of)
    assert len(groups) < 5000 or len(ranges) == 2


def test_float_columns_are_grouped_by_value():
    rng = np.random.default_rng(3)
    columns = {"source": rng.integers(0, 3, 2000), "total": rng.integers(0, 4, 2000) / 2.0}
    groups = row_groups(columns)
    first, group_of = _by_lexsort(columns)
    assert np.array_equal(groups.first, first) and np.array_equal(groups.group_of, group_of)
    assert len(groups) == 12


@pytest.mark.parametrize(
    ("ranges", "values_per_key"),
    [
        # a style row's look: category, contenders, eight style counts (~90 bits): ranks of packed prefixes
        (
            [
                (0, 6),
                (1, 101),
                (1, 101),
                (0, 4000),
                (0, 9),
                (0, 30),
                (0, 20),
                (0, 4000),
                (0, 9),
                (0, 30),
                (0, 20),
            ],
            0,
        ),
        # wide keys of few values: prefixes tie, are ranked, and packed again with the keys left
        ([(0, 3), (0, 2**30), (0, 2), (0, 2**31), (0, 2**30), (0, 3)], 3),
        # the first two keys already distinct in every row: the rest left unsorted
        ([(0, 2**30), (0, 2**30), (0, 2**30), (0, 4)], 0),
    ],
)
def test_keys_wider_than_63_bits_group_as_sorting_key_by_key(ranges, values_per_key):
    rng = np.random.default_rng(len(ranges))
    columns = {}
    for i, (low, high) in enumerate(ranges):
        if values_per_key:
            columns[f"k{i}"] = rng.choice(np.linspace(low, high - 1, values_per_key).astype(np.int64), 20000)
        else:
            columns[f"k{i}"] = rng.integers(low, high, 20000)
    groups = row_groups(columns)
    first, group_of = _by_lexsort(columns)
    assert np.array_equal(groups.first, first) and np.array_equal(groups.group_of, group_of)
    assert (len(groups) < 20000) == bool(values_per_key)
