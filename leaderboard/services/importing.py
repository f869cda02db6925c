"""Battle files (fastchat, csv, alpaca_eval, qlora, mtbench) into the database as verdicts of one import
source; all or nothing.

What an import creates:
- contenders by name: a contender whose slug is the name (or the name's slug) is reused with its status
  untouched; a new one is created *pending review* — it appears on public leaderboards only once staff
  approve it — unless `approve_new` (the CLI's --approve-new) creates it approved;
- a prompt set "imported-<source key>" with one synthetic prompt per battle, or per `question_id` when the
  file gives one (battle files carry no prompt text; the prompt says where the battle came from);
- one placeholder output per contender × prompt, battles, and one "overall" verdict per record under a
  `Source(kind="import")` keyed by `source_key` (default: "import-" + the first file's name).

Records are keyed by a digest of the file's bytes and their line or record number, so importing the same
file again adds nothing. Anything wrong — an unreadable file, an unknown winner label (named by line), two
names that would share a slug, a source key owned by people or a judge — writes nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from django.db import transaction
from django.utils.text import slugify

from arena.errors import Invalid
from arena.models import Battle, Contender, Dimension, Output, Prompt, PromptSet, Source
from arena.services.imported_contenders import contender_slugs, contenders_ensure
from arena.services.style import style_counts
from arena.services.verdicts import VerdictEntry, verdicts_record
from leaderboard.battle_files import BattleFileError, FileRecords, read_battle_files

IMPORT_FORMATS = ("fastchat", "csv", "alpaca_eval", "qlora", "mtbench")
LABEL_OUTCOMES = {
    "model_a": "a",
    "model_b": "b",
    "tie": "tie",
    "tie (bothbad)": "both_bad",
    "left": "a",
    "right": "b",
}
SOFT_OUTCOMES = {1.0: "a", 0.0: "b", 0.5: "tie"}
PLACEHOLDER_ANSWER = "(The answer is not part of the imported battle file.)"
BATCH = 5000


@dataclass(frozen=True)
class ImportResult:
    source: Source
    prompt_set: PromptSet
    records: int
    contenders_created: tuple[str, ...]
    contenders_pending: tuple[str, ...]
    battles_created: int
    verdicts_created: int


@dataclass(frozen=True)
class _Record:
    a: str
    b: str
    prompt_key: str
    prompt_text: str
    voter_key: str
    outcome: str | None
    score: float


def battles_import(
    *,
    paths: list[str],
    file_format: str,
    source_key: str | None = None,
    source_name: str | None = None,
    approve_new: bool = False,
) -> ImportResult:
    """Import every battle of `paths` as verdicts on "overall" (see the module docstring)."""
    if file_format not in IMPORT_FORMATS:
        raise Invalid(
            f"Unknown format {file_format!r}: use one of {', '.join(IMPORT_FORMATS)}.", field="format"
        )
    try:
        parsed = read_battle_files(paths, file_format)
    except BattleFileError as error:
        raise Invalid(str(error)) from error
    key = source_key or "import-" + slugify(Path(paths[0]).stem)[:100]
    records = list(_records(parsed.sequence, parsed.records))
    slugs = contender_slugs(parsed.sequence.models)
    with transaction.atomic():
        return _write(records, slugs, key, source_name or key, approve_new, paths)


def _records(sequence, files: Iterable[FileRecords]) -> Iterable[_Record]:
    offset = 0
    for file in files:
        digest = hashlib.sha256(Path(file.path).read_bytes()).hexdigest()[:12]
        name = Path(file.path).name
        for k, number in enumerate(file.numbers):
            i = offset + k
            question = file.question_ids[k]
            outcome, score = _outcome(file.labels[k], float(sequence.score[i]))
            yield _Record(
                a=sequence.models[sequence.a[i]],
                b=sequence.models[sequence.b[i]],
                prompt_key=_prompt_key(question, digest, number),
                prompt_text=_prompt_text(question, name, file.unit, number),
                voter_key=f"{digest}:{number}",
                outcome=outcome,
                score=score,
            )
        offset += len(file.numbers)


def _outcome(label, score: float) -> tuple[str | None, float]:
    if label is not None:
        return LABEL_OUTCOMES[label], score
    return SOFT_OUTCOMES.get(score), score  # an AlpacaEval preference between 1 and 2 stays soft


def _prompt_key(question, digest: str, number: int) -> str:
    if question is None or str(question) == "":
        return f"{digest}:{number}"
    text = str(question)
    return "q:" + (text if len(text) <= 90 else hashlib.sha256(text.encode()).hexdigest()[:40])


def _prompt_text(question, file_name: str, unit: str, number: int) -> str:
    if question is None or str(question) == "":
        return f"Imported battle from {file_name}, {unit} {number}; the file does not include the prompt."
    return f"Imported question {question} (from {file_name}); the file does not include the prompt."


def _write(records, slugs, key, name, approve_new, paths) -> ImportResult:
    source = _import_source(key, name)
    dimension = _overall()
    note = f"Created by import_battles from {', '.join(Path(p).name for p in paths)}."
    contenders, created = contenders_ensure(slugs, approve_new=approve_new, note=note)
    prompt_set, _ = PromptSet.objects.get_or_create(
        slug=f"imported-{key}"[:100], defaults={"name": f"Imported battles: {name}"[:200]}
    )
    prompts = _prompts(prompt_set, records)
    outputs = _outputs(records, contenders, prompts, prompt_set)
    battles, battles_created = _battles(records, contenders, prompts, outputs, prompt_set)
    recorded = verdicts_record([
        VerdictEntry(
            battle_id=battles[r.prompt_key, r.a, r.b], contender_a_id=contenders[r.a].pk,
            contender_b_id=contenders[r.b].pk, dimension_id=dimension.pk, source_id=source.pk,
            voter_key=r.voter_key, outcome=r.outcome, score=r.score,
        )
        for r in records
    ])  # fmt: skip
    pending = tuple(c.slug for c in contenders.values() if c.status != Contender.Status.APPROVED)
    return ImportResult(
        source=source,
        prompt_set=prompt_set,
        records=len(records),
        contenders_created=tuple(created),
        contenders_pending=pending,
        battles_created=battles_created,
        verdicts_created=sum(r.created for r in recorded),
    )


def _import_source(key: str, name: str) -> Source:
    if slugify(key) != key or key == "judges":
        raise Invalid(
            f"Source key {key!r} is not usable: use lowercase letters, digits and hyphens (and not 'judges', "
            "which names all LLM judges together).",
            field="source",
        )
    source, _ = Source.objects.get_or_create(
        key=key, defaults={"kind": Source.Kind.IMPORT, "name": name[:200]}
    )
    if source.kind != Source.Kind.IMPORT:
        raise Invalid(
            f"Source {key!r} already exists as a {source.get_kind_display()} source; imports need their own "
            "key: pass --source with another key.",
            field="source",
        )
    return source


def _overall() -> Dimension:
    try:
        return Dimension.objects.get(slug="overall")
    except Dimension.DoesNotExist:
        raise Invalid("Dimension 'overall' is missing; run `manage.py migrate` first.") from None


def _prompts(prompt_set: PromptSet, records: list[_Record]) -> dict[str, int]:
    texts = {r.prompt_key: r.prompt_text for r in records}
    Prompt.objects.bulk_create(
        (Prompt(prompt_set=prompt_set, external_id=k, text=t) for k, t in texts.items()),
        batch_size=BATCH,
        ignore_conflicts=True,
    )
    return dict(prompt_set.prompts.values_list("external_id", "id"))


def _outputs(records, contenders, prompts, prompt_set) -> dict[tuple[int, int], int]:
    needed = {(contenders[n].pk, prompts[r.prompt_key]) for r in records for n in (r.a, r.b)}
    counts = style_counts(PLACEHOLDER_ANSWER)
    Output.objects.bulk_create(
        (Output(contender_id=c, prompt_id=p, text=PLACEHOLDER_ANSWER, **counts) for c, p in needed),
        batch_size=BATCH,
        ignore_conflicts=True,
    )
    rows = Output.objects.filter(prompt__prompt_set=prompt_set).values_list("contender_id", "prompt_id", "id")
    return {(c, p): i for c, p, i in rows}


def _battles(
    records, contenders, prompts, outputs, prompt_set
) -> tuple[dict[tuple[str, str, str], int], int]:
    """One battle per (prompt, A, B) with the contenders copied from the outputs, as `battle_get_or_create`
    does (bulk here: an import may hold a million records)."""
    wanted = {}
    for r in records:
        prompt_id = prompts[r.prompt_key]
        a, b = contenders[r.a].pk, contenders[r.b].pk
        wanted[r.prompt_key, r.a, r.b] = (prompt_id, outputs[a, prompt_id], outputs[b, prompt_id], a, b)
    in_set = Battle.objects.filter(prompt__prompt_set=prompt_set)
    before = in_set.count()
    Battle.objects.bulk_create(
        (
            Battle(prompt_id=p, output_a_id=oa, output_b_id=ob, contender_a_id=a, contender_b_id=b)
            for p, oa, ob, a, b in wanted.values()
        ),
        batch_size=BATCH,
        ignore_conflicts=True,
    )
    rows = in_set.values_list("output_a_id", "output_b_id", "id")
    by_outputs = {(oa, ob): i for oa, ob, i in rows}
    battles = {k: by_outputs[oa, ob] for k, (_, oa, ob, _, _) in wanted.items()}
    return battles, len(by_outputs) - before
