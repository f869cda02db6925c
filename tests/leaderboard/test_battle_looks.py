"""Whether any two battles look alike (style rows merge only then): the digest shortcut agrees with grouping."""

import numpy as np
import pytest

from leaderboard.services import aggregation
from leaderboard.services.aggregation import _LOOK, _every_battle_looks_distinct
from leaderboard.services.grouping import row_groups


def _rows(n_battles: int, *, seed: int, repeats: int = 2) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Rows of `n_battles` battles, each on `repeats` rows (sources or dimensions), keys as the style read
    builds them; battle ids ascending, as the per-battle groups come."""
    rng = np.random.default_rng(seed)
    look = {name: rng.integers(0, 4000 if "chars" in name else 12, n_battles) for name in _LOOK}
    look["category"] = rng.integers(0, 3, n_battles).astype(np.intp)
    ids = np.sort(rng.choice(10 * n_battles, n_battles, replace=False))
    return np.repeat(ids, repeats), {name: np.repeat(column, repeats) for name, column in look.items()}


def _by_grouping(battle_ids: np.ndarray, keys: dict[str, np.ndarray]) -> bool:
    """The reference: group the battles by their eleven keys."""
    battles, first = np.unique(battle_ids, return_index=True)
    return len(row_groups({name: keys[name][first] for name in _LOOK})) == len(battles)


@pytest.mark.parametrize("digests_help", [True, False])
def test_distinct_battles_are_found_distinct(monkeypatch, digests_help):
    if not digests_help:  # as if two looks' digests collided: decided by grouping
        monkeypatch.setattr(aggregation, "_digests_distinct", lambda columns: False)
    battle_ids, keys = _rows(3000, seed=1)

    assert _every_battle_looks_distinct(battle_ids, keys) is True == _by_grouping(battle_ids, keys)


@pytest.mark.parametrize("field", ["category", "a", "b_n_chars", "a_n_bold"])
def test_two_battles_alike_in_every_key_are_found(field):
    """Two battles that differ in one key only are distinct; made equal in it, they look alike."""
    battle_ids, keys = _rows(3000, seed=2)
    rows_of = {battle: np.flatnonzero(battle_ids == battle) for battle in (battle_ids[10], battle_ids[2000])}
    first, second = rows_of.values()
    for name in _LOOK:
        keys[name][second] = keys[name][first[0]]
    keys[field][second] += 1
    assert _every_battle_looks_distinct(battle_ids, keys) is True

    keys[field][second] -= 1

    assert _every_battle_looks_distinct(battle_ids, keys) is False == _by_grouping(battle_ids, keys)


def test_rows_of_one_battle_do_not_count_as_alike_in_any_order():
    battle_ids, keys = _rows(500, seed=3, repeats=3)
    shuffled = np.random.default_rng(4).permutation(len(battle_ids))

    assert _every_battle_looks_distinct(battle_ids[shuffled], {n: k[shuffled] for n, k in keys.items()})
