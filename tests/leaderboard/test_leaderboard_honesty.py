"""Thin data is never shown as a confident rank: provisional and incomplete rows, plain-words notices."""

from __future__ import annotations

import json
import re
from dataclasses import replace

import pytest

from arena.models import Output, Prompt
from arena.services.style import style_counts
from leaderboard.selectors.board import ContenderRow
from leaderboard.selectors.standing import standings_apply
from leaderboard.services.recompute import leaderboards_recompute
from tests.leaderboard.arena_data import arena_make, verdicts_add

INDEX = "/leaderboard/"
JARGON = ("MLE", "LEADERBOARD_", "ARENA_", "regularis", "components (not comparable)")


def row(slug: str, rating: float, low: float | None, high: float | None, votes: int) -> ContenderRow:
    return ContenderRow(
        contender_id=hash(slug) % 10_000, slug=slug, name=slug, organization="", license="", position=1,
        rating=rating, ci_low=low, ci_high=high, rank_ub=1, votes=votes, average_win_rate=None,
        style_rating=None, style_ci_low=None, style_ci_high=None, style_rank_ub=None,
    )  # fmt: skip


def test_a_wide_interval_with_few_votes_is_provisional_and_never_rank_one(settings):
    settings.LEADERBOARD_PROVISIONAL_CI = 100
    settings.LEADERBOARD_MIN_VOTES = 300
    lucky = row("lucky", 1745, 1361, 2129, votes=6)  # the issue's −384…+905-like interval
    steady = row("steady", 1100, 1080, 1120, votes=40)
    wide_but_many = row("many", 1000, 800, 1050, votes=300)

    by_slug = {r.slug: r for r in standings_apply([lucky, steady, wide_but_many])}

    assert by_slug["lucky"].standing == "provisional" and by_slug["lucky"].rank is None
    assert by_slug["steady"].standing == "ranked" and by_slug["steady"].rank == 1
    # Ranked by its votes despite the wide interval; "steady" lies wholly above it: rank 2.
    assert by_slug["many"].standing == "ranked" and by_slug["many"].rank == 2


def test_rows_without_intervals_need_the_votes(settings):
    settings.LEADERBOARD_MIN_VOTES = 50
    few, many = row("few", 1200, None, None, 10), row("many", 900, None, None, 50)

    result = {r.slug: r for r in standings_apply([few, many])}

    assert result["few"].standing == "provisional" and result["many"].rank == 1


def test_coverage_below_the_minimum_is_incomplete(settings):
    settings.ARENA_MIN_COVERAGE = 100
    complete = replace(row("full", 1000, 990, 1010, 500), prompts_answered=7, prompts_total=7)
    partial = replace(row("part", 1300, 1290, 1310, 500), prompts_answered=5, prompts_total=7)

    result = {r.slug: r for r in standings_apply([complete, partial])}

    assert result["part"].standing == "incomplete" and result["part"].rank is None
    assert result["full"].rank == 1
    settings.ARENA_MIN_COVERAGE = 70  # 5 of 7 is 71 %
    assert standings_apply([partial])[0].standing == "ranked"


def table_rows(html: str) -> dict[str, str]:
    """slug → standing of each row of the ranked table."""
    table = html.split('data-testid="leaderboard-table"', 1)[1].split("</table>", 1)[0]
    return dict(re.findall(r'data-contender="([^"]+)" data-standing="([^"]+)"', table))


@pytest.fixture
def partial_arena(db, settings):
    """Four contenders on six prompts; a seventh prompt that delta never answered."""
    settings.LEADERBOARD_MIN_VOTES = 1  # rank everyone complete, so only coverage decides
    arena = arena_make(("alpha", "beta", "gamma", "delta"))
    extra = Prompt.objects.create(prompt_set=arena.prompt_set, external_id="p-extra", text="One more?")
    for contender in arena.contenders[:3]:
        Output.objects.create(contender=contender, prompt=extra, text="An answer.", **style_counts("x"))
    verdicts_add(arena.battles, seed=1)
    arena.run = leaderboards_recompute(trigger="test")
    return arena


def test_a_contender_with_missing_answers_is_listed_apart_as_incomplete(client, partial_arena):
    n_prompts = partial_arena.prompt_set.prompts.count()
    html = client.get(INDEX).content.decode()

    assert set(table_rows(html)) == {"alpha", "beta", "gamma"}
    apart = html.split('data-testid="incomplete"', 1)[1]
    assert 'data-contender="delta"' in apart
    assert f"incomplete ({n_prompts - 1} of {n_prompts})" in apart
    assert 'data-testid="notice-coverage"' in html and "/leaderboard/about/#coverage" in html


def test_exports_mark_the_incomplete_row_and_give_it_no_rank(client, partial_arena):
    rows = {r["contender"]: r for r in json.loads(client.get("/leaderboard/export.json").content)["rows"]}

    assert rows["delta"]["standing"] == "incomplete" and rows["delta"]["rank"] is None
    assert rows["delta"]["prompts_answered"] == rows["delta"]["prompts_total"] - 1
    assert all(rows[s]["rank"] is not None for s in ("alpha", "beta", "gamma"))


def test_a_lower_coverage_setting_ranks_it(client, partial_arena, settings):
    settings.ARENA_MIN_COVERAGE = 80  # 6 of 7 prompts is 86 %

    assert "delta" in table_rows(client.get(INDEX).content.decode())


def test_thin_data_is_provisional_greyed_and_unranked(client, rated_arena, settings):
    settings.LEADERBOARD_PROVISIONAL_CI = 1  # no interval is this narrow here
    settings.LEADERBOARD_MIN_VOTES = 10**6

    html = client.get(INDEX).content.decode()

    standings = table_rows(html)
    assert standings and set(standings.values()) == {"provisional"}
    assert 'class="lb-provisional"' in html
    notice = re.search(r'data-testid="notice-provisional">(.*?)</p>', html, re.DOTALL).group(1)
    assert "provisional" in notice and "/leaderboard/about/#provisional" in notice
    ranks = [r["rank"] for r in json.loads(client.get("/leaderboard/export.json").content)["rows"]]
    assert ranks and all(rank is None for rank in ranks)


def test_enough_votes_rank_them_again(client, rated_arena, settings):
    settings.LEADERBOARD_MIN_VOTES = 1

    ranks = [r["rank"] for r in json.loads(client.get("/leaderboard/export.json").content)["rows"]]

    assert min(ranks) == 1 and 'data-testid="notice-provisional"' not in client.get(INDEX).content.decode()


def test_notices_speak_plain_words_and_link_to_the_explanation(client, db, settings):
    settings.LEADERBOARD_MIN_VERDICTS = 1000
    arena = arena_make(("alpha", "beta", "gamma"))
    verdicts_add(arena.battles[:3], seed=1, votes_per_battle=1)
    leaderboards_recompute(trigger="test")

    html = client.get(INDEX).content.decode()

    notices = re.findall(r'<p class="notice" data-testid="notice-([a-z-]+)">(.*?)</p>', html, re.DOTALL)
    assert notices and notices[0][0] == "too-few"
    assert "Too few verdicts to rate: 3 between" in notices[0][1] and "1000" in notices[0][1]
    for _, text in notices:
        assert not any(word in text for word in JARGON), text
        assert "/leaderboard/about/#" in text


def test_an_unbeaten_contender_is_explained_without_jargon(client, db, settings):
    arena = arena_make(("alpha", "beta", "gamma"))
    verdicts_add(arena.battles, seed=1, strengths={"alpha": 200, "beta": 10, "gamma": 0}, outcomes=("a", "b"))
    leaderboards_recompute(trigger="test")

    html = client.get(INDEX).content.decode()

    notice = re.search(r'data-testid="notice-unbeaten">(.*?)</p>', html, re.DOTALL).group(1)
    assert "Alpha has not lost or tied a battle here yet" in notice
    assert not any(word in notice for word in JARGON)


def test_the_about_page_explains_every_notice(client, db):
    html = client.get("/leaderboard/about/").content.decode()

    for anchor in (
        "provisional",
        "coverage",
        "too-few",
        "no-data",
        "unbeaten",
        "disconnected",
        "style",
        "history",
    ):
        assert f'id="{anchor}"' in html
    assert not any(word in html for word in JARGON)


def test_a_tab_without_data_says_so_and_its_board_says_how_to_fill_it(client, rated_arena):
    html = client.get(INDEX).content.decode()
    correctness = re.search(r'data-dimension="correctness">(.*?)</a>', html, re.DOTALL).group(1)
    assert "no data yet" in correctness

    board = client.get(INDEX, {"dimension": "correctness"}).content.decode()
    notice = re.search(r'data-testid="notice-no-data">(.*?)</p>', board, re.DOTALL).group(1)
    assert "No verdicts on Correctness from this source yet" in notice and "annotation task" in notice


def test_the_style_column_is_hidden_with_a_reason_when_empty(client, rated_arena, settings):
    settings.LEADERBOARD_STYLE_CONTROL = False
    leaderboards_recompute(trigger="test")

    html = client.get(INDEX).content.decode()

    header = html.split('data-testid="leaderboard-table"', 1)[1].split("</thead>", 1)[0]
    assert "Style-controlled" not in header
    assert 'data-testid="style-notice"' in html and "/leaderboard/about/#style" in html


def test_coverage_is_counted_per_category_board(partial_arena):
    """delta misses one uncategorised prompt: short on "all categories", complete in each category."""
    from leaderboard.models import SnapshotRow

    rows = SnapshotRow.objects.filter(
        snapshot__run=partial_arena.run, snapshot__source_key="people", snapshot__dimension__slug="overall"
    )
    per_board = {
        r.snapshot.category: (r.prompts_answered, r.prompts_total)
        for r in rows.filter(contender__slug="delta").select_related("snapshot")
    }
    prompts = partial_arena.prompt_set.prompts
    assert per_board[""] == (prompts.count() - 1, prompts.count())
    for category in ("math", "writing"):
        n = prompts.filter(category=category).count()
        assert per_board[category] == (n, n)


def test_the_home_page_top_never_ranks_a_provisional_row(client, rated_arena, settings):
    settings.LEADERBOARD_PROVISIONAL_CI = 1  # no interval is this narrow here
    settings.LEADERBOARD_MIN_VOTES = 10**6

    html = client.get("/").content.decode()

    top = html.split('data-testid="home-top"', 1)[1].split("</table>", 1)[0]
    assert top.count('class="provisional"') == 4 and "provisional</span>" in top
    ranks = re.findall(r'<tr class="provisional">\s*<td class="num">([^<]*)</td>', top)
    assert ranks == ["—"] * 4
