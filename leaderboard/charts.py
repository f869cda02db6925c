"""Plotly figures (plain JSON-ready dicts: `{"data": [...], "layout": {...}}`) built from stored snapshots.

Built server-side so the browser only draws (static/js/leaderboard.js calls `Plotly.react` on each); no
figure computes a rating. Contenders appear in the order given (the page passes them best first).
"""

from __future__ import annotations

import hashlib

from django.core.cache import cache
from django.utils.html import json_script
from django.utils.safestring import SafeString, mark_safe

from leaderboard.models import Snapshot
from leaderboard.selectors import ContenderRow, ProfilePoint, matrix_for

# A stored snapshot never changes, so its charts are built once per run and board and kept this long; the key
# also holds the rows shown and the contenders' names, so a renamed or withdrawn contender gets fresh charts.
CHARTS_CACHE_SECONDS = 24 * 3600

FONT = {"family": "system-ui, -apple-system, Segoe UI, sans-serif", "size": 12}


def _layout(title: str, **extra) -> dict:
    return {
        "title": {"text": title, "font": {"size": 14}, "x": 0.5, "y": 0.98, "yanchor": "top"},
        "font": FONT,
        "margin": {"l": 150, "r": 20, "t": 40, "b": 50},
        "paper_bgcolor": "#fff",
        "plot_bgcolor": "#fff",
        **extra,
    }


def board_charts(snapshot: Snapshot, rows: list[ContenderRow]) -> list[dict]:
    """The board's four charts, best first, each as ``{"name", "element_id", "script"}`` where ``script`` is
    the figure's ``<script type="application/json">`` element, built once per snapshot and rows shown."""
    # Everything the figures show from the rows, so the key also changes with the contents (a reused id after
    # the database was recreated cannot serve another arena's charts).
    shown = "\n".join(
        f"{r.contender_id}\t{r.name}\t{r.rating!r}\t{r.ci_low!r}\t{r.ci_high!r}\t{r.style_rating!r}\t"
        f"{r.average_win_rate!r}\t{r.votes}"
        for r in rows
    )
    key = f"leaderboard:charts:v1:{snapshot.pk}:{hashlib.sha256(shown.encode()).hexdigest()[:32]}"
    scripts = cache.get(key)
    if scripts is None:
        scripts = {
            name: str(json_script(figure, f"figure-{name}")) for name, figure in _figures(snapshot, rows)
        }
        cache.set(key, scripts, CHARTS_CACHE_SECONDS)
    return [
        {"name": name, "element_id": f"figure-{name}", "script": _safe(script)}
        for name, script in scripts.items()
    ]


def _figures(snapshot: Snapshot, rows: list[ContenderRow]) -> list[tuple[str, dict]]:
    return [
        ("forest", forest_plot(rows)),
        ("win-rate", win_rate_bars(rows)),
        ("win-fraction", heatmap(snapshot, rows, "win_fraction")),
        ("battle-count", heatmap(snapshot, rows, "battle_count")),
    ]


def _safe(script: str) -> SafeString:
    # Built by json_script (which escapes <, > and &) in this module; the cache holds it as a plain str.
    return mark_safe(script)  # noqa: S308


def forest_plot(rows: list[ContenderRow]) -> dict:
    """Ratings with their 95 % intervals, best at the top; style-controlled points beside them if any."""
    names = [row.name for row in rows]
    traces = [
        {
            "type": "scatter",
            "mode": "markers",
            "name": "Rating",
            "x": [row.rating for row in rows],
            "y": names,
            "marker": {"color": "#3b5bdb", "size": 8},
            "error_x": {
                "type": "data",
                "symmetric": False,
                "array": [None if row.ci_high is None else row.ci_high - row.rating for row in rows],
                "arrayminus": [None if row.ci_low is None else row.rating - row.ci_low for row in rows],
                "color": "#3b5bdb",
            },
            "hovertemplate": "%{y}: %{x:.1f}<extra>rating</extra>",
        }
    ]
    if any(row.style_rating is not None for row in rows):
        traces.append(
            {
                "type": "scatter",
                "mode": "markers",
                "name": "Style-controlled",
                "x": [row.style_rating for row in rows],
                "y": names,
                "marker": {"color": "#e67700", "size": 7, "symbol": "diamond"},
                "hovertemplate": "%{y}: %{x:.1f}<extra>style-controlled</extra>",
            }
        )
    height = 120 + 28 * len(rows)
    layout = _layout(
        "Ratings with 95% confidence intervals",
        height=height,
        xaxis={"title": {"text": "Rating (Elo scale)"}, "zeroline": False, "gridcolor": "#eee"},
        yaxis={"autorange": "reversed", "automargin": True},
        legend={"orientation": "h", "x": 0, "y": 1.0, "yanchor": "bottom", "xanchor": "left"},
    )
    return {"data": traces, "layout": layout}


def heatmap(snapshot: Snapshot, rows: list[ContenderRow], name: str) -> dict:
    """`name` "win_fraction" (row's mean score against column) or "battle_count" (verdicts per pair)."""
    matrix = matrix_for(snapshot, rows, name)
    for i, line in enumerate(matrix):
        line[i] = None  # a contender never meets itself: leave the diagonal blank, not "0 verdicts"
    names = [row.name for row in rows]
    is_fraction = name == "win_fraction"
    trace = {
        "type": "heatmap",
        "z": matrix,
        "x": names,
        "y": names,
        "colorscale": "RdBu" if is_fraction else "Blues",
        "reversescale": not is_fraction,
        "zmin": 0 if is_fraction else None,
        "zmax": 1 if is_fraction else None,
        "texttemplate": "%{z:.2f}" if is_fraction else "%{z:.0f}",
        "hovertemplate": "%{y} vs %{x}: %{z}<extra></extra>",
    }
    title = "Win fraction (row against column)" if is_fraction else "Verdicts per pair"
    size = 160 + 34 * len(rows)
    layout = _layout(
        title,
        height=size,
        xaxis={"side": "bottom", "tickangle": -35, "automargin": True},
        yaxis={"autorange": "reversed", "automargin": True},
    )
    return {"data": [trace], "layout": layout}


def win_rate_bars(rows: list[ContenderRow]) -> dict:
    """Average win rate against all opponents met (each opponent weighs the same)."""
    trace = {
        "type": "bar",
        "orientation": "h",
        "x": [row.average_win_rate for row in rows],
        "y": [row.name for row in rows],
        "marker": {"color": "#2b8a3e"},
        "hovertemplate": "%{y}: %{x:.1%}<extra></extra>",
    }
    layout = _layout(
        "Average win rate against all opponents",
        height=120 + 28 * len(rows),
        xaxis={"tickformat": ".0%", "range": [0, 1], "gridcolor": "#eee"},
        yaxis={"autorange": "reversed", "automargin": True},
    )
    return {"data": [trace], "layout": layout}


def dimension_profile(profiles: dict[str, list[ProfilePoint]], names: dict[str, str]) -> dict:
    """Ratings per dimension of the chosen contenders, with their intervals: one profile line each."""
    traces = []
    for slug, points in profiles.items():
        ratings = [p.row.rating if p.row else None for p in points]
        traces.append(
            {
                "type": "scatter",
                "mode": "lines+markers",
                "name": names.get(slug, slug),
                "x": [p.dimension.name for p in points],
                "y": ratings,
                "error_y": {
                    "type": "data",
                    "symmetric": False,
                    "array": [_above(p) for p in points],
                    "arrayminus": [_below(p) for p in points],
                },
                "hovertemplate": "%{x}: %{y:.1f}<extra>" + names.get(slug, slug) + "</extra>",
            }
        )
    layout = _layout(
        "Ratings per dimension",
        height=380,
        margin={"l": 60, "r": 20, "t": 40, "b": 60},
        xaxis={"type": "category"},
        yaxis={"title": {"text": "Rating"}, "gridcolor": "#eee"},
        legend={"orientation": "h", "y": -0.2},
    )
    return {"data": traces, "layout": layout}


def _above(point: ProfilePoint) -> float | None:
    row = point.row
    return None if row is None or row.ci_high is None else row.ci_high - row.rating


def _below(point: ProfilePoint) -> float | None:
    row = point.row
    return None if row is None or row.ci_low is None else row.rating - row.ci_low
