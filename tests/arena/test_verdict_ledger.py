"""The verdict ledger (arena.services.verdicts): the one writer of Verdict rows, once per voter, all or nothing."""

import re
from pathlib import Path

import pytest

from arena.errors import Invalid
from arena.models import Dimension, Source, Verdict
from arena.services import verdicts as ledger
from arena.services.battles import battle_get_or_create, people_source, source_get_or_create
from arena.services.verdicts import VerdictEntry, verdicts_record
from tests.support import factories

ROOT = Path(__file__).resolve().parents[2]
# Every package of the project but the tests and the benchmarks (which seed verdicts in bulk for speed).
APPS = sorted(
    init.parent.name for init in ROOT.glob("*/__init__.py") if init.parent.name not in {"tests", "bench"}
)
LEDGER = ROOT / "arena" / "services" / "verdicts.py"

# Ways to create Verdict rows outside the ledger: the model's manager, an unsaved instance (then saved or
# bulk-created), a battle's related manager, or SQL naming the table.
VERDICT_WRITES = re.compile(
    r"\bVerdict\.objects\.(?:create|bulk_create|get_or_create|update_or_create)\b"
    r"|(?<!class )\bVerdict\("
    r"|\.verdicts\.(?:create|bulk_create|get_or_create|update_or_create)\b"
    r"|(?i:\b(?:INSERT\s+INTO|COPY)\s+\"?arena_verdict\b)"
    r"|\bVerdict\._meta\.db_table\b"
)


def verdict_writes(text: str) -> list[str]:
    """The lines of `text` that create Verdict rows by a way other than the ledger."""
    return [line.strip() for line in text.splitlines() if VERDICT_WRITES.search(line)]


def test_the_scan_finds_each_way_of_writing_verdicts():
    written = """
        Verdict.objects.create(battle=b)
        Verdict.objects.bulk_create(rows, ignore_conflicts=True)
        rows = [Verdict(battle_id=1) for _ in x]
        battle.verdicts.create(outcome="a")
        cursor.execute("insert into arena_verdict (id) values (1)")
        sql = f"INSERT INTO {Verdict._meta.db_table} VALUES (%s)"
        FinalVerdict.objects.bulk_create(finals)
        Verdict.objects.filter(pk=1).update(excluded=True)
        class Verdict(models.Model):
        messages.success(request, f"{changed} verdict(s) excluded")
    """
    assert len(verdict_writes(written)) == 6  # the last four lines write no Verdict row


def test_no_module_but_the_ledger_writes_verdict_rows():
    assert {"arena", "judges", "leaderboard", "live"} <= set(APPS)
    found = {}
    for app in APPS:
        for path in (ROOT / app).rglob("*.py"):
            if path == LEDGER or "migrations" in path.parts:
                continue
            lines = verdict_writes(path.read_text())
            if lines:
                found[str(path.relative_to(ROOT))] = lines
    assert found == {}, f"write verdicts through arena.services.verdicts (verdicts_record), not here: {found}"


def test_the_ledger_sql_names_every_column_of_the_model():
    assert Verdict._meta.db_table == "arena_verdict"
    model_columns = {field.column for field in Verdict._meta.concrete_fields} - {"id"}
    assert set(ledger._COLUMNS) == model_columns and len(ledger._COLUMNS) == len(model_columns)


@pytest.fixture
def battles(prompt_set):
    a, b, c = (factories.make_contender(slug) for slug in "abc")
    outputs = [factories.make_outputs(contender, prompt_set)[0] for contender in (a, b, c)]
    return [
        battle_get_or_create(output_a=outputs[0], output_b=outputs[1])[0],
        battle_get_or_create(output_a=outputs[2], output_b=outputs[0])[0],
    ]


def entry(battle, **fields) -> VerdictEntry:
    base = {"dimension_id": Dimension.objects.get(slug="overall").pk, "source_id": people_source().pk}
    return VerdictEntry(
        battle_id=battle.pk,
        contender_a_id=battle.contender_a_id,
        contender_b_id=battle.contender_b_id,
        **{**base, **fields},
    )


def test_a_batch_is_recorded_with_the_battles_contenders_and_scores_from_outcomes(battles):
    first, second = battles
    recorded = verdicts_record(
        [
            entry(first, outcome="a", voter_key="u:1"),
            entry(second, outcome="both_bad", voter_key="u:1", excluded=True),
            entry(first, score=0.25, voter_key="u:2"),
        ]
    )
    assert [r.created for r in recorded] == [True, True, True]
    rows = {
        v.pk: (v.battle_id, v.contender_a_id, v.contender_b_id, v.outcome, v.score, v.excluded)
        for v in Verdict.objects.all()
    }
    assert rows == {
        recorded[0].id: (first.pk, first.contender_a_id, first.contender_b_id, "a", 1.0, False),
        recorded[1].id: (second.pk, second.contender_a_id, second.contender_b_id, "both_bad", 0.5, True),
        recorded[2].id: (first.pk, first.contender_a_id, first.contender_b_id, None, 0.25, False),
    }


def test_a_repeat_keeps_the_stored_verdict_and_returns_its_id(battles):
    first, second = battles
    [stored] = verdicts_record([entry(first, outcome="b", voter_key="u:1")])
    again = verdicts_record(
        [
            entry(second, outcome="tie", voter_key="u:1"),
            entry(first, outcome="a", voter_key="u:1"),  # the same voter on the same battle: kept as "b"
            entry(second, outcome="tie", voter_key="u:1"),  # repeated within the call: created once
        ]
    )
    assert [r.created for r in again] == [True, False, False]
    assert again[1].id == stored.id and again[2].id == again[0].id
    assert Verdict.objects.get(pk=stored.id).outcome == "b"
    assert Verdict.objects.count() == 2


def test_a_judges_verdict_and_a_voters_verdict_on_the_same_battle_are_both_kept(battles):
    judge = source_get_or_create(kind=Source.Kind.JUDGE, key="judge-x", name="Judge X")
    recorded = verdicts_record(
        [entry(battles[0], outcome="a", voter_key="u:1"), entry(battles[0], outcome="b", source_id=judge.pk)]
    )
    assert [r.created for r in recorded] == [True, True]
    assert set(Verdict.objects.values_list("source__key", "outcome")) == {("people", "a"), ("judge-x", "b")}


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"outcome": "maybe"}, "Unknown outcome 'maybe': use one of a, b, tie, both_bad."),
        ({"score": 1.5}, "A soft verdict needs a score in [0, 1], got 1.5."),
        ({"score": None}, "A soft verdict needs a score in [0, 1], got None."),
        ({"outcome": "a", "voter_key": "u:" + "9" * 79}, "has 81 characters; the ledger keeps at most 80."),
    ],
)
def test_a_bad_entry_is_refused_with_its_reason_and_nothing_of_the_batch_is_kept(battles, bad, message):
    batch = [
        entry(battles[0], outcome="a", voter_key="u:1"),
        entry(battles[1], **{"voter_key": "u:2", **bad}),
    ]
    with pytest.raises(Invalid) as refused:
        verdicts_record(batch)
    assert message in str(refused.value)
    assert not Verdict.objects.exists()


def test_a_batch_larger_than_one_statement_is_recorded_whole(battles, monkeypatch):
    monkeypatch.setattr(ledger, "_batch_rows", lambda: 3)
    batch = [entry(battles[k % 2], outcome="tie", voter_key=f"u:{k}") for k in range(8)]
    verdicts_record(batch[:4])
    recorded = verdicts_record(batch)
    assert [r.created for r in recorded] == [False] * 4 + [True] * 4
    assert Verdict.objects.count() == 8 and len({r.id for r in recorded}) == 8


def test_the_ledgers_statement_for_a_callers_own_statement_keeps_the_same_rules(battles):
    # The vote path runs it inside its closing statement (arena.voting.vote_store.vote_close).
    from django.db import connection

    first, _second = battles
    [stored] = verdicts_record([entry(first, outcome="b", voter_key="u:1")])
    sql, params = ledger.verdicts_insert_statement(
        [entry(first, outcome="a", voter_key="u:1"), entry(first, outcome="tie", voter_key="u:2")]
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
    rows = dict(Verdict.objects.values_list("voter_key", "outcome"))
    assert rows == {"u:1": "b", "u:2": "tie"}  # the stored verdict kept as it was
    assert Verdict.objects.get(voter_key="u:1").pk == stored.id
    with pytest.raises(Invalid, match="Unknown outcome"):
        ledger.verdicts_insert_statement([entry(first, outcome="left", voter_key="u:3")])
    with pytest.raises(ValueError, match="0 entries"):
        ledger.verdicts_insert_statement([])
