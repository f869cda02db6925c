"""`manage.py import_prompts`: JSONL in, all or nothing."""

import pytest
from django.core.management import CommandError, call_command

from arena.models import Prompt, PromptSet

GOOD = b'{"id": "q1", "text": "Two plus two?", "category": "math", "reference": "4"}\n{"id": "q2", "text": "Capital of Peru?", "category": "geo"}\n'


def test_it_creates_the_set_and_prompts(db, tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_bytes(GOOD)
    call_command("import_prompts", str(path), prompt_set="quiz")
    rows = list(
        Prompt.objects.order_by("external_id").values_list("external_id", "category", "reference_answer")
    )
    assert rows == [("q1", "math", "4"), ("q2", "geo", "")]
    assert PromptSet.objects.get().slug == "quiz"


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (GOOD + b'{"id": "q1", "text": "Again"}\n', "line 3: prompt id 'q1' repeats line 1"),
        (GOOD + b'{"id": "q3"}\n', "line 3: missing field 'text'"),
        (GOOD + b'{"id": "q3", "text": ""}\n', "line 3: field 'text' is empty"),
        (GOOD + b'{"id": "q3", "text": "x", "category": 5}\n', "line 3: field 'category' must be a string"),
        (GOOD + b"{oops\n", "line 3: malformed JSON"),
        (b"\xff\xfe" + GOOD, "line 1: the file is not valid UTF-8"),
    ],
)
def test_bad_prompt_files_write_nothing(db, tmp_path, data, fragment):
    path = tmp_path / "p.jsonl"
    path.write_bytes(data)
    with pytest.raises(CommandError) as err:
        call_command("import_prompts", str(path), prompt_set="quiz")
    assert fragment in str(err.value)
    assert not Prompt.objects.exists() and not PromptSet.objects.exists()


def test_reimporting_an_id_is_refused(db, tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_bytes(GOOD)
    call_command("import_prompts", str(path), prompt_set="quiz")
    path.write_bytes(b'{"id": "q9", "text": "New?"}\n{"id": "q2", "text": "Changed?"}\n')
    with pytest.raises(CommandError, match="line 2: prompt id 'q2' is already in prompt set 'quiz'"):
        call_command("import_prompts", str(path), prompt_set="quiz")
    assert Prompt.objects.count() == 2


def test_bad_prompt_set_slug(db, tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_bytes(GOOD)
    with pytest.raises(CommandError, match="Slug 'no spaces' is not valid"):
        call_command("import_prompts", str(path), prompt_set="no spaces")
