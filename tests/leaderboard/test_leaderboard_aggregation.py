"""The SQL aggregation behind every leaderboard: exactly what a Python recount of the verdicts gives."""

import contextlib
from collections import defaultdict

import numpy as np
import pytest
from django.db import connection, transaction

from arena.models import Dimension, Verdict
from leaderboard.rating import pair_counts_from_scores
from leaderboard.services.aggregation import (
    OUTCOMES,
    verdict_columns_read,
    verdict_pairs_aggregate,
    verdict_styles_aggregate,
    verdicts_aggregate,
)
from leaderboard.services.recompute import boards_read
from leaderboard.services.verdict_sql import counted_where
from tests.leaderboard.arena_data import arena_make, judge_source, verdicts_add

pytestmark = pytest.mark.django_db


def random_arena(statuses=None, inactive=("clarity",)):
    arena = arena_make(
        ("ant", "bee", "cat", "dog", "eel", "fox"),
        statuses={"eel": "pending", "fox": "hidden"} if statuses is None else statuses,
        n_prompts=8,
    )
    verdicts_add(arena.battles, seed=11, soft_share=0.2, excluded_share=0.1)
    verdicts_add(arena.battles, seed=12, dimension="helpfulness", votes_per_battle=2, soft_share=0.1)
    verdicts_add(arena.battles, source=judge_source(), seed=13, soft_share=0.3, excluded_share=0.2)
    Dimension.objects.filter(slug__in=inactive).update(is_active=False)
    verdicts_add(arena.battles[:10], seed=14, dimension="clarity")
    return arena


@contextlib.contextmanager
def repeatable_read():
    """A transaction as the recompute opens one: every statement sees one snapshot. (Tests otherwise run in
    the test's own transaction, READ COMMITTED, where nothing is left out on the lists' word or packed.)"""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        yield


def counted_verdicts():
    """The verdicts a leaderboard should count, chosen in Python: the specification the SQL must meet."""
    verdicts = Verdict.objects.select_related("battle__prompt", "contender_a", "contender_b", "dimension")
    return [
        v
        for v in verdicts
        if not v.excluded
        and v.contender_a.status == "approved"
        and v.contender_b.status == "approved"
        and v.dimension.is_active
    ]


def python_recount():
    groups = defaultdict(lambda: [0, 0.0])
    for v in counted_verdicts():
        key = (
            v.source_id,
            v.dimension_id,
            v.battle.prompt.category,
            v.contender_a_id,
            v.contender_b_id,
            v.outcome,
        )
        groups[key][0] += 1
        groups[key][1] += v.score
    return {key: tuple(value) for key, value in groups.items()}


def sql_groups(rows):
    return {
        (s, d, rows.categories[c], a, b, OUTCOMES[o]): (n, t)
        for s, d, c, a, b, o, n, t in zip(
            rows.source.tolist(),
            rows.dimension.tolist(),
            rows.category.tolist(),
            rows.a.tolist(),
            rows.b.tolist(),
            rows.outcome.tolist(),
            rows.count.tolist(),
            rows.total.tolist(),
            strict=True,
        )
    }


def test_sql_aggregation_equals_a_python_recount_of_random_verdicts_exactly():
    random_arena()

    assert sql_groups(verdict_pairs_aggregate(by_category=True)) == python_recount()


@pytest.mark.parametrize(
    ("statuses", "inactive"),
    [
        ({}, ()),  # every contender approved, every dimension active: no condition on either
        ({"eel": "pending", "fox": "hidden"}, ("clarity",)),  # the few others left out by name
        # most left out: the few counted named instead
        (
            {s: "pending" for s in ("bee", "cat", "dog", "eel")},
            ("clarity", "correctness", "conciseness", "harmlessness"),
        ),
    ],
)
@pytest.mark.django_db(transaction=True)
def test_the_same_verdicts_count_whichever_way_the_condition_names_them(statuses, inactive):
    """`counted_where` leaves out a condition every verdict meets, and names the shorter list otherwise."""
    random_arena(statuses, inactive)
    with repeatable_read():
        where = counted_where(source_ids=None, dimension_ids=None)
        assert where is not None
        assert sql_groups(verdict_pairs_aggregate(by_category=True)) == python_recount()
        pairs, _ = verdicts_aggregate(by_category=True)
    assert {key: n for key, (n, _) in sql_groups(pairs).items()} == {
        key: n for key, (n, _) in python_recount().items()
    }
    excluding, including = (
        where.sql.count(" NOT IN ("),
        where.sql.count(" IN (") - where.sql.count(" NOT IN ("),
    )
    assert (excluding, including) == {0: (0, 0), 2: (3, 0), 4: (0, 3)}[len(statuses)]


def test_outside_one_snapshot_a_late_dimension_neither_counts_nor_spills_into_other_columns(monkeypatch):
    """In READ COMMITTED (a recompute nested in a caller's transaction, or the aggregates called alone), a
    dimension committed between the read of the lists and the read of the verdicts is in neither list, and
    its id is wider than the widths read before it: the counted ids are named in full and nothing is packed."""
    from leaderboard.services import aggregation

    arena = random_arena(
        statuses={}, inactive=()
    )  # everything counts: the lists alone would leave no condition
    counted = sorted(
        (v.pk, v.source_id, v.dimension_id, v.contender_a_id, v.contender_b_id) for v in counted_verdicts()
    )
    query = aggregation.battle_scores_query

    def a_dimension_arrives_first(*args, **kwargs):
        Dimension.objects.create(pk=2**20, slug="late", name="Late", rubric="Added during the read.")
        verdicts_add(arena.battles[:5], dimension="late", seed=21)
        return query(*args, **kwargs)

    monkeypatch.setattr(aggregation, "battle_scores_query", a_dimension_arrives_first)
    columns = verdict_columns_read(None, None, with_outcome=True, with_id=True)

    names = ("verdict", "source", "dimension", "a", "b")
    assert sorted(zip(*(columns[name].tolist() for name in names), strict=True)) == counted
    where = counted_where(source_ids=None, dimension_ids=None)
    assert where is not None and where.sql.count(" IN (") == 3 and " NOT IN (" not in where.sql


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("with_outcome", [True, False])
def test_packed_verdict_columns_equal_the_plain_ones(with_outcome):
    """PostgreSQL sends contenders, and source, dimension and outcome, packed into one integer each; unpacked
    they are the columns read one by one (soft verdicts, every outcome, two sources and dimensions). Packed
    in the recompute's one snapshot only; read the same in READ COMMITTED, unpacked."""
    from leaderboard.services import aggregation

    random_arena()
    with repeatable_read():
        assert aggregation.packing() is not None
        packed = verdict_columns_read(None, None, with_outcome=with_outcome, with_id=True)
    with transaction.atomic():  # READ COMMITTED, the default
        assert aggregation.packing() is None
        plain = verdict_columns_read(None, None, with_outcome=with_outcome, with_id=True)

    assert list(packed) == list(plain)
    by_id, plain_by_id = np.argsort(packed["verdict"]), np.argsort(plain["verdict"])
    for name in plain:
        np.testing.assert_array_equal(packed[name][by_id], plain[name][plain_by_id])
    assert len(plain["verdict"]) == len(counted_verdicts())
    if with_outcome:
        assert set(plain["outcome"].tolist()) == {0, 1, 2, 3, 4}


def test_one_read_groups_the_same_pairs_and_style_rows_as_the_two_queries():
    """With style control on, a recompute reads the verdicts once and groups them both ways in numpy."""
    random_arena()

    pairs, styles = verdicts_aggregate(by_category=True)

    expected = python_recount()
    found = sql_groups(pairs)
    assert found.keys() == expected.keys()
    for key, (count, total) in found.items():
        # Counts exactly; score totals up to the order floats were summed in (soft verdicts).
        assert count == expected[key][0] and total == pytest.approx(expected[key][1], abs=1e-12)
    separate = verdict_styles_aggregate(by_category=True)
    for name in (
        "source",
        "dimension",
        "category",
        "a",
        "b",
        "count",
        "total",
        "style_a",
        "style_b",
        "battles",
    ):
        np.testing.assert_array_equal(getattr(styles, name), getattr(separate, name))
    assert styles.categories == pairs.categories == verdict_pairs_aggregate(by_category=True).categories


def test_excluded_verdicts_non_approved_contenders_and_inactive_dimensions_are_left_out():
    arena = random_arena()
    left_out = {c.pk for c in arena.contenders if c.status != "approved"}

    rows = verdict_pairs_aggregate(by_category=True)

    assert left_out.isdisjoint(set(rows.a.tolist()) | set(rows.b.tolist()))
    assert rows.count.sum() == len(counted_verdicts()) < Verdict.objects.count()
    assert Dimension.objects.get(slug="clarity").pk not in rows.dimension.tolist()


def test_style_groups_hold_the_same_verdicts_as_the_pair_groups():
    random_arena()

    pairs, styles = verdict_pairs_aggregate(by_category=True), verdict_styles_aggregate(by_category=True)

    assert styles.count.sum() == pairs.count.sum()
    assert styles.total.sum() == pytest.approx(pairs.total.sum(), abs=1e-9)


def test_board_counts_equal_counts_folded_from_single_verdicts():
    random_arena()
    boards = {(b.key.source.key, b.key.dimension_id, b.key.category): b for b in boards_read()}
    overall = Dimension.objects.get(slug="overall").pk
    board = boards["people", overall, ""]
    mine = [v for v in counted_verdicts() if v.source.key == "people" and v.dimension_id == overall]
    ids = list(board.data.contender_ids)

    expected = pair_counts_from_scores(
        board.data.counts.models,
        np.array([ids.index(v.contender_a_id) for v in mine]),
        np.array([ids.index(v.contender_b_id) for v in mine]),
        np.array([v.score for v in mine]),
    )

    # Soft verdicts split differently into win and tie mass once summed, but each side's score is the same.
    np.testing.assert_allclose(board.data.counts.comparison_matrix, expected.comparison_matrix, atol=1e-12)
    np.testing.assert_array_equal(board.data.counts.battles, expected.battles)
    assert board.data.n_verdicts == len(mine)


def test_judges_pool_sums_every_judge_and_categories_partition_all():
    arena = random_arena()
    verdicts_add(arena.battles, source=judge_source("judge-two", "Second judge"), seed=21)
    boards = {(b.key.source.key, b.key.dimension_id, b.key.category): b.data for b in boards_read()}
    overall = Dimension.objects.get(slug="overall").pk

    pooled = boards["judges", overall, ""].counts.battles
    one, two = (
        boards["judge-gpt", overall, ""].counts.battles,
        boards["judge-two", overall, ""].counts.battles,
    )
    np.testing.assert_array_equal(pooled, one + two)
    by_category = (
        boards["people", overall, "math"].n_verdicts + boards["people", overall, "writing"].n_verdicts
    )
    assert by_category == boards["people", overall, ""].n_verdicts
