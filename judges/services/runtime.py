"""What a worker needs to call a judge, cached per process to keep each judgment to a few small queries.

A version is immutable, so it is cached for good; its config (key reference, prices, limits, timeout) is
re-read after `JUDGES_CONFIG_CACHE_SECONDS`, so an edit reaches every worker within that time.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from django.conf import settings

from arena.models import Dimension
from judges.models import JudgeConfigVersion


@dataclass(frozen=True)
class JudgeRuntime:
    version: JudgeConfigVersion  # with .config and .config.source loaded
    dimensions: dict[str, Dimension]  # by slug, in the version's order
    loaded_at: float

    @property
    def config(self):
        return self.version.config

    @property
    def limit_key(self) -> str:
        return f"judge:{self.version.config_id}"


_cache: dict[int, JudgeRuntime] = {}
_reloading = threading.Lock()


def judge_runtime(version_id: int) -> JudgeRuntime:
    """The cached runtime. Once it is due for a reload, one thread reloads it while the others go on with the
    one they have (a worker's dozens of threads each reloading it at the same moment cost more CPU than the
    judgments of that moment). Thread-safe: a race only loads the same rows twice."""
    entry = _cache.get(version_id)
    if entry is None:
        return _load(version_id)
    if time.monotonic() - entry.loaded_at <= settings.JUDGES_CONFIG_CACHE_SECONDS:
        return entry
    if not _reloading.acquire(blocking=False):
        return entry  # another thread is reloading one
    try:
        return _load(version_id)
    finally:
        _reloading.release()


def _load(version_id: int) -> JudgeRuntime:
    version = JudgeConfigVersion.objects.select_related("config__source").get(pk=version_id)
    found = Dimension.objects.in_bulk(version.dimension_slugs, field_name="slug")
    dimensions = {slug: found[slug] for slug in version.dimension_slugs}
    entry = _cache[version_id] = JudgeRuntime(version, dimensions, time.monotonic())
    return entry
