"""A bootstrap resample that splits a sparse component is regularised, not a crash (found by the demo arena)."""

import numpy as np

from leaderboard.rating import fit_bradley_terry, pair_counts_from_scores

# Five contenders on one category of the demo: connected, but pairs 0–1, 1–4, 2–3 and 0–2 hang on one or
# two battles, so some resamples drop them and cut the graph in two.
BATTLES = [(0, 1, 0.5), (0, 2, 1.0), (0, 2, 0.5), *[(0, 4, 1.0)] * 5, (4, 0, 1.0), (1, 4, 1.0), (2, 3, 0.5)]
BATTLES += [(3, 4, 1.0)] * 2


def test_resamples_that_disconnect_the_graph_are_regularised_and_reported():
    a, b, score = (np.array(column) for column in zip(*BATTLES, strict=True))
    counts = pair_counts_from_scores(("m0", "m1", "m2", "m3", "m4"), a, b, score)

    result = fit_bradley_terry(counts, bootstrap_rounds=100, seed=0)

    assert result.diagnostics.connected and result.diagnostics.regularisation_alpha is None
    assert np.all(np.isfinite(result.ci_low)) and np.all(result.ci_low <= result.ci_high)
    assert result.diagnostics.bootstrap_regularised_rounds > 0
