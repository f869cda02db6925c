"""The rating core's one-thread BLAS context: every loaded BLAS held to one thread inside, restored after,
also when a controller made before was reused (the context is cached between calls)."""

from __future__ import annotations

import scipy.linalg  # noqa: F401  (its own BLAS is loaded, so the test covers both numpy's and scipy's)
from threadpoolctl import threadpool_info, threadpool_limits

from leaderboard.rating.blas import one_blas_thread


def _blas_threads() -> list[int]:
    return [library["num_threads"] for library in threadpool_info() if library["user_api"] == "blas"]


def test_every_blas_runs_one_thread_inside_and_gets_its_setting_back_after() -> None:
    # Two threads outside, whatever the machine has: the context must bring it to 1 and back to 2.
    with threadpool_limits(limits=2, user_api="blas"):
        assert _blas_threads() and set(_blas_threads()) == {2}
        for _ in range(2):  # the second use reuses the controller the first one made
            with one_blas_thread():
                assert set(_blas_threads()) == {1}
            assert set(_blas_threads()) == {2}
