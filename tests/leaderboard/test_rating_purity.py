"""The rating core and the file parsers stay pure: importing them loads no Django."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_rating_core_and_parsers_import_without_django():
    # A fresh interpreter: this test process has Django loaded already by pytest-django.
    probe = (
        "import sys, leaderboard.rating, leaderboard.battle_files, leaderboard.rating.style;"
        "loaded = sorted(m for m in sys.modules if m == 'django' or m.startswith('django.'));"
        "print(loaded[:5])"
    )

    finished = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )

    assert finished.stdout.strip() == "[]"
