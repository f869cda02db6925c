"""BLAS held to one thread around the rating core's small linear algebra (contenders × contenders).

Threads do not pay off on matrices this small, and their spin-waiting took 5–10× a fit's own CPU time on a
busy 2-core machine. ``threadpoolctl.threadpool_limits`` rescans every loaded library on each call (about
0.6 ms, twice per board of a recompute); a controller made once and reused costs a few microseconds. It is
made again if scipy's linear algebra (which bundles its own BLAS) was loaded after it, so that library is
held to one thread too.
"""

from __future__ import annotations

import sys
from typing import Any

from threadpoolctl import ThreadpoolController

_controller: ThreadpoolController | None = None
_saw_scipy_linalg = False


def one_blas_thread() -> Any:
    """A context manager holding every loaded BLAS to one thread, restoring their settings on exit."""
    global _controller, _saw_scipy_linalg
    scipy_linalg = "scipy.linalg" in sys.modules
    if _controller is None or (scipy_linalg and not _saw_scipy_linalg):
        _controller, _saw_scipy_linalg = ThreadpoolController(), scipy_linalg
    return _controller.limit(limits=1, user_api="blas")
