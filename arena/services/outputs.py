"""Importing a contender's outputs for a prompt set (JSON lines, AlpacaEval JSON, MT-Bench answers or OpenAI
`messages`), single-turn or one reply per turn of a conversation."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction

from arena.errors import Invalid
from arena.models import Contender, Output, Prompt, PromptSet
from arena.services.identity_leaks import identity_leak_find
from arena.services.stored_html import stored_html_fill_on_commit
from arena.services.style import style_counts
from arena.services.uploads import OutputRecord, Problems, decode_upload, parse_output_records


@dataclass(frozen=True)
class OutputImportResult:
    contender: Contender
    prompt_set: PromptSet
    created: int


class _PromptIndex:
    """Find prompts of one set by external id or by exact (whitespace-trimmed) text."""

    def __init__(self, prompt_set: PromptSet) -> None:
        self.prompt_set = prompt_set
        self.by_id: dict[str, Prompt] = {}
        self.by_text: dict[str, list[Prompt]] = {}
        for prompt in prompt_set.prompts.all():
            self.by_id[prompt.external_id] = prompt
            self.by_text.setdefault(prompt.text.strip(), []).append(prompt)

    def find(self, rec: OutputRecord, filename: str) -> Prompt:
        set_slug = self.prompt_set.slug
        if rec.prompt_id is not None:
            prompt = self.by_id.get(rec.prompt_id.strip())
            if prompt is None:
                raise Invalid(
                    f"{filename}, {rec.where}: unknown prompt id {rec.prompt_id!r} in prompt set {set_slug!r}."
                )
            return prompt
        matches = self.by_text.get((rec.prompt_text or "").strip(), [])
        if not matches:
            snippet = (rec.prompt_text or "")[:60]
            raise Invalid(f"{filename}, {rec.where}: no prompt in set {set_slug!r} has the text {snippet!r}.")
        if len(matches) > 1:
            raise Invalid(
                f"{filename}, {rec.where}: several prompts in {set_slug!r} share this text; use prompt_id."
            )
        return matches[0]


def _check_generator(rec: OutputRecord, contender: Contender, filename: str) -> None:
    if rec.generator is not None and rec.generator not in (contender.slug, contender.name):
        raise Invalid(
            f"{filename}, {rec.where}: generator {rec.generator!r} is not contender {contender.slug!r}; "
            "upload each model's outputs to its own contender (or fix the generator field)."
        )


def _record_prompt(
    rec: OutputRecord, index: _PromptIndex, contender: Contender, chosen: dict[int, str], filename: str
) -> Prompt:
    """The prompt `rec` answers, or an `Invalid` saying why the record cannot be imported."""
    _check_generator(rec, contender, filename)
    prompt = index.find(rec, filename)
    if prompt.pk in chosen:
        raise Invalid(
            f"{filename}, {rec.where}: prompt {prompt.external_id!r} was already answered at {chosen[prompt.pk]}."
        )
    _check_replies(rec, prompt, filename)
    return prompt


def _check_replies(rec: OutputRecord, prompt: Prompt, filename: str) -> None:
    """One non-empty reply per user turn; a `messages` record must restate the prompt's own conversation."""
    where, name = f"{filename}, {rec.where}", repr(prompt.external_id)
    turns = prompt.user_turns
    if len(rec.replies) != len(turns):
        raise Invalid(
            f"{where}: prompt {name} has {_count(len(turns), 'user turn')} but this record gives "
            f"{_count(len(rec.replies), 'reply', 'replies')}; give one reply per turn, in order."
        )
    if len(turns) == 1 and not rec.replies[0].strip():
        raise Invalid(f"{where}: the output for prompt {name} is empty.")
    for number, reply in enumerate(rec.replies, start=1):
        if not reply.strip():
            raise Invalid(f"{where}: reply {number} (of {len(turns)}) for prompt {name} is empty.")
    if rec.user_turns is not None:
        for number, (given, own) in enumerate(zip(rec.user_turns, turns, strict=True), start=1):
            if given.strip() != own.strip():
                raise Invalid(
                    f"{where}: user turn {number} is not prompt {name}'s turn {number} ({own[:60]!r}); an "
                    "outputs file answers the prompt set's own turns."
                )
    if rec.system_message is not None and rec.system_message.strip() != prompt.system_message.strip():
        raise Invalid(
            f"{where}: the system message differs from prompt {name}'s "
            f"({prompt.system_message[:60]!r}); send the prompt's own system message, or none."
        )


def _count(n: int, singular: str, plural: str = "") -> str:
    return f"{n} {singular if n == 1 else plural or singular + 's'}"


def output_build(
    *, contender: Contender, prompt: Prompt, text: str, later_replies: list[str] | tuple[str, ...] = ()
) -> Output:
    """An unsaved Output with its style counts and identity-leak check: every writer of outputs builds them here.

    `text` answers the prompt's first turn and `later_replies` its later turns. Style counts and the leak check
    read the whole conversation (every reply), since a voter reads all of it.
    """
    replies = [text, *later_replies]
    whole = "\n\n".join(replies)
    leak = next((found for r in replies if (found := identity_leak_find(contender=contender, text=r))), "")
    return Output(
        contender=contender,
        prompt=prompt,
        text=text,
        later_replies=list(later_replies),
        identity_leak=leak,
        **style_counts(whole),
    )


def outputs_import(
    *,
    contender: Contender,
    prompt_set: PromptSet,
    data: bytes,
    filename: str,
    fmt: str | None = None,
    html_later: bool = False,
) -> OutputImportResult:
    """Attach outputs to prompts; all or nothing.

    `html_later` (web uploads) stores the outputs without their rendered HTML and queues a task that fills it
    after the commit (arena.services.stored_html), so the request renders nothing; imports from the command
    line render at write.

    Rejected as a whole: malformed records, unknown prompts, a prompt answered twice in the file, an empty
    output, a prompt the contender has already answered (outputs are immutable once battles may use them).
    Every bad record is named in the one `Invalid` raised (up to `uploads.MAX_PROBLEMS`).
    """
    text = decode_upload(data, filename=filename)
    problems = Problems(filename)
    records = parse_output_records(text, fmt=fmt, filename=filename, problems=problems)
    index = _PromptIndex(prompt_set)
    chosen: dict[int, str] = {}
    rows = []
    for rec in records:
        prompt = problems.check(_record_prompt, rec, index, contender, chosen, filename)
        if prompt is None:
            continue
        chosen[prompt.pk] = rec.where
        first, *later = rec.replies
        rows.append(output_build(contender=contender, prompt=prompt, text=first, later_replies=later))
    problems.raise_if_any()
    with transaction.atomic():
        answered = set(
            Output.objects.filter(contender=contender, prompt_id__in=chosen).values_list(
                "prompt_id", flat=True
            )
        )
        for row in rows:
            if row.prompt_id in answered:
                problems.add(
                    Invalid(
                        f"{filename}, {chosen[row.prompt_id]}: contender {contender.slug!r} already has an "
                        f"output for prompt {row.prompt.external_id!r}; outputs cannot be replaced."
                    )
                )
        problems.raise_if_any()
        Output.objects.bulk_create(rows, render_html=not html_later)
        if html_later:
            stored_html_fill_on_commit(model_label="arena.Output", ids=[row.pk for row in rows])
    return OutputImportResult(contender=contender, prompt_set=prompt_set, created=len(rows))


def output_counts_by_set(*, contender: Contender) -> list[dict]:
    """Per prompt set: how many of its prompts this contender has answered."""
    from django.db.models import Count, Q

    return list(
        PromptSet.objects.annotate(
            n_prompts=Count("prompts", distinct=True),
            n_outputs=Count(
                "prompts__outputs", filter=Q(prompts__outputs__contender=contender), distinct=True
            ),
        )
        .filter(n_outputs__gt=0)
        .values("slug", "name", "n_prompts", "n_outputs")
    )
