"""Serving battles to annotators: one open assignment per task, an opaque token, sides drawn at random."""

from __future__ import annotations

import logging
import random
import secrets
from collections.abc import Mapping
from dataclasses import dataclass

from django.conf import settings
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.models import QuerySet
from django.utils import timezone

from arena.conversations import ConversationView, battle_conversation
from arena.errors import Conflict, Forbidden, NotFound
from arena.models import AnnotationTask, Annotator, Assignment, Battle, Dimension
from arena.rendering import html_fill, html_prime, render_markdown_many
from arena.voting.held_places import held_serve_added, held_serve_closed
from arena.voting.identity import Voter
from arena.voting.pair_votes import Pair
from arena.voting.selection import battle_pick
from arena.voting.serve_store import assignment_insert, open_assignment
from arena.voting.shown_dimensions import shown_dimensions

logger = logging.getLogger(__name__)


def new_token() -> str:
    return secrets.token_urlsafe(24)


def min_read_ms(*texts: str) -> int:
    """How long reading these answers takes at ARENA_VOTE_READ_CHARS_PER_SECOND, plus the base time."""
    chars = sum(len(text) for text in texts)
    return settings.ARENA_VOTE_MIN_READ_MS + int(1000 * chars / settings.ARENA_VOTE_READ_CHARS_PER_SECOND)


def assignment_serve(
    *,
    task: AnnotationTask,
    annotator: Annotator,
    rng: random.Random | None = None,
    votes: Mapping[Pair, int] | None = None,
    none_open: bool = False,
) -> Assignment | None:
    """The annotator's open battle in this task, else a new one; None when nothing is left to vote on.
    `votes`: the task's votes per contender pair, when the caller read them already (the battle page does, for
    its progress bar too: one read of the Redis hash per served battle, not two). `none_open`: the caller
    found no open assignment just before (`serve_head` probes for it with the user's read), so the first
    attempt skips the probe; a tab serving in between is caught by the INSERT's refusal, or, when it took
    the last battle left, by the probe made when nothing is left to pick.

    A reload serves the same battle again (same token, sides and reading clock). Two tabs serving at the same
    moment end up with the same assignment: the database allows one open assignment per annotator and task.
    The assignment comes back with its battle, prompt and answers loaded (`battle_view` needs no query).
    """
    for attempt in range(3):
        current = None if attempt == 0 and none_open else open_assignment(task, annotator)
        if current is not None:
            return current
        pick = battle_pick(task=task, annotator=annotator, rng=rng, votes=votes)
        if pick is None:
            # Nothing left to pick, unless another tab served this annotator's last battle since the probe
            # (or since `serve_head`'s read): that battle is open, and it is the one to show, not "done".
            return open_assignment(task, annotator)
        battle = pick.battle
        new = Assignment(
            token=new_token(), task=task, annotator=annotator, battle=battle, gold=pick.gold,
            disputed=pick.disputed, left_is_a=secrets.randbelow(2) == 0,
            min_read_ms=min_read_ms(*battle.output_a.replies, *battle.output_b.replies),  # read whole
        )  # fmt: skip
        try:
            inserted = assignment_insert(new)
        except IntegrityError:
            # Outside a transaction the battle's foreign key is checked at the INSERT: the battle was deleted
            # after it was picked (staff removed its prompt set or answers). Nothing was written: pick again.
            if connection.in_atomic_block:
                raise
            continue
        if inserted is not None:
            held_serve_added(task.pk, new.pk, battle.pk, new.served_at)
            return new
        # Refused: another tab served this annotator first; take what it served.
    return open_assignment(task, annotator)


def refuse_unknown_token() -> NotFound:
    return NotFound(
        "Unknown battle: this link is not (or no longer) valid. Load the next battle and vote there."
    )


def refuse_not_yours() -> Forbidden:
    return Forbidden(
        "This battle was served to someone else: a vote counts only from the person it was shown to. "
        "Load your own battle and vote there."
    )


def owned_assignment(rows: QuerySet[Assignment], voter: Voter) -> Assignment:
    """The one assignment in `rows` (filtered by token), only if it was served to this voter.

    Raises NotFound for an unknown token, Forbidden for a battle served to someone else.
    """
    assignment = next(iter(rows), None)
    if assignment is None:
        raise refuse_unknown_token()
    if assignment.annotator.voter_key != voter.key:
        raise refuse_not_yours()
    return assignment


def assignment_for_voter(*, token: str, voter: Voter, lock: bool = False) -> Assignment:
    """The assignment behind `token` with its annotator and task, if served to this voter (see owned_assignment).

    `lock` takes row locks on the assignment and its annotator until the transaction ends.
    """
    rows = Assignment.objects.select_related("annotator", "task")
    if lock:
        rows = rows.select_for_update(of=("self", "annotator"))
    return owned_assignment(rows.filter(token=token), voter)


def assignment_skip(*, token: str, voter: Voter) -> tuple[Assignment, bool]:
    """Record a skip (not a vote); repeating it changes nothing. Returns (assignment, changed)."""
    with transaction.atomic():
        assignment = assignment_for_voter(token=token, voter=voter, lock=True)
        if assignment.state == Assignment.State.SKIPPED:
            return assignment, False
        if assignment.state == Assignment.State.VOTED:
            raise Conflict("You already voted on this battle, so it cannot be skipped. Load the next one.")
        assignment.state = Assignment.State.SKIPPED
        assignment.answered_at = timezone.now()
        assignment.save(update_fields=["state", "answered_at"])
    held_serve_closed(assignment.task_id, assignment.pk, assignment.battle_id)  # its place is free again
    return assignment, True


@dataclass(frozen=True)
class BattleView:
    """What the page shows before the vote: no contender, battle or output identity, only the token."""

    token: str
    conversation: ConversationView  # the prompt's turns beside the displayed left and right replies
    dimensions: list[Dimension]


def vote_dimensions(task: AnnotationTask) -> list[Dimension]:
    """The optional dimension rows of this task's prompt set (overall is always asked, so never listed), as
    the page shows them (from the shared cache: arena.voting.shown_dimensions)."""
    return shown_dimensions(task.prompt_set_id)


def _html_ready(battle: Battle) -> None:
    """Make the conversation's HTML available to `render_markdown` without rendering: the HTML stored with the
    prompt and answers when current (the common case: they were rendered when stored). Rows without it (stored
    before HTML was, or under another renderer) are rendered through the shared cache in one read, and their
    HTML stored for the next serve."""
    stale = [row for row in (battle.prompt, battle.output_a, battle.output_b) if not html_prime(row)]
    if not stale:
        return
    render_markdown_many([text for row in stale for text in row.rendered_texts()])
    for row in stale:
        read = row.html_stamp
        html_fill(row)  # from this process's copies, just filled
        # Only over the HTML read (another writer may have stored newer since); a failed write costs the
        # next serve a render, never this page.
        try:
            with transaction.atomic():
                type(row).objects.filter(pk=row.pk, html_stamp=read).update(
                    html=row.html, html_stamp=row.html_stamp
                )
        except DatabaseError:
            logger.warning(
                "Could not store the rendered HTML of %s %s", type(row).__name__, row.pk, exc_info=True
            )


def battle_view(assignment: Assignment, dimensions: list[Dimension] | None = None) -> BattleView:
    """What the page shows of the assignment's battle. `assignment_serve` hands over the battle with its
    prompt and answers loaded; elsewhere select them with the assignment, or each is a query. `dimensions`:
    `vote_dimensions(task)` when the caller read them already (`serve_reads`)."""
    battle = assignment.battle
    _html_ready(battle)
    return BattleView(
        token=assignment.token,
        conversation=battle_conversation(battle, left_is_a=assignment.left_is_a),
        dimensions=vote_dimensions(assignment.task) if dimensions is None else dimensions,
    )
