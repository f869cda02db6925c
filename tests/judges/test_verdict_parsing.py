"""parse_verdicts: every reply shape a judge produces, and a precise reason for every one it cannot use."""

import pytest

from judges.verdict_parsing import ParseFailure, VerdictParseError, parse_verdicts

ONE = ["overall"]
TWO = ["overall", "clarity"]


@pytest.mark.parametrize(
    ("text", "dimensions", "expected"),
    [
        pytest.param('{"verdicts": {"overall": "A"}, "rationale": "r"}', ONE, {"overall": "A"}, id="plain"),
        pytest.param('```json\n{"verdicts": {"overall": "B"}}\n```', ONE, {"overall": "B"}, id="json-fence"),
        pytest.param('```\n{"verdicts": {"overall": "tie"}}\n```', ONE, {"overall": "tie"}, id="bare-fence"),
        pytest.param(
            'Looking at both...\n{"verdicts": {"overall": "A", "clarity": "B"}}\nHope this helps.',
            TWO,
            {"overall": "A", "clarity": "B"},
            id="prose-around",
        ),
        pytest.param(
            '{"overall": "B", "clarity": "A", "rationale": "r"}',
            TWO,
            {"overall": "B", "clarity": "A"},
            id="flat",
        ),
        pytest.param('{"verdicts": {"Overall": "a"}}', ONE, {"overall": "A"}, id="key-and-label-case"),
        pytest.param('{"Verdicts": {"overall": "b"}}', ONE, {"overall": "B"}, id="wrapper-case"),
        pytest.param('{"verdicts": {"overall": "Assistant B"}}', ONE, {"overall": "B"}, id="assistant-b"),
        pytest.param('{"verdicts": {"overall": "response_a"}}', ONE, {"overall": "A"}, id="response_a"),
        pytest.param('{"verdicts": {"overall": " Tie. "}}', ONE, {"overall": "tie"}, id="tie-padded"),
        pytest.param('{"verdicts": {"overall": "DRAW"}}', ONE, {"overall": "tie"}, id="draw"),
        pytest.param(
            '{"verdicts": {"overall": "A"}, "rationale": "a } and a { inside"}',
            ONE,
            {"overall": "A"},
            id="braces-in-string",
        ),
        pytest.param(
            'We write sets as {x}. {"verdicts": {"overall": "B"}}',
            ONE,
            {"overall": "B"},
            id="prose-braces-first",
        ),
        pytest.param(
            '{"verdicts": {"overall": "A", "overall": "A"}}', ONE, {"overall": "A"}, id="repeat-same-value"
        ),
        pytest.param("Answer A is correct. [[A]]", ONE, {"overall": "A"}, id="token-a"),
        pytest.param("[[C]]", ONE, {"overall": "tie"}, id="token-c-is-tie"),
        pytest.param("[[ tie ]]", ONE, {"overall": "tie"}, id="token-tie"),
        pytest.param("[[B]] ... so, final: [[B]]", ONE, {"overall": "B"}, id="token-repeated"),
    ],
)
def test_it_reads_accepted_shapes(text, dimensions, expected):
    assert parse_verdicts(text, dimensions).verdicts == expected


def test_it_returns_the_rationale():
    result = parse_verdicts('{"verdicts": {"overall": "A"}, "rationale": "A is right."}', ONE)
    assert result.rationale == "A is right."
    assert result.source == "json"


def test_it_takes_the_rationale_from_an_alternative_key_and_defaults_to_empty():
    assert parse_verdicts('{"overall": "A", "reason": "why"}', ONE).rationale == "why"
    assert parse_verdicts('{"overall": "A"}', ONE).rationale == ""


def test_it_keeps_a_non_string_rationale_as_text():
    result = parse_verdicts('{"verdicts": {"overall": "A"}, "rationale": ["x", 1]}', ONE)
    assert result.rationale == '["x", 1]'


def test_it_ignores_but_reports_dimensions_not_requested():
    result = parse_verdicts('{"verdicts": {"overall": "A", "style": "B"}, "rationale": "r"}', ONE)
    assert result.verdicts == {"overall": "A"}
    assert result.extra_dimensions == ("style",)


def test_flat_form_does_not_report_the_rationale_as_an_extra_dimension():
    result = parse_verdicts('{"overall": "A", "rationale": "r", "verdict_note": "x"}', ONE)
    assert result.extra_dimensions == ("verdict_note",)


def test_a_verdict_token_is_marked_as_such():
    result = parse_verdicts("[[B]]", ONE)
    assert result.source == "token"
    assert result.verdicts == {"overall": "B"}


def test_a_single_requested_dimension_other_than_overall_takes_the_token():
    assert parse_verdicts("[[A]]", ["correctness"]).verdicts == {"correctness": "A"}


def test_json_wins_over_a_token_when_both_are_present():
    assert parse_verdicts('[[B]] {"verdicts": {"overall": "A"}}', ONE).verdicts == {"overall": "A"}


MALFORMED = [
    # (id, text, dimensions, reason, fragment of the message)
    ("empty", "", ONE, ParseFailure.EMPTY, "empty"),
    ("whitespace", "  \n\t ", ONE, ParseFailure.EMPTY, "empty"),
    ("prose-only", "I prefer the first answer.", ONE, ParseFailure.NO_JSON, "no JSON object"),
    ("verdict-word", "Verdict: A", ONE, ParseFailure.NO_JSON, "no JSON object"),
    ("not-a-token", "[[D]]", ONE, ParseFailure.NO_JSON, "no JSON object"),
    ("empty-fence", "```json\n```", ONE, ParseFailure.NO_JSON, "no JSON object"),
    ("truncated", '{"verdicts": {"overall": "A"', ONE, ParseFailure.TRUNCATED_JSON, "never closed"),
    (
        "truncated-rationale",
        '{"verdicts": {"overall": "A"}, "rationale": "becau',
        ONE,
        ParseFailure.TRUNCATED_JSON,
        "cut off",
    ),
    (
        "truncated-fence",
        '```json\n{"verdicts": {"overall": "B"},',
        ONE,
        ParseFailure.TRUNCATED_JSON,
        "never closed",
    ),
    ("single-quotes", "{'verdicts': {'overall': 'A'}}", ONE, ParseFailure.INVALID_JSON, "not valid JSON"),
    ("trailing-comma", '{"verdicts": {"overall": "A",}}', ONE, ParseFailure.INVALID_JSON, "not valid JSON"),
    ("unquoted-label", '{"verdicts": {"overall": A}}', ONE, ParseFailure.INVALID_JSON, "not valid JSON"),
    ("prose-braces-only", "Use {braces} like this.", ONE, ParseFailure.INVALID_JSON, "character 4"),
    ("array", '["A"]', ONE, ParseFailure.NOT_AN_OBJECT, "is an array"),
    ("bare-json-string", '"A"', ONE, ParseFailure.NOT_AN_OBJECT, "is a string"),
    ("verdicts-array", '{"verdicts": ["A"]}', ONE, ParseFailure.WRONG_TYPE, "got an array"),
    ("verdicts-string", '{"verdicts": "A"}', ONE, ParseFailure.WRONG_TYPE, "got a string"),
    ("label-number", '{"verdicts": {"overall": 1}}', ONE, ParseFailure.WRONG_TYPE, "got a number"),
    ("label-null", '{"verdicts": {"overall": null}}', ONE, ParseFailure.WRONG_TYPE, "got null"),
    ("label-bool", '{"verdicts": {"overall": true}}', ONE, ParseFailure.WRONG_TYPE, "got a boolean"),
    (
        "label-object",
        '{"verdicts": {"overall": {"winner": "A"}}}',
        ONE,
        ParseFailure.WRONG_TYPE,
        "got an object",
    ),
    ("label-list", '{"verdicts": {"overall": ["A"]}}', ONE, ParseFailure.WRONG_TYPE, "got an array"),
    (
        "missing",
        '{"verdicts": {"clarity": "A"}}',
        ONE,
        ParseFailure.MISSING_DIMENSION,
        "'overall' (keys found: clarity)",
    ),
    ("empty-verdicts", '{"verdicts": {}}', ONE, ParseFailure.MISSING_DIMENSION, "keys found: none"),
    ("rationale-only", '{"rationale": "both are fine"}', ONE, ParseFailure.MISSING_DIMENSION, "'overall'"),
    (
        "one-of-two-missing",
        '{"verdicts": {"overall": "A"}}',
        TWO,
        ParseFailure.MISSING_DIMENSION,
        "'clarity'",
    ),
    (
        "misspelt-dimension",
        '{"verdicts": {"overall": "A", "clarty": "B"}}',
        TWO,
        ParseFailure.MISSING_DIMENSION,
        "clarty",
    ),
    ("label-c-in-json", '{"verdicts": {"overall": "C"}}', ONE, ParseFailure.UNKNOWN_LABEL, "'C'"),
    ("label-both", '{"verdicts": {"overall": "both"}}', ONE, ParseFailure.UNKNOWN_LABEL, "'both'"),
    ("label-neither", '{"verdicts": {"overall": "neither"}}', ONE, ParseFailure.UNKNOWN_LABEL, "'neither'"),
    ("label-both-bad", '{"verdicts": {"overall": "both_bad"}}', ONE, ParseFailure.UNKNOWN_LABEL, "both_bad"),
    ("label-comparison", '{"verdicts": {"overall": "A>B"}}', ONE, ParseFailure.UNKNOWN_LABEL, "'A>B'"),
    ("label-hedged", '{"verdicts": {"overall": "A or B"}}', ONE, ParseFailure.UNKNOWN_LABEL, "'A or B'"),
    ("label-empty", '{"verdicts": {"overall": ""}}', ONE, ParseFailure.UNKNOWN_LABEL, "''"),
    ("label-token-in-json", '{"verdicts": {"overall": "[[A]]"}}', ONE, ParseFailure.UNKNOWN_LABEL, "[[A]]"),
    (
        "label-placeholder-copied",
        '{"verdicts": {"overall": "<A|B|tie>"}}',
        ONE,
        ParseFailure.UNKNOWN_LABEL,
        "<A|B|tie>",
    ),
    (
        "label-second-dim",
        '{"verdicts": {"overall": "A", "clarity": "maybe"}}',
        TWO,
        ParseFailure.UNKNOWN_LABEL,
        "'clarity'",
    ),
    (
        "duplicate-key",
        '{"verdicts": {"overall": "A", "overall": "B"}}',
        ONE,
        ParseFailure.CONFLICTING_VERDICTS,
        "twice",
    ),
    (
        "duplicate-key-case",
        '{"verdicts": {"overall": "A", "Overall": "B"}}',
        ONE,
        ParseFailure.CONFLICTING_VERDICTS,
        "twice",
    ),
    (
        "conflicting-tokens",
        "At first [[A]], but on reflection [[B]].",
        ONE,
        ParseFailure.CONFLICTING_VERDICTS,
        "[[A]], [[B]]",
    ),
    ("token-and-tie-token", "[[A]] or maybe [[C]]", ONE, ParseFailure.CONFLICTING_VERDICTS, "conflicting"),
    ("token-multi-dimension", "[[A]]", TWO, ParseFailure.TOKEN_NEEDS_SINGLE_DIMENSION, "2 dimensions"),
]


@pytest.mark.parametrize(
    ("text", "dimensions", "reason", "fragment"),
    [pytest.param(*case[1:], id=case[0]) for case in MALFORMED],
)
def test_it_rejects_malformed_output_with_a_precise_reason(text, dimensions, reason, fragment):
    with pytest.raises(VerdictParseError) as caught:
        parse_verdicts(text, dimensions)
    assert caught.value.reason is reason
    assert fragment in str(caught.value)


def test_there_are_at_least_twenty_malformed_cases():
    assert len(MALFORMED) >= 20


def test_a_missing_or_unknown_dimension_names_it_on_the_error():
    with pytest.raises(VerdictParseError) as caught:
        parse_verdicts('{"verdicts": {"overall": "A", "clarity": "maybe"}}', TWO)
    assert caught.value.dimension == "clarity"


def test_a_token_fallback_error_keeps_the_json_problem():
    with pytest.raises(VerdictParseError) as caught:
        parse_verdicts('[[A]] {"verdicts": {"overall": "A"', TWO)
    assert "never closed" in str(caught.value)


def test_asking_for_no_dimension_is_a_programming_error():
    with pytest.raises(ValueError, match="at least one"):
        parse_verdicts('{"overall": "A"}', [])


DEEP = 200_000  # far past the interpreter's recursion limit (1,000 by default)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        pytest.param(
            '{"overall": ' + "[" * DEEP + "]" * DEEP + "}", "nested too deeply", id="deep-in-object"
        ),
        pytest.param(
            '{"overall": "A", "why": ' + "[" * DEEP + "]" * DEEP + "}", "nested too deeply", id="deep-aside"
        ),
        pytest.param('{"overall": ' + "7" * 5000 + "}", "cannot be read", id="integer-too-long"),
    ],
)
def test_json_the_decoder_cannot_handle_is_malformed_output_not_a_crash(text, fragment):
    with pytest.raises(VerdictParseError, match=fragment) as caught:
        parse_verdicts(text, ONE)
    assert caught.value.reason == ParseFailure.INVALID_JSON
