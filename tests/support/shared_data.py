"""Third-party data the golden and reproduction tests read from ../shared/data, beside the checkout.

The data (published battle files and judgments) are not part of the repository. Without them those tests
skip, and say which folder was missing and where it was looked for; pytest's `-ra` prints that reason.
"""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def shared_data_skip_reason(*names: str) -> str | None:
    """Why a test needing ``../shared/data/<name>`` for each name must skip, or None when all are there."""
    missing = [name for name in names if not (SHARED_DATA / name).exists()]
    if not missing:
        return None
    return (
        f"needs third-party data {', '.join(missing)} under {SHARED_DATA} (../shared/data beside the checkout, "
        "not part of the repository); it is absent, so this test does not run"
    )


def needs_shared_data(*names: str) -> list[pytest.MarkDecorator]:
    """Marks for a test (or `pytestmark`) reading ``../shared/data/<name>``: `shared_data`, and a skip with the
    reason when any of them is absent."""
    reason = shared_data_skip_reason(*names)
    return [pytest.mark.shared_data, pytest.mark.skipif(reason is not None, reason=reason or "")]
