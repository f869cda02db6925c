"""Property-based tests (hypothesis): whatever bytes arrive, the upload parsers and the vote endpoint answer
with a result or a clear input error (file and line, or a 4xx) — never another exception, never a 500 — and a
refused input writes nothing.

Inputs mix raw bytes, arbitrary Unicode (lone surrogates and NUL included, both raw and as JSON escapes),
deeply nested JSON and structurally plausible records (the right keys with wrong or hostile values), so
examples reach past the first line of each parser. Example counts are bounded (HYPOTHESIS_EXAMPLES, default
200 per pure parser, a quarter of that where the database is involved) and derandomized so a failure here
is a regression; each test prints how many examples it ran.
"""

from __future__ import annotations

import json
import os
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from arena.errors import Invalid
from arena.models import Assignment, Output, Prompt, Verdict
from arena.services.files import text_problem
from arena.services.outputs import outputs_import
from arena.services.prompts import prompts_import
from arena.services.uploads import decode_upload, parse_output_records, parse_prompt_records
from leaderboard.battle_files import BattleFileError, read_battle_files
from tests.support import factories

EXAMPLES = int(os.environ.get("HYPOTHESIS_EXAMPLES", "200"))
DB_EXAMPLES = max(10, EXAMPLES // 4)
RUNS: Counter = Counter()

PURE = settings(
    max_examples=EXAMPLES, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck)
)
WITH_DB = settings(
    max_examples=DB_EXAMPLES, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck)
)

# Every code point, lone surrogates (category Cs) and NUL included.
ANY_CHAR = st.characters(codec=None, exclude_categories=())
ANY_TEXT = st.text(ANY_CHAR, max_size=40)
KEYS = st.sampled_from(
    ["prompt_id", "prompt", "output", "id", "text", "category", "language", "reference", "instruction",
     "generator", "model_a", "model_b", "winner", "question_id", "generator_1", "generator_2", "preference",
     "turns", "messages", "choices", "model_id", "system", "role", "content"]
)  # fmt: skip
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), ANY_TEXT)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.one_of(KEYS, ANY_TEXT), children, max_size=5)
    ),
    max_leaves=12,
)
RECORDS = st.dictionaries(KEYS, SCALARS, min_size=1, max_size=6)


def _deep(depth: int) -> str:
    return "[" * depth + "]" * depth


@st.composite
def upload_texts(draw) -> str:
    """A file's text: JSON lines of plausible records, one JSON list, nested JSON, or anything at all."""
    kind = draw(st.sampled_from(["jsonl", "list", "deep", "anything"]))
    if kind == "jsonl":
        lines = draw(st.lists(st.one_of(RECORDS, JSON_VALUES), min_size=1, max_size=5))
        ascii_only = draw(
            st.booleans()
        )  # \\uXXXX escapes (lone surrogates, NUL) or the characters themselves
        return "\n".join(json.dumps(line, ensure_ascii=ascii_only) for line in lines)
    if kind == "list":
        return json.dumps(draw(st.lists(st.one_of(RECORDS, JSON_VALUES), max_size=5)))
    if kind == "deep":
        return _deep(draw(st.integers(min_value=50, max_value=5000)))
    return draw(st.text(ANY_CHAR, max_size=200))


def _encode(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")  # lone surrogates as (invalid) UTF-8 bytes


def _storable(*values: str | None) -> bool:
    return all(value is None or text_problem(value) is None for value in values)


@pytest.fixture(scope="module", autouse=True)
def _print_runs():
    yield
    print("\nhypothesis examples: " + ", ".join(f"{name} {count}" for name, count in sorted(RUNS.items())))


@PURE
@given(st.one_of(st.binary(max_size=300), upload_texts().map(_encode)))
def test_output_parsing_returns_storable_records_or_an_input_error(data):
    RUNS["output parser"] += 1
    try:
        records = parse_output_records(decode_upload(data, filename="o.jsonl"), fmt=None, filename="o.jsonl")
    except Invalid as error:
        assert error.message.startswith("o.jsonl") or error.field == "format"
        return
    for record in records:
        assert _storable(*record.replies, record.prompt_id, record.prompt_text, record.generator)
        assert _storable(*(record.user_turns or ()), record.system_message)


@PURE
@given(st.one_of(st.binary(max_size=300), upload_texts().map(_encode)))
def test_prompt_parsing_returns_storable_records_or_an_input_error(data):
    RUNS["prompt parser"] += 1
    try:
        records = parse_prompt_records(decode_upload(data, filename="p.jsonl"), filename="p.jsonl")
    except Invalid as error:
        assert error.message.startswith("p.jsonl")
        return
    for record in records:
        assert _storable(
            record.external_id, record.text, record.category, record.language, record.reference_answer
        )
        assert _storable(*record.later_turns, record.system_message)


@st.composite
def battle_file_texts(draw) -> str:
    kind = draw(st.sampled_from(["fastchat", "csv", "anything"]))
    if kind == "fastchat":
        base = {
            "model_a": ANY_TEXT,
            "model_b": ANY_TEXT,
            "winner": st.sampled_from(["model_a", "model_b", "tie"]),
        }
        rows = draw(st.lists(st.fixed_dictionaries(base, optional={"question_id": SCALARS}), max_size=4))
        return "\n".join(json.dumps(row, ensure_ascii=draw(st.booleans())) for row in rows) or draw(
            upload_texts()
        )
    if kind == "csv":
        cells = st.text(ANY_CHAR.filter(lambda c: c not in ',\n\r"'), max_size=12)
        rows = draw(
            st.lists(st.tuples(cells, cells, st.sampled_from(["model_a", "model_b", "tie", "x"])), max_size=4)
        )
        return "model_a,model_b,winner\n" + "\n".join(",".join(row) for row in rows)
    return draw(upload_texts())


@PURE
@given(battle_file_texts().map(_encode), st.sampled_from(["fastchat", "csv"]))
def test_battle_file_reading_returns_battles_or_a_battle_file_error(tmp_path_factory, data, file_format):
    RUNS["battle file reader"] += 1
    path = tmp_path_factory.mktemp("battles") / f"b.{'csv' if file_format == 'csv' else 'jsonl'}"
    path.write_bytes(data)
    try:
        read_battle_files([path], file_format)
    except BattleFileError as error:
        assert str(path) in str(error) or "no battles" in str(error).lower()


@pytest.fixture
def upload_target(db):
    # Prompts whose ids and texts the generated records may name ("p1", "Question number 1?", ...).
    return factories.make_contender("prop-model"), factories.make_prompt_set("props", n_prompts=3)


@WITH_DB
@given(data=st.one_of(upload_texts().map(_encode), st.binary(max_size=200)))
def test_an_output_upload_is_stored_whole_or_refused_with_nothing_written(upload_target, data):
    RUNS["output import (database)"] += 1
    contender, prompt_set = upload_target
    before = Output.objects.count()
    try:
        result = outputs_import(
            contender=contender, prompt_set=prompt_set, data=data, filename="o.jsonl", fmt=None
        )
    except Invalid:
        assert Output.objects.count() == before
        return
    assert Output.objects.count() == before + result.created


@pytest.mark.django_db
@WITH_DB
@given(data=st.one_of(upload_texts().map(_encode), st.binary(max_size=200)))
def test_a_prompt_import_is_stored_whole_or_refused_with_nothing_written(data):
    RUNS["prompt import (database)"] += 1
    before = Prompt.objects.count()
    try:
        result = prompts_import(prompt_set_slug="prop-prompts", data=data, filename="p.jsonl")
    except Invalid:
        assert Prompt.objects.count() == before
        return
    assert Prompt.objects.count() == before + result.created


FORM_VALUES = st.one_of(
    st.sampled_from(["left", "right", "tie", "both_bad", "", "LEFT", "a"]), st.text(ANY_CHAR, max_size=12)
)
FORM_KEYS = st.one_of(
    st.sampled_from(["overall", "dim-helpfulness", "dim-nope", "dim-", "csrfmiddlewaretoken"]), ANY_TEXT
)


@pytest.fixture
def voting(db, settings):
    factories.fresh_rate_limits(
        settings, ARENA_VOTE_RATE_PER_MINUTE=100_000, ARENA_VOTE_RATE_PER_MINUTE_IP=100_000
    )
    task, _ = factories.make_voting_arena(n_contenders=3, n_prompts=20)
    return task


@WITH_DB
@given(
    form=st.dictionaries(FORM_KEYS, FORM_VALUES, max_size=4), token_kind=st.sampled_from(["served", "random"])
)
def test_the_vote_endpoint_answers_4xx_or_records_one_vote_never_5xx(client, voting, form, token_kind):
    RUNS["vote endpoint"] += 1
    user = factories.make_user(f"v{RUNS['vote endpoint']}")
    client.force_login(user)
    assignment = factories.serve_to(voting, user)
    token = assignment.token if token_kind == "served" else "no-such-token"
    body = "&".join(
        f"{_quote(key)}={_quote(value)}" for key, value in form.items()
    )  # urlencoded by hand: raw surrogates and NUL reach the server as they would from a hostile client
    before = Verdict.objects.count()
    response = client.post(f"/vote/b/{token}/", body, content_type="application/x-www-form-urlencoded")
    assert response.status_code < 500
    if response.status_code >= 400:
        assert Verdict.objects.count() == before
        assert Assignment.objects.get(pk=assignment.pk).answered_at is None
    else:
        assert token_kind == "served" and Verdict.objects.count() > before
        RUNS["vote endpoint: votes recorded"] += 1


def _quote(text: str) -> str:
    from urllib.parse import quote_from_bytes

    return quote_from_bytes(text.encode("utf-8", "surrogatepass"), safe="")
