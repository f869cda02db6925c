"""Run a coroutine to completion from a test, whatever the test thread is doing.

Playwright's sync API (the Chromium tests' session-wide browser) keeps an event loop running in the main
thread for the rest of the session, and `asyncio.run` refuses to start inside a running loop: so coroutines
run in a thread of their own, on a fresh loop, and their result or exception comes back to the test.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


def run_coroutine(coroutine: Coroutine[Any, Any, T]) -> T:
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="test-event-loop") as pool:
        return pool.submit(asyncio.run, coroutine).result()
