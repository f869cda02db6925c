"""The arena's raw verdicts out, one record per verdict, streamed: FastChat battles, JSON lines or CSV.

Which verdicts: exactly those the leaderboards count (not excluded, both contenders approved, an active
dimension; `aggregation.verdicts_counted`), optionally narrowed by source (a key, or `judges` for every LLM
judge, as on the leaderboard), dimension and time. So rating a
`fastchat` export of one source and dimension with `manage.py rate` gives that leaderboard's ratings back.

Each record carries the prompt, both answers (for a conversation: its first turn and replies, then
`later_turns` and each side's `later_answers_*`; FastChat's `conversation_*` hold every turn), the
contenders (slugs), the outcome and A's score, the dimension, the source, the judge config version (LLM judges' verdicts), the time, and the voter as a salted
hash: an HMAC of the source and voter key under a key derived from SECRET_KEY, stable within one arena (so
one voter's verdicts can be grouped) but never a user id, name, session or IP, and not reversible without
the secret. Judges and imports have no voter (`null`).

Blind answers (ones an open annotation task may serve, `arena.blindness`) are for staff only: for everyone
else such a record keeps its verdict but its two answers are `null` and `answers_withheld` is true. Keeping
the record (rather than dropping it) keeps public exports true to the public leaderboards; withholding both
answers keeps any served answer from being tied to its contender's name.

Formats: `fastchat` is one JSON list of Chatbot Arena battle objects (`model_a`, `model_b`, `winner` in
model_a / model_b / tie / tie (bothbad), `tstamp`, `question_id`, `conversation_a` / `conversation_b`, ...),
which `rate --format fastchat` and FastChat's notebooks (`pd.read_json`) read as they are; soft verdicts
(a score between 0 and 1) have no FastChat label and are left out of it (they are in `jsonl` and `csv`).
Records are produced from `QuerySet.iterator()`, a chunk of rows at a time: nothing is built in memory.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, time

from django.db.models import BooleanField, Case, Expression, Q, QuerySet, Value, When
from django.utils.crypto import salted_hmac
from django.utils.dateparse import parse_date, parse_datetime

from arena.blindness import battles_blind_q
from arena.errors import Invalid
from arena.models import Dimension, Source
from leaderboard.services.aggregation import verdicts_counted
from leaderboard.services.exports import csv_cell

EXPORT_FORMATS = ("fastchat", "jsonl", "csv")
CONTENT_TYPES = {
    "fastchat": "application/json",
    "jsonl": "application/x-ndjson; charset=utf-8",
    "csv": "text/csv; charset=utf-8",
}
FASTCHAT_WINNER = {"a": "model_a", "b": "model_b", "tie": "tie", "both_bad": "tie (bothbad)"}
CSV_COLUMNS = (
    "id",
    "time",
    "source",
    "source_kind",
    "judge_version",
    "dimension",
    "voter",
    "prompt_set",
    "question_id",
    "category",
    "prompt",
    "model_a",
    "model_b",
    "answer_a",
    "answer_b",
    "answers_withheld",
    "outcome",
    "score",
    "inconsistent",
    "later_turns",
    "later_answers_a",
    "later_answers_b",
)
_FIELDS = {
    "id": "id",
    "created": "created",
    "source_key": "source__key",
    "source_kind": "source__kind",
    "judge_version": "judge_origin__config_version__number",
    "dimension": "dimension__slug",
    "voter_key": "voter_key",
    "prompt_set": "battle__prompt__prompt_set__slug",
    "question_id": "battle__prompt__external_id",
    "category": "battle__prompt__category",
    "prompt": "battle__prompt__text",
    "model_a": "contender_a__slug",
    "model_b": "contender_b__slug",
    "answer_a": "battle__output_a__text",
    "answer_b": "battle__output_b__text",
    "outcome": "outcome",
    "score": "score",
    "inconsistent": "inconsistent",
    "blind": "blind",
    "later_turns": "battle__prompt__later_turns",
    "later_a": "battle__output_a__later_replies",
    "later_b": "battle__output_b__later_replies",
}
_CHUNK = 2000
# The pseudo-source the leaderboard pools every LLM judge under.
JUDGES = "judges"
_VOTER_SALT = "leaderboard.battle_export.voter"


@dataclass(frozen=True)
class BattleExport:
    """What to export: a format, source keys and dimension slugs (empty: all), verdicts since a time."""

    file_format: str = "jsonl"
    sources: tuple[str, ...] = ()
    dimensions: tuple[str, ...] = ()
    since: datetime | None = None


def battle_export_parse(params: Mapping, *, lists: Mapping[str, list[str]] | None = None) -> BattleExport:
    """A :class:`BattleExport` from request or command parameters; anything unknown is an `Invalid` naming
    the parameter and the choices. ``lists`` gives repeated parameters (``source``, ``dimension``)."""
    lists = lists or {}
    file_format = params.get("format") or "jsonl"
    if file_format not in EXPORT_FORMATS:
        raise Invalid(
            f"Unknown format {file_format!r}: choose one of {', '.join(EXPORT_FORMATS)}.", field="format"
        )
    keys = set(Source.objects.values_list("key", flat=True)) | {JUDGES}
    sources = _known(_values(lists.get("source")), keys, "source")
    active = set(Dimension.objects.filter(is_active=True).values_list("slug", flat=True))
    dimensions = _known(_values(lists.get("dimension")), active, "dimension")
    return BattleExport(file_format, sources, dimensions, _since(params.get("since") or ""))


def _values(raw: Iterable[str] | None) -> tuple[str, ...]:
    """Repeated and comma-separated values, blanks dropped, order kept."""
    values = [part.strip() for item in raw or () for part in str(item).split(",")]
    return tuple(dict.fromkeys(value for value in values if value))


def _known(values: tuple[str, ...], choices: set[str], field: str) -> tuple[str, ...]:
    unknown = [value for value in values if value not in choices]
    if unknown:
        raise Invalid(
            f"Unknown {field} {unknown[0]!r}: choose among {', '.join(sorted(choices)) or '(none yet)'}.",
            field=field,
        )
    return values


def _since(text: str) -> datetime | None:
    if not text:
        return None
    try:
        moment = parse_datetime(text)
        day = None if moment else parse_date(text)
    except ValueError:  # well-formed but impossible, e.g. 2026-02-30
        moment = day = None
    if day is not None:
        moment = datetime.combine(day, time.min)
    if moment is None:
        raise Invalid(
            f"since={text!r} is not a date or time: use e.g. 2026-01-31 or 2026-01-31T12:00:00Z.",
            field="since",
        )
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def battles_filename(export: BattleExport) -> str:
    extension = {"fastchat": "json", "jsonl": "jsonl", "csv": "csv"}[export.file_format]
    parts = ["battles", *export.sources, *export.dimensions]
    return "-".join(parts) + f".{extension}"


def verdicts_exported(export: BattleExport, *, sees_blind: bool) -> QuerySet:
    """The verdict rows of an export, oldest first, as dictionaries keyed by the lookups of :data:`_FIELDS`."""
    verdicts = verdicts_counted()
    if export.sources:
        chosen = Q(source__key__in=export.sources)
        if JUDGES in export.sources:
            chosen |= Q(source__kind=Source.Kind.JUDGE)
        verdicts = verdicts.filter(chosen)
    if export.dimensions:
        verdicts = verdicts.filter(dimension__slug__in=export.dimensions)
    if export.since is not None:
        verdicts = verdicts.filter(created__gte=export.since)
    if export.file_format == "fastchat":
        verdicts = verdicts.filter(outcome__isnull=False)
    blind: Expression
    if sees_blind:
        blind = Value(False, output_field=BooleanField())
    else:
        blind = Case(
            When(battles_blind_q("battle__"), then=Value(True)),
            default=Value(False),
            output_field=BooleanField(),
        )
    return verdicts.annotate(blind=blind).order_by("created", "id").values(*_FIELDS.values())


def export_chunks(export: BattleExport, *, sees_blind: bool) -> Iterator[str]:
    """The export's text, a record (line) at a time, from a server-side cursor."""
    rows = verdicts_exported(export, sees_blind=sees_blind).iterator(chunk_size=_CHUNK)
    records = (_record({name: row[path] for name, path in _FIELDS.items()}) for row in rows)
    if export.file_format == "fastchat":
        yield from _json_list(_fastchat(record) for record in records)
    elif export.file_format == "jsonl":
        for record in records:
            yield json.dumps(record, ensure_ascii=False) + "\n"
    else:
        yield from _csv(records)


def voter_hash(source_key: str, voter_key: str) -> str | None:
    """A voter's salted hash (stable per arena, keyed by SECRET_KEY); ``None`` for judges and imports."""
    if not voter_key:
        return None
    return salted_hmac(_VOTER_SALT, f"{source_key}\n{voter_key}", algorithm="sha256").hexdigest()[:24]


def _record(row: dict) -> dict:
    withheld = bool(row["blind"])
    return {
        "id": row["id"],
        "time": row["created"].isoformat(),
        "source": row["source_key"],
        "source_kind": row["source_kind"],
        "judge_version": row["judge_version"],
        "dimension": row["dimension"],
        "voter": voter_hash(row["source_key"], row["voter_key"]),
        "prompt_set": row["prompt_set"],
        "question_id": row["question_id"],
        "category": row["category"],
        "prompt": row["prompt"],
        "model_a": row["model_a"],
        "model_b": row["model_b"],
        "answer_a": None if withheld else row["answer_a"],
        "answer_b": None if withheld else row["answer_b"],
        "answers_withheld": withheld,
        "outcome": row["outcome"],
        "score": row["score"],
        "inconsistent": row["inconsistent"],
        # A conversation's user turns after `prompt`, and each side's replies to them (empty: single-turn).
        "later_turns": row["later_turns"],
        "later_answers_a": None if withheld else row["later_a"],
        "later_answers_b": None if withheld else row["later_b"],
    }


def _fastchat(record: dict) -> dict:
    """A Chatbot Arena battle object (the fields FastChat's notebooks read, then ours)."""
    return {
        "question_id": f"{record['prompt_set']}/{record['question_id']}",
        "model_a": record["model_a"],
        "model_b": record["model_b"],
        "winner": FASTCHAT_WINNER[record["outcome"]],
        "judge": record["voter"] or record["source"],
        "conversation_a": _conversation(record, "a"),
        "conversation_b": _conversation(record, "b"),
        "turn": 1 + len(record["later_turns"]),
        "anony": True,
        "language": "",
        "tstamp": datetime.fromisoformat(record["time"]).timestamp(),
        "dimension": record["dimension"],
        "source": record["source"],
        "judge_version": record["judge_version"],
        "answers_withheld": record["answers_withheld"],
    }


def _conversation(record: dict, side: str) -> list[dict]:
    """FastChat's conversation: every user turn, each followed by this side's reply (none when withheld)."""
    prompts = [record["prompt"], *record["later_turns"]]
    answer = record[f"answer_{side}"]
    replies = [answer, *(record[f"later_answers_{side}"] or [])] if answer is not None else []
    turns = []
    for number, prompt in enumerate(prompts):
        turns.append({"role": "user", "content": prompt})
        if number < len(replies):
            turns.append({"role": "assistant", "content": replies[number]})
    return turns


def _json_list(objects: Iterable[dict]) -> Iterator[str]:
    yield "["
    separator = "\n"
    for item in objects:
        yield separator + json.dumps(item, ensure_ascii=False)
        separator = ",\n"
    yield "\n]\n"


def _csv(records: Iterable[dict]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    for record in records:
        writer.writerow({key: csv_cell(_csv_text(value)) for key, value in record.items()})
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    yield buffer.getvalue()


def _csv_text(value):
    """Lists (a conversation's later turns and replies) as JSON text; an empty one as an empty cell."""
    if isinstance(value, list):
        return json.dumps(value, ensure_ascii=False) if value else None
    return value
