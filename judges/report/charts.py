"""Plotly figures (JSON-ready dicts) for the judges overview: position bias, length bias, agreement.

Drawn in the browser by static/js/leaderboard.js like the leaderboard's charts; intervals are the cards'
95 % bootstrap bounds. Rows are the overview's lines, in the order shown.
"""

from __future__ import annotations

from judges.report.metrics import POSITION_CLASSES

FONT = {"family": "system-ui, -apple-system, Segoe UI, sans-serif", "size": 12}
COLORS = {
    "consistent": "#2b8a3e",
    "biased_first": "#e67700",
    "biased_second": "#f59f00",
    "other": "#868e96",
    "error": "#c92a2a",
}


def _layout(title: str, n: int, **extra) -> dict:
    return {
        "title": {"text": title, "font": {"size": 14}, "x": 0.5},
        "font": FONT,
        "height": 140 + 32 * max(n, 1),
        "margin": {"l": 180, "r": 20, "t": 40, "b": 50},
        "paper_bgcolor": "#fff",
        "plot_bgcolor": "#fff",
        **extra,
    }


def _points(lines, name: str, label: str, color: str, symbol: str = "circle") -> dict:
    figures = [line.card["figures"][name] for line in lines]
    return {
        "type": "scatter", "mode": "markers", "name": label,
        "x": [f["value"] for f in figures], "y": [line.label for line in lines],
        "marker": {"color": color, "size": 9, "symbol": symbol},
        "error_x": {
            "type": "data", "symmetric": False, "color": color,
            "array": [None if f["high"] is None else f["high"] - f["value"] for f in figures],
            "arrayminus": [None if f["low"] is None else f["value"] - f["low"] for f in figures],
        },
        "hovertemplate": "%{y}: %{x:.3f}<extra>" + label + "</extra>",
    }  # fmt: skip


def position_chart(lines) -> dict:
    """Stacked shares of units per position class (they sum to 1 per judge)."""
    data = [
        {
            "type": "bar",
            "orientation": "h",
            "name": name.replace("_", " "),
            "x": [line.card[name] for line in lines],
            "y": [line.label for line in lines],
            "marker": {"color": COLORS[name]},
            "hovertemplate": "%{y}: %{x:.3f}<extra>" + name + "</extra>",
        }  # fmt: skip
        for name in POSITION_CLASSES
    ]
    layout = _layout("Position: both orders of each battle", len(lines), barmode="stack")
    layout["xaxis"] = {"range": [0, 1], "title": {"text": "share of battles"}}
    return {"data": data, "layout": layout}


def bias_chart(lines) -> dict:
    """Shares choosing the first-shown and the longer answer, beside people's preference for the longer."""
    data = [
        _points(lines, "prefer_first", "prefers first shown", "#e67700"),
        _points(lines, "prefer_longer", "prefers longer (judge)", "#3b5bdb", "diamond"),
        _points(lines, "people_prefer_longer", "prefers longer (people)", "#2b8a3e", "square"),
    ]
    layout = _layout("Position and length bias (0.5 = none)", len(lines))
    layout["xaxis"] = {"range": [0, 1], "title": {"text": "share"}}
    layout["shapes"] = [
        {
            "type": "line",
            "x0": 0.5,
            "x1": 0.5,
            "y0": 0,
            "y1": 1,
            "yref": "paper",
            "line": {"dash": "dot", "color": "#adb5bd"},
        }
    ]
    return {"data": data, "layout": layout}


def agreement_chart(lines) -> dict:
    """Agreement with the people's majority (with and without ties) beside people's agreement with each other."""
    data = [
        _points(lines, "agreement", "judge vs people (ties included)", "#3b5bdb"),
        _points(lines, "agreement_no_ties", "judge vs people (decisive only)", "#7048e8", "diamond"),
        _points(lines, "people_agreement", "people vs people (ceiling)", "#2b8a3e", "square"),
    ]
    layout = _layout("Agreement with people", len(lines))
    layout["xaxis"] = {"range": [0, 1], "title": {"text": "share agreeing"}}
    return {"data": data, "layout": layout}
