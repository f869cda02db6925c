"""The serve's statements prepared once per connection (arena.voting.serve_store.prepared_run): what is prepared,
that generic plans stay index probes and give the same answers, and a serve after a migration changed a column
a prepared statement returns."""

import json
import random
import re
from types import SimpleNamespace
from typing import Any

import pytest
from django.db import DatabaseError, DataError, connection, transaction
from django.urls import reverse
from django.utils import timezone

from arena.models import Annotator, Assignment, Battle, Dimension, Source, Verdict
from arena.services.battles import people_source
from arena.voting import serve_store, serving, vote_store
from arena.voting.ballots import Ballot
from arena.voting.identity import annotator_for
from arena.voting.recording import vote_record
from arena.voting.stats import agreement_of, annotator_progress, overall_votes
from tests.support import factories

pytestmark = pytest.mark.skipif(connection.vendor != "postgresql", reason="prepared statements: PostgreSQL")

HX = {"HTTP_HX_REQUEST": "true"}
TOKEN = re.compile(r'/vote/b/([A-Za-z0-9_-]+)/"')


def _serve(client, task):
    return client.get(reverse("voting:task", args=[task.slug]) + "?start=1", **HX)


def _prepared() -> dict[str, tuple[str, int, int]]:
    """This connection's prepared statements: text -> (name, generic plans, custom plans)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement, name, generic_plans, custom_plans FROM pg_prepared_statements")
        return {sql: (name, generic, custom) for sql, name, generic, custom in cursor.fetchall()}


def _serve_and_vote(client, task, user) -> str:
    response = _serve(client, task)
    assert response.status_code == 200, response.content[:300]
    found = TOKEN.search(response.content.decode())
    assert found, response.content[:300]
    token = found.group(1)
    vote_record(token=token, voter=factories.voter_of(user), ballot=Ballot("left"))
    return token


# The serve's statements, by a piece of their text: the user with the task and annotator, the contenders, the
# pick, the INSERT, the progress counts.
SERVE_PIECES = (
    'AS "u__id"',
    "eligible AS MATERIALIZED",
    "WITH pick AS",
    "INSERT INTO arena_assignment",
    "WITH mine AS",
)


def _prepared_names() -> list[tuple[str, str, Any]]:
    """This connection's prepared statements, one row each: (name, text, when prepared)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT name, statement, prepare_time FROM pg_prepared_statements ORDER BY name")
        return cursor.fetchall()


def test_the_serves_statements_are_prepared_once_per_connection(client, db):
    task, _ = factories.make_voting_arena(n_contenders=3, n_prompts=4)
    factories.make_all_battles(task)
    user = factories.make_annotator_user("alice")
    client.force_login(user)
    connection.ensure_connection()
    _serve_and_vote(client, task, user)
    _serve_and_vote(client, task, user)  # the pair's copy and counts are warm: the pick statement runs
    first = _prepared_names()
    for piece in SERVE_PIECES:
        assert any(piece in sql for _name, sql, _when in first), (piece, first)
    # One name per text: the same annotator, no attention check (a None parameter, the annotator or the gold
    # battle, is sent untyped: the text would be prepared once more for it, legitimately).
    assert len({sql for _name, sql, _when in first}) == len(first), first
    _serve_and_vote(client, task, user)
    # Nothing prepared anew, under a new name or the same one: the same statements, run again.
    assert _prepared_names() == first
    assert connection.connection.prepare_threshold is None  # Django's own cursors prepare nothing


def _history(task, voter_key: str, others: int, judges: int) -> int:
    """`voter_key` voted on every battle of the task in every dimension, and so did `others` people and
    `judges` judges, all written in bulk (the tables' statistics know nothing of them). Returns how many
    overall verdicts (people's and judges') the battles have: what the progress counts may read."""
    battles = list(Battle.objects.filter(prompt__prompt_set=task.prompt_set))
    keys = [voter_key, *(f"s:bulk-{i}" for i in range(others))]
    sources = [(people_source(), key) for key in keys] + [
        (Source.objects.create(kind=Source.Kind.JUDGE, key=f"bulk-judge-{j}", name=f"Judge {j}"), "")
        for j in range(judges)
    ]
    dimensions = list(Dimension.objects.all())
    assert len(dimensions) > 1
    rng = random.Random(5)
    Verdict.objects.bulk_create(
        Verdict(battle=b, dimension=dimension, source=source, contender_a_id=b.contender_a_id,
                contender_b_id=b.contender_b_id, voter_key=key, outcome=outcome,
                score={"a": 1.0, "b": 0.0}[outcome])
        for b in battles for source, key in sources for dimension in dimensions for outcome in [rng.choice("ab")]
    )  # fmt: skip
    return len(sources) * len(battles)


def _rows_read(plan: dict, table: str) -> int:
    own = 0
    if plan.get("Relation Name") == table:
        own = round(
            (plan.get("Actual Rows", 0) + plan.get("Rows Removed by Filter", 0)) * plan.get("Actual Loops", 1)
        )
    return own + sum(_rows_read(child, table) for child in plan.get("Plans", []))


@pytest.mark.django_db(transaction=True)
def test_progress_generically_planned_reads_the_others_votes_battle_by_battle():
    """A prepared statement is planned generically after five runs, without the parameters' values; in
    bench/profile_votes.py the generic plan of the progress counts read the people's verdicts through the
    source's index, every one of them once per battle of the voter (docs/voting-performance.md). The history
    here is written in bulk, with judges' verdicts and several dimensions besides the people's overall votes,
    then the table's indexes rebuilt, as a restore builds them after loading the rows: the planner knows the
    table's size but has no statistics of its columns, the state in which that plan came back without the
    `+ 0` (each battle probed for all the people's overall verdicts). The counts must read the overall
    verdicts on the voter's battles only."""
    factories.ensure_dimensions()  # a transactional test's flush deleted the seeded ones
    task, _ = factories.make_voting_arena(n_contenders=4, n_prompts=10)
    factories.make_all_battles(task)
    annotator = Annotator.objects.create(voter_key="s:alice")
    with connection.cursor() as cursor:
        # Autovacuum would analyse the table after the bulk write below (at its own time): kept off it while
        # the test needs a table without column statistics, so the test is not decided by a race.
        cursor.execute("ALTER TABLE arena_verdict SET (autovacuum_enabled = false)")
        # Earlier tests' writes may have had the table analysed already (statistics outlive the flush).
        cursor.execute("SELECT COUNT(*) FROM pg_statistic WHERE starelid = 'arena_verdict'::regclass")
        if cursor.fetchone()[0]:
            cursor.execute("SELECT current_setting('is_superuser') = 'on'")
            if not cursor.fetchone()[0]:
                cursor.execute("ALTER TABLE arena_verdict RESET (autovacuum_enabled)")
                pytest.skip("arena_verdict was analysed earlier in this run; clearing that needs a superuser")
            cursor.execute("DELETE FROM pg_statistic WHERE starelid = 'arena_verdict'::regclass")
    try:
        overall = _history(task, annotator.voter_key, others=40, judges=6)
        with connection.cursor() as cursor:
            cursor.execute("REINDEX TABLE arena_verdict")  # stores the size in pg_class, no column statistics
            cursor.execute("SELECT reltuples FROM pg_class WHERE oid = 'arena_verdict'::regclass")
            assert cursor.fetchone()[0] >= overall
            cursor.execute("SELECT COUNT(*) FROM pg_statistic WHERE starelid = 'arena_verdict'::regclass")
            assert cursor.fetchone()[0] == 0
        with transaction.atomic():
            _progress_generic_reads(annotator, overall)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE arena_verdict RESET (autovacuum_enabled)")


def _progress_generic_reads(annotator: Annotator, overall: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL plan_cache_mode = force_generic_plan")  # this transaction only
    today = timezone.now().replace(hour=0, minute=0)
    counts = serve_store.progress_counts(annotator, today)
    assert counts.compared > 0
    [(sql, (name, generic, _custom))] = [
        (s, p) for s, p in _prepared().items() if s.lstrip().startswith("WITH mine AS")
    ]
    assert generic == 1
    # The statement's parameters are numbered by their first appearance in the text (psycopg's conversion).
    names = list(dict.fromkeys(re.findall(r"%\((\w+)\)s", serve_store._PROGRESS_BY_VENDOR["postgresql"])))
    values: dict[str, Any] = {"annotator": annotator.pk, "voter_key": annotator.voter_key, "today": today,
                              "voted": "voted", "skipped": "skipped", "after": 0}  # fmt: skip
    with connection.cursor() as cursor:
        placeholders = ", ".join(["%s"] * len(names))
        cursor.execute(
            f"EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE {name}({placeholders})", [values[n] for n in names]
        )
        plan = cursor.fetchone()[0]
    plan = json.loads(plan) if isinstance(plan, str) else plan
    assert "$1" in json.dumps(plan)  # the generic plan indeed (the parameters are not in it)
    reads = _rows_read(plan[0]["Plan"], "arena_verdict")
    # Legitimately read: the voter's own overall votes and the 47 overall verdicts on each of their battles,
    # once (41 people's, 6 judges'). Not all the people's verdicts per battle (~147,000 rows read with no `+ 0`),
    # nor each battle's verdicts in every dimension (~17,000 with the dimension's `+ 0` too).
    assert reads < 2 * overall, (reads, overall)


def test_agreement_generically_planned_follows_the_python_rule(db):
    """As tests/arena/test_voting_serve_path.py's check of the rule, with the prepared statement's generic plan."""
    task, _ = factories.make_voting_arena(n_contenders=3, n_prompts=4, votes_per_battle=6)
    rng = random.Random(13)
    people = [factories.make_annotator_user(f"p{i}") for i in range(7)]
    for _ in range(4):
        for person in people:
            assignment = factories.serve_to(task, person)
            if assignment is not None:
                choice = rng.choice(["left", "right", "tie", "both_bad"])
                vote_record(token=assignment.token, voter=factories.voter_of(person), ballot=Ballot(choice))
    Verdict.objects.filter(voter_key=f"u:{people[1].pk}").update(excluded=True)
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL plan_cache_mode = force_generic_plan")
    votes = overall_votes()
    compared = 0
    for person in people:
        annotator = annotator_for(factories.voter_of(person))
        expected = agreement_of(annotator.voter_key, votes)
        assert annotator_progress(annotator).agreement == expected, person.username
        compared += expected.compared
    assert compared > 0
    progress = [p for s, p in _prepared().items() if s.lstrip().startswith("WITH mine AS")]
    assert progress and progress[0][1] >= len(people)  # every run generically planned


def _other_connection():
    import psycopg

    settings_dict = connection.settings_dict
    return psycopg.connect(
        host=settings_dict["HOST"], port=settings_dict["PORT"] or 5432, user=settings_dict["USER"],
        password=settings_dict["PASSWORD"], dbname=settings_dict["NAME"], autocommit=True,
    )  # fmt: skip


@pytest.fixture
def task_name_type_changed_later():
    """A function changing the type of arena_annotationtask.name (a column the serve's first statement returns)
    from another connection, as a deploy's migration would; restored after."""
    with _other_connection() as other:
        original = other.execute(
            "SELECT format_type(atttypid, atttypmod) FROM pg_attribute"
            " WHERE attrelid = 'arena_annotationtask'::regclass AND attname = 'name'"
        ).fetchone()[0]
    widths = iter(range(211, 240))

    def change() -> None:
        with _other_connection() as other:
            other.execute(f"ALTER TABLE arena_annotationtask ALTER COLUMN name TYPE varchar({next(widths)})")

    yield change
    with _other_connection() as other:
        other.execute(f"ALTER TABLE arena_annotationtask ALTER COLUMN name TYPE {original}")


@pytest.mark.django_db(transaction=True)
def test_a_serve_after_a_migration_changed_a_returned_columns_type_is_served(
    client, task_name_type_changed_later, monkeypatch
):
    """PostgreSQL refuses a prepared statement whose result's types changed ("cached plan must not change result
    type"). A serve runs in autocommit, where no rollback makes psycopg forget the statement: it would be
    refused on every serve of the connection. The prepared statements are dropped and the statement run again."""
    factories.ensure_dimensions()  # a transactional test's flush deleted the seeded ones
    people_source()
    task, _ = factories.make_voting_arena(n_contenders=3, n_prompts=4)
    user = factories.make_annotator_user("alice")
    client.force_login(user)
    forgotten = []
    forget = serve_store._prepared_forget
    monkeypatch.setattr(serve_store, "_prepared_forget", lambda db: forgotten.append(1) or forget(db))
    served = [_serve_and_vote(client, task, user)]
    task_name_type_changed_later()
    served.append(_serve_and_vote(client, task, user))
    assert forgotten == [1]
    served.append(_serve_and_vote(client, task, user))  # prepared anew, and used
    task_name_type_changed_later()
    served.append(_serve_and_vote(client, task, user))
    assert len(forgotten) == 2
    assert any('AS "u__id"' in sql for sql in _prepared())
    assert Assignment.objects.filter(token__in=served, state=Assignment.State.VOTED).count() == 4
    assert Verdict.objects.count() == 4


def test_the_preparing_cursor_sends_every_integer_as_bigint(db):
    """Django wraps an integer field's value in psycopg's Int2 or Int4 (`get_db_prep_save`); sent as such, psycopg
    packs it into 16 or 32 bits, silently wrapping a value out of range. Sent as int8, PostgreSQL checks it."""
    from psycopg.types.numeric import Int2, Int4, Int8

    with vote_store.prepared_cursor(connection) as cursor:
        for value in (7, 2**40, Int2(7), Int4(7), Int4(2**32 + 1500), Int8(7)):
            cursor.execute("SELECT pg_typeof(%s)::text, %s::numeric::text", [value, value])
            assert cursor.fetchone() == ("bigint", str(int(value))), type(value)


@pytest.mark.parametrize("ms", [2**32 + 1500, 2**31 + 5])
def test_an_insert_out_of_the_columns_range_is_refused_not_wrapped(db, ms):
    """min_read_ms is an integer column: a value past it is refused, as the ORM's INSERT is refused ("integer out
    of range"), rather than stored wrapped (2**32 + 1500 as 1500) or refused by a check as if negative."""
    task, _ = factories.make_voting_arena(n_contenders=3, n_prompts=2)
    factories.make_all_battles(task)
    annotator = Annotator.objects.create(voter_key="s:x")
    new = Assignment(token="t", task=task, annotator=annotator, battle=Battle.objects.first(), left_is_a=True,
                     min_read_ms=ms)  # fmt: skip
    with pytest.raises(DataError, match="integer out of range"), transaction.atomic():
        serve_store.assignment_insert(new)
    # The ORM's INSERT of the same value, to compare.
    with pytest.raises(DataError, match="integer out of range"), transaction.atomic():
        Assignment.objects.create(token="o", task=task, annotator=annotator, battle=Battle.objects.first(),
                                  left_is_a=True, min_read_ms=ms)  # fmt: skip
    assert not Assignment.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_serve_whose_reading_time_is_out_of_range_fails_rather_than_picking_again(monkeypatch):
    """In autocommit the serve takes an IntegrityError for a battle deleted since the pick, and picks again; a
    value out of the column's range is no such thing: the error reaches the caller and nothing is written."""
    factories.ensure_dimensions()
    people_source()
    task, _ = factories.make_voting_arena(n_contenders=3, n_prompts=3)
    factories.make_all_battles(task)
    annotator = Annotator.objects.create(voter_key="s:x")
    monkeypatch.setattr(serving, "min_read_ms", lambda *texts: 2**31 + 5)
    with pytest.raises(DataError, match="integer out of range"):
        serving.assignment_serve(task=task, annotator=annotator)
    assert not Assignment.objects.exists()


class _Translated(Exception):
    """A psycopg error as a server with other lc_messages reports it: same SQLSTATE and origin, other words."""

    def __init__(self, original: Exception) -> None:
        super().__init__("el plan almacenado en caché no debe cambiar el tipo de resultado")
        self.sqlstate = original.sqlstate  # type: ignore[attr-defined]
        self.diag = SimpleNamespace(source_function=original.diag.source_function)  # type: ignore[attr-defined]


@pytest.mark.django_db(transaction=True)
def test_a_stale_plan_is_known_by_its_sqlstate_and_origin_not_its_words(task_name_type_changed_later):
    """PostgreSQL translates its messages (lc_messages): the refusal of a stale prepared statement is known by
    its SQLSTATE (0A000) and the server function raising it, whatever the message says."""
    factories.make_voting_arena(n_contenders=2, n_prompts=1)
    sql = "SELECT name FROM arena_annotationtask"
    serve_store.prepared_run(sql, [], lambda cursor: cursor.fetchall())
    task_name_type_changed_later()
    # No retry inside a transaction: the refusal reaches the caller.
    with pytest.raises(DatabaseError) as raised, transaction.atomic():
        serve_store.prepared_run(sql, [], lambda cursor: cursor.fetchall())
    refusal = raised.value.__cause__
    assert (refusal.sqlstate, refusal.diag.source_function) == ("0A000", "RevalidateCachedQuery")
    assert vote_store.stale_prepared_plan(raised.value)
    translated = DatabaseError("translated")
    translated.__cause__ = _Translated(refusal)
    assert vote_store.stale_prepared_plan(translated)


@pytest.mark.django_db(transaction=True)
def test_another_feature_not_supported_error_is_not_retried(monkeypatch):
    """0A000 is PostgreSQL's "feature not supported", raised for much else: such an error is not retried."""
    forgotten = []
    forget = serve_store._prepared_forget
    monkeypatch.setattr(serve_store, "_prepared_forget", lambda db: forgotten.append(1) or forget(db))
    with pytest.raises(DatabaseError) as raised:
        serve_store.prepared_run(
            "SELECT COUNT(*) FROM arena_dimension FOR UPDATE", [], lambda cursor: cursor.fetchall()
        )
    error = raised.value.__cause__
    assert error.sqlstate == "0A000" and error.diag.source_function != "RevalidateCachedQuery"
    assert not vote_store.stale_prepared_plan(raised.value)
    assert not vote_store.stale_prepared_plan(_Translated(error))
    assert forgotten == []
