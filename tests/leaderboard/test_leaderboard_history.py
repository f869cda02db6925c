"""Each leaderboard keeps its runs: the change column and each contender's rating over time."""

from __future__ import annotations

import datetime
import json
import re

import pytest
from django.db.models import Q

from arena.models import Verdict
from leaderboard.models import RecomputeRun, SnapshotRow
from leaderboard.services.recompute import leaderboards_recompute

INDEX = "/leaderboard/"


def exported(client, **params) -> dict[str, dict]:
    body = json.loads(client.get("/leaderboard/export.json", params).content)
    return {row["contender"]: row for row in body["rows"]}


def stored(run: RecomputeRun) -> dict[str, float]:
    rows = SnapshotRow.objects.filter(
        snapshot__run=run,
        snapshot__source_key="people",
        snapshot__dimension__slug="overall",
        snapshot__category="",
    )
    return {r.contender.slug: r.rating for r in rows.select_related("contender")}


@pytest.fixture
def two_runs(rated_arena, settings):
    """The rated arena, then staff exclude the people's votes alpha won (alpha falls), and a second run."""
    settings.LEADERBOARD_MIN_VOTES = 1  # everyone ranked, so rank changes exist
    alpha_won = Q(contender_a__slug="alpha", outcome="a") | Q(contender_b__slug="alpha", outcome="b")
    Verdict.objects.filter(alpha_won, source__key="people").update(excluded=True)
    rated_arena.second = leaderboards_recompute(trigger="test")
    return rated_arena


def test_the_change_column_compares_with_the_previous_run(client, two_runs):
    before, after = stored(two_runs.run), stored(two_runs.second)
    first_rows, rows = exported(client, run=two_runs.run.pk), exported(client)

    for slug, row in rows.items():
        assert row["rating_change"] == pytest.approx(after[slug] - before[slug])  # same floats, subtracted
        assert row["rank_change"] == first_rows[slug]["rank"] - row["rank"]
    html = client.get(INDEX).content.decode()
    assert f"since run #{two_runs.run.pk}" in html
    alpha = re.search(r'data-testid="change-alpha">(.*?)</td>', html, re.DOTALL).group(1)
    assert rows["alpha"]["rating_change"] < 0 and "−" in alpha
    moved = rows["alpha"]["rank_change"]
    assert ("▲" if moved > 0 else "▼" if moved < 0 else "=") in alpha


def test_the_first_run_has_nothing_to_compare_with(client, rated_arena):
    html = client.get(INDEX).content.decode()

    assert "no earlier run to compare with yet" in html
    assert all(row["rating_change"] is None for row in exported(client).values())


def test_since_a_date_picks_the_last_run_on_or_before_it(client, two_runs):
    RecomputeRun.objects.filter(pk=two_runs.run.pk).update(
        finished=two_runs.run.finished - datetime.timedelta(days=3)
    )
    day = (two_runs.run.finished - datetime.timedelta(days=2)).date().isoformat()

    html = client.get(INDEX, {"since": day}).content.decode()

    assert f"since run #{two_runs.run.pk}" in html and f"on or before {day}" in html


@pytest.mark.parametrize(
    ("since", "message"),
    [
        ("yesterday", "since must be a date written YYYY-MM-DD"),
        ("2001-01-01", "No earlier leaderboard run finished on or before 2001-01-01"),
    ],
)
def test_a_bad_since_says_what_to_do_and_changes_nothing(client, two_runs, since, message):
    runs = RecomputeRun.objects.count()

    response = client.get(INDEX, {"since": since})

    assert response.status_code == 400 and message in response.content.decode()
    api = client.get("/api/leaderboard/", {"since": since})
    assert api.status_code == 400 and message in api.json()["error"]
    assert RecomputeRun.objects.count() == runs


def test_a_contender_page_charts_its_rating_over_the_runs(client, two_runs):
    html = client.get("/leaderboard/contenders/alpha/").content.decode()

    figure = json.loads(
        re.search(
            r'<script id="figure-history" type="application/json">(.*?)</script>', html, re.DOTALL
        ).group(1)
    )
    trace = figure["data"][0]
    ratings = [stored(two_runs.run)["alpha"], stored(two_runs.second)["alpha"]]
    assert trace["y"] == pytest.approx(ratings) and len(trace["x"]) == 2
    assert 'data-testid="chart-history"' in html and "<script>" not in html  # CSP: no inline code


def test_a_contender_without_ratings_says_so(client, rated_arena):
    html = client.get("/leaderboard/contenders/alpha/", {"dimension": "correctness"}).content.decode()

    assert 'data-testid="no-history"' in html
