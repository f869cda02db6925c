"""The human-calibrated (prediction-powered) judge leaderboard: the estimator, its intervals, bad input."""

import numpy as np
import pytest
from scipy.optimize import minimize

from leaderboard.rating import (
    ELO_POINTS_PER_LOGIT,
    RatingError,
    fit_bradley_terry,
    pair_counts_from_scores,
    pair_counts_from_sequence,
)
from leaderboard.rating.calibrated import LabelledBattles, fit_calibrated_bradley_terry
from leaderboard.rating.simulate import simulate_judged_battles

TRUTH = np.array([1150.0, 1080.0, 1020.0, 980.0, 920.0, 850.0])
# The judge favours the weakest contender by 150 Elo points (say, it likes its long answers).
BIAS = np.array([0.0, 0.0, 0.0, 0.0, 0.0, 150.0])


def _simulated(seed: int, n_battles: int = 3000, n_labelled: int = 400):
    sequence, people = simulate_judged_battles(
        TRUTH, BIAS, n_battles, n_labelled, np.random.default_rng(seed)
    )
    labelled = LabelledBattles(
        sequence.a[:n_labelled], sequence.b[:n_labelled], people, sequence.score[:n_labelled]
    )
    return pair_counts_from_sequence(sequence), labelled, sequence


def _ppi_from_definition(sequence, labelled) -> np.ndarray:
    """The PPI estimate written battle by battle from its definition (mean log-loss on the judge's labels
    over all judged battles, minus the mean difference of log-losses on the labelled slice), minimised by
    scipy with θ_0 pinned; centred, Elo scale, mean 1000."""
    n_models = len(sequence.models)

    def loss(theta, a, b, y):
        z = theta[a] - theta[b]
        return np.logaddexp(0.0, z) - y * z  # Bradley–Terry log-loss of A's score y

    def objective(free):
        theta = np.concatenate([[0.0], free])
        judged = loss(theta, sequence.a, sequence.b, sequence.score).mean()
        judge_on_slice = loss(theta, labelled.a, labelled.b, labelled.judge).mean()
        people_on_slice = loss(theta, labelled.a, labelled.b, labelled.human).mean()
        return judged - (judge_on_slice - people_on_slice)

    found = minimize(objective, np.zeros(n_models - 1), method="BFGS", options={"gtol": 1e-10})
    theta = np.concatenate([[0.0], found.x])
    return ELO_POINTS_PER_LOGIT * (theta - theta.mean()) + 1000.0


def test_the_estimate_equals_the_ppi_objective_minimised_battle_by_battle():
    counts, labelled, sequence = _simulated(seed=1, n_battles=600, n_labelled=120)
    fitted = fit_calibrated_bradley_terry(counts, labelled, bootstrap_rounds=0)
    # 0.05 Elo points: the fit's ridge (0.01 battle) moves ratings by ~0.01 point on 600 battles, and BFGS
    # stops within ~1e-3 point; anything larger would be a different estimator.
    np.testing.assert_allclose(fitted.ratings, _ppi_from_definition(sequence, labelled), atol=0.05)
    assert fitted.n_labelled == 120 and fitted.n_judged == 600 and fitted.ci_low is None


def test_when_people_agree_with_the_judge_it_is_the_judges_own_leaderboard():
    counts, labelled, _ = _simulated(seed=2)
    agreeing = LabelledBattles(labelled.a, labelled.b, labelled.judge, labelled.judge)
    fitted = fit_calibrated_bradley_terry(counts, agreeing, bootstrap_rounds=0)
    raw = fit_bradley_terry(counts)
    np.testing.assert_allclose(fitted.ratings, raw.ratings, atol=0.05)  # the ridge alone, as above
    np.testing.assert_allclose(fitted.shift, 0.0, atol=1e-9)


def test_the_correction_moves_the_favoured_contender_back():
    counts, labelled, _ = _simulated(seed=3)
    fitted = fit_calibrated_bradley_terry(counts, labelled, bootstrap_rounds=0)
    # The judge adds 150 points to the last contender (125 after centring); people take most of it back.
    # 60 points is far outside the estimate's noise here (its bootstrap half-width is ~40 points).
    assert fitted.shift[-1] < -60


def test_calibrated_intervals_cover_the_truth_where_the_raw_judge_board_misses_it():
    """40 simulated arenas, each with a judge biased towards one contender, 3000 judge battles and 400 also
    judged by people. Truth is centred like the fits (mean 1000)."""
    replicates = 40
    truth = TRUTH - TRUTH.mean() + 1000.0
    calibrated_hits, raw_hits = [], []
    for seed in range(replicates):
        counts, labelled, _ = _simulated(seed=100 + seed)
        calibrated = fit_calibrated_bradley_terry(counts, labelled, bootstrap_rounds=100, seed=seed)
        calibrated_hits.append((calibrated.ci_low <= truth) & (truth <= calibrated.ci_high))
        if seed < 10:  # the raw board misses by ~7 of its standard errors: 10 arenas show it plainly
            raw = fit_bradley_terry(counts, bootstrap_rounds=50, seed=seed)
            raw_hits.append((raw.ci_low <= truth) & (truth <= raw.ci_high))
    calibrated_hits, raw_hits = np.array(calibrated_hits), np.array(raw_hits)
    # 240 intervals (40 arenas × 6 contenders). At a true 95 % coverage the share has a binomial standard
    # error of √(0.95·0.05/240) = 1.4 points; intervals of one arena share its data (they are centred
    # together), so allow a design effect of 2 (2 points) and three such errors below 95 %: 0.89.
    # bench/bench_calibration.py prints the figure for 400 arenas (0.94–0.95).
    assert calibrated_hits.mean() >= 0.89
    # The favoured contender alone: 40 intervals; P(Binomial(40, 0.95) ≤ 33) < 1 %, so 34 hits or more.
    assert calibrated_hits[:, -1].sum() >= 34
    # The raw judge board is confidently wrong about it: its interval (about ±18 points) sits 125 points
    # too high, so it never covers the truth; the rest are dragged along by the centring.
    assert raw_hits[:, -1].sum() == 0
    assert raw_hits.mean() <= 0.5


def test_no_labelled_battles_is_refused_with_the_reason():
    counts, labelled, _ = _simulated(seed=4, n_battles=100, n_labelled=0)
    with pytest.raises(RatingError, match="no battle was judged by both the judge and people"):
        fit_calibrated_bradley_terry(counts, labelled)


def test_bad_labelled_battles_are_refused():
    counts, labelled, _ = _simulated(seed=5, n_battles=100, n_labelled=10)
    with pytest.raises(RatingError, match="differ in length"):
        LabelledBattles(labelled.a, labelled.b[:5], labelled.human, labelled.judge)
    with pytest.raises(RatingError, match="human score must be in"):
        LabelledBattles(labelled.a, labelled.b, labelled.human + 2.0, labelled.judge)
    outside = LabelledBattles(labelled.a + 10, labelled.b, labelled.human, labelled.judge)
    with pytest.raises(RatingError, match="two different contenders among the 6 judged"):
        fit_calibrated_bradley_terry(counts, outside)


def _sparse_board(seed: int, n_models: int = 100, n_battles: int = 200):
    """A judge board with ~4 battles per contender, every battle also judged by people (who mostly agree)."""
    rng = np.random.default_rng(seed)
    a = rng.integers(0, n_models, n_battles)
    b = (a + rng.integers(1, n_models, n_battles)) % n_models
    strength = rng.normal(0.0, 1.0, n_models)
    judge = (rng.random(n_battles) < 1.0 / (1.0 + np.exp(strength[b] - strength[a]))).astype(float)
    human = np.where(rng.random(n_battles) < 0.8, judge, 1.0 - judge)
    models = tuple(f"m{i}" for i in range(n_models))
    return pair_counts_from_scores(models, a, b, judge), LabelledBattles(a, b, human, judge)


@pytest.mark.parametrize("seed", [0, 3])
def test_sparse_boards_calibrate_with_intervals(seed):
    """Nearly separated pairs on a sparse board used to make Newton's line search swap two contenders back
    and forth (each swap a sliver lower) until "did not converge"; Armijo's rule settles them."""
    counts, labelled = _sparse_board(seed)

    fitted = fit_calibrated_bradley_terry(counts, labelled, bootstrap_rounds=100, seed=seed)

    assert np.isfinite(fitted.ratings).all() and np.isfinite(fitted.ci_low).all()
    assert (fitted.ci_low <= fitted.ci_high).all()


def test_rounds_solved_together_equal_rounds_solved_one_by_one():
    """The bootstrap's batched Newton (each round its own Hessian) reaches each round's own optimum."""
    from leaderboard.rating import calibrated

    counts, labelled = _sparse_board(3, n_models=30, n_battles=600)
    comparison = counts.comparison_matrix
    theta = calibrated._solve(comparison, labelled, np.zeros(counts.n_models))
    rng = np.random.default_rng(5)
    fought = calibrated._Fought.of(comparison + comparison.T)
    rounds = 12
    scale = rng.poisson(1.0, (rounds, len(fought.first))).astype(float)  # resampled battle counts
    battles = fought.battles * scale
    targets = np.array([calibrated.rectified_scores(comparison, labelled) for _ in range(rounds)])
    targets += rng.normal(0.0, 2.0, targets.shape)
    together = calibrated._solve_stack(fought, battles, targets, theta)
    for r in range(rounds):
        pairs = np.zeros_like(comparison)
        pairs[fought.first, fought.second] = pairs[fought.second, fought.first] = battles[r]
        alone = calibrated._solve_for(pairs, targets[r], theta)
        np.testing.assert_allclose(together[r], alone, atol=1e-8)


@pytest.mark.parametrize(("seed", "n_models", "n_battles"), [(0, 20, 3000), (1, 20, 3000), (3, 100, 200)])
def test_the_bootstrap_equals_its_rounds_drawn_and_solved_one_by_one(seed, n_models, n_battles):
    """The batched bootstrap (picks counted per labelled battle, later Newton steps reusing a round's
    Hessian) gives the intervals of its plain definition: each round's judge cells and labelled picks drawn
    in the same order, its totals by rectified_scores, solved alone; within 1e-6 Elo points (the solvers
    stop at steps of 1e-10 logits, 2·10⁻⁸ points)."""
    from leaderboard.rating import calibrated
    from leaderboard.rating.bootstrap import resampled_comparison_stacks
    from leaderboard.rating.intervals import percentile_interval
    from leaderboard.rating.scale import DEFAULT_ANCHOR

    counts, labelled = _sparse_board(seed, n_models=n_models, n_battles=n_battles)
    rounds = 70  # more than one multinomial draw (64 rounds each)
    fitted = fit_calibrated_bradley_terry(counts, labelled, bootstrap_rounds=rounds, seed=seed)

    comparison = counts.comparison_matrix
    theta = calibrated._solve(comparison, labelled, np.zeros(counts.n_models))
    rng = np.random.default_rng(seed)
    samples = []
    for stack in resampled_comparison_stacks(counts, rounds, rng):
        picked = rng.integers(0, len(labelled), size=(len(stack), len(labelled)))
        for matrix, picks in zip(stack, picked, strict=True):
            resampled = LabelledBattles(
                labelled.a[picks], labelled.b[picks], labelled.human[picks], labelled.judge[picks]
            )
            samples.append(calibrated._solve(matrix, resampled, theta))
    low, high = percentile_interval(
        DEFAULT_ANCHOR.apply_rows(ELO_POINTS_PER_LOGIT * np.array(samples), counts.models)
    )
    np.testing.assert_allclose(fitted.ci_low, low, rtol=0, atol=1e-6)
    np.testing.assert_allclose(fitted.ci_high, high, rtol=0, atol=1e-6)
