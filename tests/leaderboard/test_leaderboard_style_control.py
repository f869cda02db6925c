"""Style control from the database: grouped SQL, numeric fetch and fit give the per-verdict reference ratings.

The reference (tests/leaderboard/style_reference.py) sees single verdicts read through the ORM with their
battle's answers: no SQL grouping, no merged battles, no weights, no Newton code of ours. Tolerance 1e-6
Elo points, as in test_rating_style_fit.py: both fits converge to ~1e-8 points of the same optimum.
"""

from collections import defaultdict

import numpy as np
import pytest
from django.db import connection

from arena.models import Dimension, Verdict
from leaderboard.models import Snapshot
from leaderboard.services.aggregation import STYLE_FIELDS, verdict_styles_aggregate
from leaderboard.services.recompute import leaderboards_recompute
from leaderboard.services.sql_columns import ColumnMismatch, sql_columns
from tests.leaderboard.arena_data import arena_make, judge_source, verdicts_add
from tests.leaderboard.style_reference import Verdicts, reference_style_fit

pytestmark = pytest.mark.django_db


def counted(source_key="people", dimension="overall"):
    """The verdicts a leaderboard counts, chosen in Python, with their battles' answers."""
    verdicts = Verdict.objects.filter(source__key=source_key, dimension__slug=dimension).select_related(
        "battle__output_a", "battle__output_b", "battle__prompt", "contender_a", "contender_b"
    )
    return [
        v
        for v in verdicts.order_by("pk")
        if not v.excluded and v.contender_a.status == v.contender_b.status == "approved"
    ]


def style_of(output) -> tuple[int, ...]:
    return tuple(getattr(output, field) for field in STYLE_FIELDS)


def reference_ratings(verdicts) -> dict[int, float]:
    """Contender id → style-controlled rating, fitted on single verdicts."""
    ids = sorted({v.contender_a_id for v in verdicts} | {v.contender_b_id for v in verdicts})
    battles = sorted({v.battle_id for v in verdicts})
    first = {v.battle_id: v.battle for v in reversed(verdicts)}
    data = Verdicts(
        n_models=len(ids),
        a=np.array([ids.index(first[b].contender_a_id) for b in battles]),
        b=np.array([ids.index(first[b].contender_b_id) for b in battles]),
        style_a=np.array([style_of(first[b].output_a) for b in battles], dtype=float),
        style_b=np.array([style_of(first[b].output_b) for b in battles], dtype=float),
        battle=np.array([battles.index(v.battle_id) for v in verdicts]),
        score=np.array([v.score for v in verdicts]),
    )
    ratings, _ = reference_style_fit(data)
    return dict(zip(ids, ratings, strict=True))


def styled_arena():
    """Enough battles for style control (5 contenders, 20 prompts: 200 battles), soft and excluded verdicts,
    a pending contender, and answers from three templates, so that many battles look alike and merge."""
    arena = arena_make(("ant", "bee", "cat", "dog", "eel", "fox"), statuses={"fox": "pending"}, n_prompts=20)
    verdicts_add(arena.battles, seed=31, soft_share=0.2, excluded_share=0.05)
    verdicts_add(arena.battles, source=judge_source(), seed=32, soft_share=0.1)
    return arena


def test_stored_style_ratings_equal_a_per_verdict_reference_fit():
    styled_arena()

    run = leaderboards_recompute(trigger="test")

    for source_key in ("people", "judge-gpt"):
        snapshot = Snapshot.objects.get(
            run=run, source_key=source_key, dimension__slug="overall", category=""
        )
        stored = {row.contender_id: row.style_rating for row in snapshot.rows.all()}
        expected = reference_ratings(counted(source_key))
        assert snapshot.style_message == "" and set(stored) == set(expected)
        for contender_id, rating in expected.items():
            assert stored[contender_id] == pytest.approx(rating, abs=1e-6)
        raw = {row.contender_id: row.rating for row in snapshot.rows.all()}
        # Not trivially equal: holding style constant moves these ratings by a million tolerances or more.
        assert max(abs(stored[i] - raw[i]) for i in raw) > 0.5


def python_style_groups() -> dict[tuple, tuple[int, float, int]]:
    """(source, dimension, category, A, B, both answers' style counts, one battle's verdicts and SUM(score))
    → (verdicts, SUM(score), battles): battles merge when they look alike and got the same verdicts."""
    per_battle = defaultdict(lambda: [0, 0.0])
    looks = {}
    for v in counted() + counted("judge-gpt"):
        battle = v.battle
        look = (
            v.source_id,
            v.dimension_id,
            battle.prompt.category,
            battle.contender_a_id,
            battle.contender_b_id,
        )
        looks[(v.source_id, v.dimension_id, v.battle_id)] = (
            look + style_of(battle.output_a) + style_of(battle.output_b)
        )
        per_battle[(v.source_id, v.dimension_id, v.battle_id)][0] += 1
        per_battle[(v.source_id, v.dimension_id, v.battle_id)][1] += v.score
    groups = defaultdict(lambda: [0, 0.0, 0])
    for key, (n, total) in per_battle.items():
        group = groups[looks[key] + (n, total)]
        group[0], group[1], group[2] = group[0] + n, group[1] + total, group[2] + 1
    return {key: tuple(value) for key, value in groups.items()}


def sql_style_groups(rows) -> dict[tuple, tuple[int, float, int]]:
    found = {}
    for i in range(len(rows)):
        key = (int(rows.source[i]), int(rows.dimension[i]), rows.categories[rows.category[i]])
        key += (int(rows.a[i]), int(rows.b[i]), *rows.style_a[i].astype(int), *rows.style_b[i].astype(int))
        n, total, battles = int(rows.count[i]), float(rows.total[i]), int(rows.battles[i])
        key += (n // battles, total / battles)
        assert key not in found, "two rows with the same look and the same verdicts: not merged"
        found[key] = (n, total, battles)
    return found


def test_style_groups_equal_a_python_recount_and_merge_identical_battles():
    styled_arena()

    found = sql_style_groups(verdict_styles_aggregate(by_category=True))

    assert found == python_style_groups()  # dyadic soft scores: sums are exact
    assert max(battles for _, _, battles in found.values()) > 1  # identical battles did merge


def test_numeric_columns_are_the_same_through_postgresql_bytes_and_through_fetchall(monkeypatch):
    styled_arena()
    sql = "SELECT id AS id, score AS score FROM arena_verdict WHERE score > %s"
    columns = {"id": "int", "score": "float"}

    sent = sql_columns(sql, [0.25], columns)
    monkeypatch.setattr(connection, "vendor", "other")  # the path SQLite takes
    fetched = sql_columns(sql, [0.25], columns)

    assert len(sent["id"]) == Verdict.objects.filter(score__gt=0.25).count() > 100
    order = np.argsort(sent["id"])
    np.testing.assert_array_equal(sent["id"][order], np.sort(fetched["id"]))
    np.testing.assert_array_equal(sent["score"][order], fetched["score"][np.argsort(fetched["id"])])
    assert sent["id"].dtype == np.int64 and sent["score"].dtype == np.float64


def test_no_rows_give_empty_columns():
    sql = "SELECT id AS id FROM arena_verdict WHERE id < %s"

    assert len(sql_columns(sql, [0], {"id": "int"})["id"]) == 0


@pytest.mark.parametrize("vendor", ["postgresql", "other"])
def test_columns_are_read_by_name_and_a_query_naming_others_is_refused(monkeypatch, vendor):
    styled_arena()
    monkeypatch.setattr(connection, "vendor", vendor)
    swapped = "SELECT score AS score, id AS id FROM arena_verdict"

    columns = sql_columns(swapped, [], {"id": "int", "score": "float"})
    assert columns["id"].dtype == np.int64 and set(columns["score"]) <= {
        0.0,
        0.125,
        0.25,
        0.375,
        0.5,
        0.625,
        0.75,
        0.875,
        1.0,
    }
    np.testing.assert_array_equal(
        np.sort(columns["id"]), sorted(Verdict.objects.values_list("id", flat=True))
    )

    with pytest.raises(
        ColumnMismatch, match=r"selects \['id', 'weight'\], not the columns asked for: \['id', 'score'\]"
    ):
        sql_columns(
            "SELECT id AS id, score AS weight FROM arena_verdict", [], {"id": "int", "score": "float"}
        )


def test_too_few_battles_hide_style_control_and_the_page_says_why(client):
    arena = arena_make(("ant", "bee", "cat", "dog", "eel"), n_prompts=2)  # 20 battles, 8 parameters
    verdicts_add(arena.battles, seed=5)

    run = leaderboards_recompute(trigger="test")

    snapshot = Snapshot.objects.get(run=run, source_key="people", dimension__slug="overall", category="")
    assert snapshot.status == "ok" and snapshot.style_coefficients == {}
    assert all(row.style_rating is None for row in snapshot.rows.all())
    assert snapshot.style_message == (
        "Style control not shown: it needs at least 80 battles here (10 per fitted parameter: 4 for 5 "
        "contenders, 4 for the style features), and this leaderboard has 20."
    )
    # The page says why in plain words (the stored message stays for the CLI and exports), with a link.
    page = client.get("/leaderboard/").content.decode()
    notice = page.split('data-testid="style-notice">', 1)[1].split("</p>", 1)[0]
    assert "need more battles than this leaderboard has" in notice and "/leaderboard/about/#style" in notice


def test_the_battles_per_parameter_rule_is_a_setting(settings):
    settings.LEADERBOARD_STYLE_BATTLES_PER_PARAMETER = 2
    arena = arena_make(("ant", "bee", "cat", "dog", "eel"), n_prompts=2)
    verdicts_add(arena.battles, seed=5)
    overall = Dimension.objects.get(slug="overall")

    run = leaderboards_recompute(trigger="test")

    snapshot = Snapshot.objects.get(run=run, source_key="people", dimension=overall, category="")
    assert snapshot.style_message == "" and set(snapshot.style_coefficients) == set(
        ("length", "headers", "list_items", "bold")
    )
    assert all(row.style_rating is not None for row in snapshot.rows.all())


def test_battles_are_read_once_then_new_ones_are_picked_up_and_the_groups_stay_exact():
    """The style rows take battles from the process's battle table: a second aggregate reads no battle
    rows, and battles created after the first read join it (their verdicts would otherwise be lost)."""
    from django.test.utils import CaptureQueriesContext

    from arena.models import Battle
    from leaderboard.services.battle_styles import battle_table

    styled_arena()
    verdict_styles_aggregate(by_category=True)
    with CaptureQueriesContext(connection) as queries:
        again = verdict_styles_aggregate(by_category=True)
    assert not any(
        "arena_battle" in q["sql"] and "arena_output" in q["sql"] for q in queries.captured_queries
    )
    assert sql_style_groups(again) == python_style_groups()

    battle = Battle.objects.order_by("pk").first()  # a new battle of the same answers, the other way round
    battle.delete()
    fresh = Battle.objects.create(
        prompt_id=battle.prompt_id, output_a_id=battle.output_b_id, output_b_id=battle.output_a_id,
        contender_a_id=battle.contender_b_id, contender_b_id=battle.contender_a_id,
    )  # fmt: skip
    verdicts_add([fresh], votes_per_battle=3)
    assert len(battle_table(np.array([fresh.pk])).missing(np.array([fresh.pk]))) == 0
    assert sql_style_groups(verdict_styles_aggregate(by_category=True)) == python_style_groups()


def test_a_cached_battle_that_no_longer_matches_its_verdicts_is_read_again():
    from arena.models import Battle

    styled_arena()
    verdict_styles_aggregate(by_category=True)  # every battle is now in this process's table
    battle = Battle.objects.filter(verdicts__isnull=False).order_by("pk").first()
    # What a database restored under the same name can hold: the same battle id, other sides.
    Battle.objects.filter(pk=battle.pk).update(
        contender_a_id=battle.contender_b_id, contender_b_id=battle.contender_a_id,
        output_a_id=battle.output_b_id, output_b_id=battle.output_a_id,
    )  # fmt: skip
    Verdict.objects.filter(battle=battle).update(
        contender_a_id=battle.contender_b_id, contender_b_id=battle.contender_a_id
    )
    assert sql_style_groups(verdict_styles_aggregate(by_category=True)) == python_style_groups()
