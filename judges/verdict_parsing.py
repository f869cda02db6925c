"""Turn a judge's reply into one verdict per dimension, or say precisely why it cannot.

Accepted shapes, tried in this order:
1. A JSON object: the whole reply, the first ```json (or bare ```) fence holding one, or the first balanced
   `{...}` in surrounding prose. Verdicts sit under "verdicts" or, flat, at the top level
   (`{"overall": "A", "rationale": "..."}`). Dimension keys match case-insensitively.
2. Only when no JSON object could be read and exactly ONE dimension was requested: the MT-bench verdict
   token `[[A]]`, `[[B]]`, `[[C]]` (tie) or `[[tie]]`. With several dimensions a single token cannot say
   which dimension it means, so it is refused rather than copied to all of them.

Labels are mapped by an explicit table (`LABELS`); anything else is an error, never a tie. Ties are "tie" or
"draw" only; "C" means tie only as a `[[C]]` token, where MT-bench defines it.

Keys for dimensions that were not requested are ignored but reported in `ParseResult.extra_dimensions`:
judges often add "overall" or "reasoning", failing on that would waste a paid call, and a misspelt
requested dimension is still caught as missing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal

Label = Literal["A", "B", "tie"]

LABELS: dict[str, Label] = {
    **dict.fromkeys(("a", "assistant a", "answer a", "response a", "model a", "output a"), "A"),
    **dict.fromkeys(("b", "assistant b", "answer b", "response b", "model b", "output b"), "B"),
    **dict.fromkeys(("tie", "draw"), "tie"),
}
_TOKEN_LABELS: dict[str, Label] = {"a": "A", "b": "B", "c": "tie", "tie": "tie"}

RATIONALE_KEYS = ("rationale", "reason", "reasoning", "explanation")

_FENCE = re.compile(r"```[ \t]*(?:json|JSON)?[ \t]*\n?(.*?)```", re.DOTALL)
_TOKEN = re.compile(r"\[\[\s*(A|B|C|tie)\s*\]\]", re.IGNORECASE)


class ParseFailure(StrEnum):
    EMPTY = "empty"
    NO_JSON = "no_json"
    INVALID_JSON = "invalid_json"
    TRUNCATED_JSON = "truncated_json"
    NOT_AN_OBJECT = "not_an_object"
    WRONG_TYPE = "wrong_type"
    MISSING_DIMENSION = "missing_dimension"
    UNKNOWN_LABEL = "unknown_label"
    CONFLICTING_VERDICTS = "conflicting_verdicts"
    TOKEN_NEEDS_SINGLE_DIMENSION = "token_needs_single_dimension"


class VerdictParseError(ValueError):
    """`reason` is machine-readable; the message says what was wrong, where, and is fit for a repair prompt."""

    def __init__(self, reason: ParseFailure, message: str, *, dimension: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.dimension = dimension


@dataclass(frozen=True, slots=True)
class ParseResult:
    """Verdicts refer to positions as shown to the judge; the caller maps them back for the swapped order."""

    verdicts: dict[str, Label]
    rationale: str
    extra_dimensions: tuple[str, ...] = ()
    source: Literal["json", "token"] = "json"


def parse_verdicts(text: str, dimensions: Sequence[str]) -> ParseResult:
    """One label per requested dimension (keys as given in `dimensions`), or VerdictParseError.

    Never guesses: a missing, unknown or contradictory verdict is an error, so the caller can ask for one
    repair and then record a parse failure. A ValueError means the caller passed no dimensions.
    """
    if not dimensions:
        raise ValueError("parse_verdicts needs at least one requested dimension")
    if not text or not text.strip():
        raise VerdictParseError(ParseFailure.EMPTY, "the reply is empty")
    try:
        return _parse(text, dimensions)
    except RecursionError:
        # Arrays or objects nested thousands deep (decoding, comparing or quoting them recurses): the reply is
        # malformed output like any other, to repair or record as a parse failure, never a crash that would
        # leave the paid call's claim to be retried (and paid) again.
        raise VerdictParseError(
            ParseFailure.INVALID_JSON,
            "the reply's JSON is nested too deeply to read; give the verdicts as a flat JSON object",
        ) from None


def _parse(text: str, dimensions: Sequence[str]) -> ParseResult:
    try:
        obj = find_json_object(text)
    except VerdictParseError as json_problem:
        tokens = _TOKEN.findall(text)
        if not tokens:
            raise
        return _from_tokens(tokens, dimensions, json_problem)
    return _from_object(obj, dimensions)


# --- locating the JSON object -------------------------------------------------------------------------


class _Object(dict):
    """A decoded JSON object that remembers keys repeated with different values."""

    conflicts: list[str]


def _object_hook(pairs: list[tuple[str, Any]]) -> _Object:
    obj = _Object()
    obj.conflicts = []
    for key, value in pairs:
        if key in obj and obj[key] != value:
            obj.conflicts.append(key)
        obj[key] = value
    return obj


def find_json_object(text: str) -> _Object:
    """The first JSON object in a fence, else the first balanced `{...}` that decodes, scanning prose."""
    for fenced in _FENCE.findall(text):
        if fenced.strip().startswith("{"):
            return _decode_first_object(fenced)
    return _decode_first_object(text)


def _decode_first_object(text: str) -> _Object:
    first_error: VerdictParseError | None = None
    start = text.find("{")
    while start != -1:
        end = _balanced_end(text, start)
        if end is None:
            raise VerdictParseError(
                ParseFailure.TRUNCATED_JSON,
                f"the JSON object starting at character {start} is never closed (reply cut off?)",
            )
        try:
            return json.loads(text[start:end], object_pairs_hook=_object_hook)
        except json.JSONDecodeError as exc:
            first_error = first_error or VerdictParseError(
                ParseFailure.INVALID_JSON,
                f"the object at character {start} is not valid JSON: {exc.msg} at its character {exc.pos}",
            )
        except ValueError as exc:  # valid JSON that Python refuses to decode, e.g. an integer of 5,000 digits
            first_error = first_error or VerdictParseError(
                ParseFailure.INVALID_JSON, f"the object at character {start} cannot be read: {exc}"
            )
        start = text.find("{", end)
    if first_error is not None:
        raise first_error
    try:
        whole = json.loads(text)
    except ValueError:  # not JSON (JSONDecodeError), or JSON that Python refuses to decode
        raise VerdictParseError(ParseFailure.NO_JSON, "the reply contains no JSON object") from None
    raise VerdictParseError(
        ParseFailure.NOT_AN_OBJECT, f"the reply is {_json_type(whole)}, expected a JSON object"
    )


def _balanced_end(text: str, start: int) -> int | None:
    """Index just past the `}` closing the `{` at `start`, ignoring braces inside JSON strings."""
    depth, in_string, escaped = 0, False, False
    for i in range(start, len(text)):
        ch = text[i]
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return i + 1
    return None


# --- reading verdicts -------------------------------------------------------------------------------


def _from_object(obj: _Object, dimensions: Sequence[str]) -> ParseResult:
    container: Any = next((v for k, v in obj.items() if k.strip().lower() == "verdicts"), obj)
    if not isinstance(container, dict):
        raise VerdictParseError(
            ParseFailure.WRONG_TYPE,
            f'"verdicts" must be an object of dimension to label, got {_json_type(container)}',
        )
    wanted = {dim.lower() for dim in dimensions}
    repeated = [key for key in getattr(container, "conflicts", []) if key.strip().lower() in wanted]
    if repeated:
        raise VerdictParseError(
            ParseFailure.CONFLICTING_VERDICTS,
            f"dimension {repeated[0]!r} is given twice with different verdicts",
            dimension=repeated[0],
        )
    by_key = _index_case_insensitively(container, wanted)
    verdicts = {dim: _label_for(dim, by_key) for dim in dimensions}
    ignored = {"verdicts", *RATIONALE_KEYS} if container is obj else set()
    extras = tuple(key for key in container if key.strip().lower() not in wanted | ignored)
    return ParseResult(verdicts=verdicts, rationale=_rationale(obj), extra_dimensions=extras)


def _index_case_insensitively(container: dict[str, Any], wanted: set[str]) -> dict[str, Any]:
    by_key: dict[str, Any] = {}
    for key, value in container.items():
        folded = key.strip().lower()
        if folded in wanted and folded in by_key and by_key[folded] != value:
            raise VerdictParseError(
                ParseFailure.CONFLICTING_VERDICTS,
                f"dimension {folded!r} is given twice (different capitalisation) with different verdicts",
                dimension=folded,
            )
        by_key[folded] = value
    return by_key


def _label_for(dimension: str, by_key: dict[str, Any]) -> Label:
    if dimension.lower() not in by_key:
        found = ", ".join(by_key) or "none"
        raise VerdictParseError(
            ParseFailure.MISSING_DIMENSION,
            f"no verdict for dimension {dimension!r} (keys found: {found})",
            dimension=dimension,
        )
    value = by_key[dimension.lower()]
    if not isinstance(value, str):
        raise VerdictParseError(
            ParseFailure.WRONG_TYPE,
            f'verdict for {dimension!r} must be a string "A", "B" or "tie", got {_json_type(value)}',
            dimension=dimension,
        )
    return _map_label(value, dimension)


def _map_label(value: str, dimension: str) -> Label:
    key = " ".join(value.replace("_", " ").replace("-", " ").split()).lower().rstrip(".")
    label = LABELS.get(key)
    if label is None:
        raise VerdictParseError(
            ParseFailure.UNKNOWN_LABEL,
            f'verdict {value!r} for {dimension!r} is not one of "A", "B", "tie"',
            dimension=dimension,
        )
    return label


def _rationale(obj: dict[str, Any]) -> str:
    for key in RATIONALE_KEYS:
        if key in obj:
            value = obj[key]
            # Free text is not part of the verdict: keep odd shapes as text rather than fail a paid call.
            return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return ""


def _from_tokens(
    tokens: list[str], dimensions: Sequence[str], json_problem: VerdictParseError
) -> ParseResult:
    if len(dimensions) != 1:
        raise VerdictParseError(
            ParseFailure.TOKEN_NEEDS_SINGLE_DIMENSION,
            f"found a [[A]]/[[B]]/[[C]] verdict token but {len(dimensions)} dimensions were requested, "
            f"which need the JSON object ({json_problem.message})",
        )
    labels = {_TOKEN_LABELS[token.lower()] for token in tokens}
    if len(labels) > 1:
        raise VerdictParseError(
            ParseFailure.CONFLICTING_VERDICTS,
            f"conflicting verdict tokens: {', '.join(f'[[{t}]]' for t in dict.fromkeys(tokens))}",
        )
    (label,) = labels
    return ParseResult(verdicts={dimensions[0]: label}, rationale="", source="token")


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    kinds = ((bool, "a boolean"), (dict, "an object"), (list, "an array"), (str, "a string"))
    return next((name for kind, name in kinds if isinstance(value, kind)), "a number")
