"""The batched fittability check of bootstrap resamples agrees with the one-matrix check it replaces."""

import numpy as np

from leaderboard.rating.bradley_terry import plainly_fittable
from leaderboard.rating.graph import strongly_connected_stack


def test_stack_check_agrees_with_plainly_fittable_on_sparse_random_matrices():
    rng = np.random.default_rng(7)
    # Sparse enough that about half the matrices are disconnected or have no finite MLE, so both answers occur.
    stack = rng.poisson(0.3, size=(400, 12, 12)).astype(float)
    stack[:, np.arange(12), np.arange(12)] = 0.0
    expected = np.array([plainly_fittable(matrix) for matrix in stack])
    assert 50 < expected.sum() < 350, "the sample must hold both fittable and unfittable matrices"
    np.testing.assert_array_equal(strongly_connected_stack(stack > 0), expected)


def test_single_contender_and_chain_cases():
    assert strongly_connected_stack(np.zeros((3, 1, 1), dtype=bool)).all()
    chain = np.zeros((1, 4, 4), dtype=bool)
    chain[0, [0, 1, 2], [1, 2, 3]] = True  # 0 → 1 → 2 → 3: connected, but 3 never scored (infinite MLE)
    assert not strongly_connected_stack(chain)[0]
    chain[0, 3, 0] = True  # closing the cycle makes every contender reach every other
    assert strongly_connected_stack(chain)[0]
