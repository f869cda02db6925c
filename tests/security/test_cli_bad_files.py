"""The import commands answer a bad file with one line naming the file and line, never a traceback, and
import nothing: NUL bytes and lone surrogates (raw or escaped), 100k-deep JSON, over-long fields."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from arena.models import Battle, Contender, Output, Prompt, Verdict
from tests.support import factories

ROOT = Path(__file__).resolve().parents[2]
DEEP = "[" * 100_000 + "]" * 100_000
BAD_PROMPT_FILES = {
    "nul escape": ('{"id": "a", "text": "x\\u0000y"}\n', "line 1: field 'text' contains a NUL byte"),
    "lone surrogate escape": (
        '{"id": "a", "text": "x\\ud800y"}\n',
        "line 1: field 'text' contains a lone surrogate",
    ),
    "raw lone surrogate": (b'{"id": "a", "text": "x\xed\xa0\x80y"}\n', "line 1: the file is not valid UTF-8"),
    "100k-deep json": (DEEP + "\n", "line 1: JSON nested deeper than 64 levels"),
    "over-long id": (json.dumps({"id": "i" * 101, "text": "t"}) + "\n", "line 1: field 'external_id' is 101"),
}


def _write(tmp_path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


@pytest.mark.django_db
@pytest.mark.parametrize("case", BAD_PROMPT_FILES)
def test_import_prompts_refuses_a_bad_file_in_one_line(tmp_path, case):
    content, expected = BAD_PROMPT_FILES[case]
    path = _write(tmp_path, "prompts.jsonl", content)
    with pytest.raises(CommandError) as raised:
        call_command("import_prompts", str(path), "--prompt-set", "cli-set")
    message = str(raised.value)
    assert message.startswith(f"{path}, ") and expected in message and "\n" not in message
    assert not Prompt.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ('{"prompt_id": "p1", "output": "a\\u0000b"}\n', "line 1: field 'output' contains a NUL byte"),
        (
            '[{"instruction": "Question number 1?", "output": "\\udfff"}]',
            "record 1: field 'output' contains a lone",
        ),
        (DEEP, "the JSON list: JSON nested deeper than 64 levels"),
    ],
)
def test_import_outputs_refuses_a_bad_file_in_one_line(tmp_path, content, expected):
    factories.make_contender("cli-model")
    factories.make_prompt_set("cli-set")
    path = _write(tmp_path, "outputs.jsonl", content)
    with pytest.raises(CommandError) as raised:
        call_command("import_outputs", str(path), "--contender", "cli-model", "--prompt-set", "cli-set")
    assert expected in str(raised.value) and "\n" not in str(raised.value)
    assert not Output.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (
            '{"model_a": "a\\u0000", "model_b": "b", "winner": "model_a"}\n',
            "line 1: model name 'a\\x00' contains a NUL",
        ),
        ('{"model_a": "a\\ud800", "model_b": "b", "winner": "model_a"}\n', "line 1"),
        (DEEP, "line 1"),
    ],
)
def test_import_battles_refuses_a_bad_file_in_one_line(tmp_path, content, expected):
    path = _write(tmp_path, "battles.jsonl", content)
    with pytest.raises(CommandError) as raised:
        call_command("import_battles", str(path), "--format", "fastchat")
    assert expected in str(raised.value) and "\n" not in str(raised.value)
    assert not (Contender.objects.exists() or Battle.objects.exists() or Verdict.objects.exists())


def test_the_command_line_prints_the_error_without_a_traceback(tmp_path):
    path = _write(tmp_path, "prompts.jsonl", DEEP)
    env = {"PATH": "/usr/bin:/bin", "DEBUG": "1", "ARENA_VAR_DIR": str(tmp_path / "var")}
    result = subprocess.run(
        [sys.executable, "manage.py", "import_prompts", str(path), "--prompt-set", "x"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert (
        result.stderr.strip().splitlines()[-1].startswith(f"CommandError: {path}, line 1: JSON nested deeper")
    )
