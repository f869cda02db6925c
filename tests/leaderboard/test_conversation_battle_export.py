"""Exported battles of a two-turn prompt carry the whole conversation: FastChat's conversation_a/_b list
every user turn with that side's reply, JSON lines and CSV add the later turns and replies; withheld
answers stay withheld in every turn."""

from __future__ import annotations

import csv
import io
import json

from django.core.management import call_command

from arena.models import Dimension, Output
from arena.services.battles import battle_get_or_create, people_source
from arena.services.verdicts import verdict_record
from leaderboard.services.battle_export import BattleExport, export_chunks
from tests.support import factories
from tests.support.conversations import import_mt_bench


def _export(*args: str) -> str:
    out = io.StringIO()
    call_command("export_battles", *args, stdout=out)
    return out.getvalue()


def _arena():
    prompt_set, (alpha, beta) = import_mt_bench()
    a = Output.objects.get(contender=alpha, prompt__external_id="102")
    b = Output.objects.get(contender=beta, prompt__external_id="102")
    battle, _ = battle_get_or_create(output_a=a, output_b=b)
    overall = Dimension.objects.get(slug="overall")
    verdict_record(battle=battle, dimension=overall, source=people_source(), outcome="a", voter_key="v1")
    return prompt_set, a, b


def test_fastchat_jsonl_and_csv_exports_hold_every_turn(db):
    _, a, b = _arena()
    (battle,) = json.loads(_export("--format", "fastchat"))
    prompt = a.prompt
    assert battle["turn"] == 2
    assert battle["conversation_a"] == [
        {"role": "user", "content": prompt.text}, {"role": "assistant", "content": a.text},
        {"role": "user", "content": prompt.later_turns[0]}, {"role": "assistant", "content": a.later_replies[0]},
    ]  # fmt: skip
    assert [m["content"] for m in battle["conversation_b"][1::2]] == b.replies
    (record,) = [json.loads(line) for line in _export().splitlines()]
    assert record["prompt"] == prompt.text and record["later_turns"] == prompt.later_turns
    assert record["later_answers_a"] == a.later_replies and record["later_answers_b"] == b.later_replies
    (row,) = csv.DictReader(io.StringIO(_export("--format", "csv")))
    assert json.loads(row["later_answers_b"]) == b.later_replies and row["answer_b"] == b.text


def test_a_withheld_battle_withholds_every_turn_of_both_answers(db):
    prompt_set, a, _ = _arena()
    factories.make_voting_task(prompt_set, slug="open")
    (record,) = [
        json.loads(line) for line in "".join(export_chunks(BattleExport(), sees_blind=False)).splitlines()
    ]
    assert record["answers_withheld"] and record["answer_a"] is None and record["later_answers_a"] is None
    assert record["later_turns"] == a.prompt.later_turns  # prompts are public
    fastchat = json.loads("".join(export_chunks(BattleExport(file_format="fastchat"), sees_blind=False)))
    assert [m["role"] for m in fastchat[0]["conversation_a"]] == ["user", "user"]
