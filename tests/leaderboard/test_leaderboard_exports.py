"""CSV and JSON exports hold exactly the rows of the page's table, in its order."""

import csv
import io
import json
import re
from html import unescape

import pytest

INDEX = "/leaderboard/"


def table(response) -> list[list[str]]:
    """The table's cells as text, row by row."""
    rows = re.findall(r'<tr data-contender="[^"]+"[^>]*>(.*?)</tr>', response.content.decode(), re.DOTALL)
    cells = [re.findall(r"<td[^>]*>(.*?)</td>", row, re.DOTALL) for row in rows]
    return [[unescape(re.sub(r"<[^>]+>", "", cell)).strip() for cell in row] for row in cells]


def shown(value, digits=1):
    return "—" if value in (None, "") else f"{float(value):.{digits}f}"


def as_table(record: dict, with_style: bool = True) -> list[str]:
    """An exported row rendered as the page renders it."""
    interval = (
        "—" if record["ci_low"] in (None, "") else f"{shown(record['ci_low'])} – {shown(record['ci_high'])}"
    )
    style = shown(record["style_rating"])
    if record["style_ci_low"] not in (None, ""):
        style += f" ({shown(record['style_ci_low'])} – {shown(record['style_ci_high'])})"
    rate = (
        "—" if record["average_win_rate"] in (None, "") else f"{100 * float(record['average_win_rate']):.1f}%"
    )
    # The page has a tick box (no text) first, and the change column (no earlier run here: a dash).
    return [
        "",
        str(record["rank"]) if record["rank"] not in (None, "") else record["standing"],
        record["name"],
        shown(record["rating"]),
        interval,
        "—",
        *([style] if with_style else []),
        rate,
        str(record["votes"]),
        record["organization"],
        record["license"],
    ]


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"source": "judges", "sort": "-votes"},
        {"dimension": "helpfulness", "category": "math", "sort": "name"},
    ],
)
def test_csv_and_json_exports_equal_the_table(client, rated_arena, params):
    page = table(client.get(INDEX, params))
    csv_response = client.get("/leaderboard/export.csv", params)
    json_response = client.get("/leaderboard/export.json", params)

    from_csv = list(csv.DictReader(io.StringIO(csv_response.content.decode())))
    from_json = json.loads(json_response.content)["rows"]
    # The page hides the style-controlled column when no row has a style-controlled rating.
    with_style = any(r["style_rating"] is not None for r in from_json)
    assert page and [as_table(r, with_style) for r in from_csv] == page
    assert [as_table(r, with_style) for r in from_json] == page
    assert [r["contender"] for r in from_csv] == [r["contender"] for r in from_json]
    assert csv_response["Content-Type"].startswith("text/csv")
    assert 'attachment; filename="leaderboard-' in csv_response["Content-Disposition"]


def test_exports_respect_min_votes_and_say_what_was_asked(client, rated_arena):
    body = json.loads(client.get("/leaderboard/export.json", {"min_votes": 10**6}).content)

    assert body["rows"] == [] and body["hidden_below_min_votes"] == 4
    assert (
        body["source"] == "people"
        and body["dimension"] == "overall"
        and body["run"]["id"] == rated_arena.run.pk
    )
    assert body["params"]["bootstrap_rounds"] == 20 and body["status"] == "ok"


def test_exports_refuse_bad_parameters(client, rated_arena):
    response = client.get("/leaderboard/export.csv", {"dimension": "wit"})

    assert response.status_code == 400 and "Unknown dimension" in response.content.decode()


def test_a_name_a_spreadsheet_would_run_is_quoted(client, rated_arena):
    rated_arena.contenders[0].name = "=HYPERLINK(1)"
    rated_arena.contenders[0].save()

    text = client.get("/leaderboard/export.csv").content.decode()

    assert ",'=HYPERLINK(1)," in text
