"""Vote pages. One template serves the page and its htmx fragments; the services hold the logic.

Nothing sent to the browser before a vote identifies the battle or its contenders: the page carries rendered
answers and an opaque assignment token only.
"""

from __future__ import annotations

from collections.abc import Mapping

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRedirect

from arena.errors import Forbidden, Throttled
from arena.htmx_request import HtmxHttpRequest
from arena.models import AnnotationTask, Annotator, Assignment
from arena.staff import staff_required
from arena.voting.ballots import CHOICES, ballot_from_post
from arena.voting.battle_fragment import BATTLE_FRAGMENTS
from arena.voting.identity import Voter, annotator_for, client_ip, voter_for_request
from arena.voting.lean_vote import reversed_url
from arena.voting.pair_votes import Pair, pair_votes
from arena.voting.presenting import guidelines_html, progress_context, reveal_for
from arena.voting.ratelimit import rate_limit_hit
from arena.voting.recording import vote_record
from arena.voting.serve_head import serve_head
from arena.voting.serve_reads import ServeReads, serve_reads
from arena.voting.serving import assignment_serve, assignment_skip, battle_view, vote_dimensions
from arena.voting.staff import annotator_set_excluded, annotators_overview, flags_recent, tasks_overview
from arena.voting.stats import agreement_stored_read, annotator_progress, task_progress
from arena.voting.undoing import vote_undo

BATTLE_TEMPLATE = "voting/battle.html"


def _refuse_if_rate_limited(request: HtmxHttpRequest, voter: Voter, scope: str) -> None:
    limited = rate_limit_hit(scope=scope, voter_key=voter.key, ip=client_ip(request))
    if limited is not None:
        raise Throttled(limited.message, retry_after=limited.retry_after)


def _sign_in(request: HtmxHttpRequest, next_url: str) -> HttpResponse:
    if request.htmx:
        return HttpResponseClientRedirect(f"{reverse('login')}?next={next_url}")
    return redirect_to_login(next_url)


def _progress(
    task: AnnotationTask,
    annotator: Annotator,
    votes: Mapping[Pair, int] | None = None,
    goal_read: tuple[int | None] | None = None,
    agreement_read: tuple[object] | None = None,
) -> dict:
    return progress_context(
        annotator_progress(annotator, agreement_read=agreement_read),
        task_progress(task, votes, goal_read=goal_read),
    )


def _serve(
    request: HtmxHttpRequest, voter: Voter, task: AnnotationTask, annotator: Annotator, none_open: bool
) -> HttpResponse:
    """The next battle, after the serve's rate limit: its Redis reads in one round trip (`serve_reads`)."""
    reads = serve_reads(task=task, voter_key=voter.key, ip=client_ip(request))
    if reads.limited is not None:
        raise Throttled(reads.limited.message, retry_after=reads.limited.retry_after)
    return _battle_page(request, task, annotator, none_open=none_open, reads=reads)


def _battle_page(
    request: HtmxHttpRequest,
    task: AnnotationTask,
    annotator: Annotator,
    undone: bool = False,
    none_open: bool = False,
    reads: ServeReads | None = None,
) -> HttpResponse:
    # The votes read once: for choosing the pair and for the progress bar.
    votes = pair_votes(task.pk) if reads is None else reads.votes()
    assignment = assignment_serve(task=task, annotator=annotator, votes=votes, none_open=none_open)
    dimensions = None if reads is None or assignment is None else reads.dimensions()
    # A serve (`reads`) adds the battles voted since to the agreement figure stored a moment ago
    # (arena.voting.agreement_cache); after an undo or a skip (no `reads`) it is computed whole.
    progress = _progress(
        task,
        annotator,
        votes,
        None if reads is None else reads.goal_read(),
        None if reads is None else reads.agreement_read(),
    )
    context = {
        "task": task,
        "view": battle_view(assignment, dimensions) if assignment else None,
        "choices": CHOICES.items(),
        "guidelines_html": guidelines_html(task.guidelines),
        "next_url": reversed_url("voting:task", task.slug) + "?start=1",  # reverse() without its cost
        "undone": undone,
        **progress,
    }
    if request.htmx:
        return HttpResponse(BATTLE_FRAGMENTS.html(context, request))  # the template's bytes, from its pieces
    return render(request, BATTLE_TEMPLATE, context)


@require_GET
def vote(request: HtmxHttpRequest) -> HttpResponse:
    """Entry point: straight to the one open task, or a choice between several."""
    tasks = list(AnnotationTask.objects.filter(is_active=True).select_related("prompt_set"))
    if len(tasks) == 1:
        return redirect("voting:task", slug=tasks[0].slug)
    rows = [(task, task_progress(task)) for task in tasks]
    return render(request, "voting/tasks.html", {"tasks": rows})


def _open_task(slug: str) -> AnnotationTask:
    """The active task with this slug, else 404. A raw query (the fields' converters still apply): the ORM
    compiling it on every served battle cost the web process twice what the row does."""
    sql = f"SELECT * FROM {AnnotationTask._meta.db_table} WHERE slug = %s AND is_active"
    task = next(iter(AnnotationTask.objects.raw(sql, [slug])), None)
    if task is None:
        raise Http404("No open voting task with this name.")
    return task


@require_GET
def task(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    """The guidelines first (until the annotator starts), then one battle at a time."""
    head = serve_head(request, slug)  # the signed-in user, task, annotator and open battle: one statement
    none_open = False
    if head is None:  # anything but the ordinary signed-in session: Django's authentication, as always
        task = _open_task(slug)
        try:
            voter = voter_for_request(request, create=True)
        except Forbidden:
            return _sign_in(request, request.get_full_path())
        annotator = annotator_for(voter)
    else:
        if head.task is None:
            raise Http404("No open voting task with this name.")
        task, voter, none_open = head.task, head.voter, head.none_open
        annotator = head.annotator or annotator_for(voter)  # a first visit creates the row
    started = "start" in request.GET or Assignment.objects.filter(task=task, annotator=annotator).exists()
    if not started:
        context = {
            "task": task,
            "guidelines_html": guidelines_html(task.guidelines),
            "dimensions": vote_dimensions(task),
        }
        return render(request, "voting/intro.html", context)
    return _serve(request, voter, task, annotator, none_open)


@require_POST
def submit(request: HtmxHttpRequest, token: str) -> HttpResponse:
    """Record the vote on the battle served under `token`, then reveal the models. Replays change nothing."""
    voter = voter_for_request(request, create=False)
    _refuse_if_rate_limited(request, voter, "vote")
    result = vote_record(token=token, voter=voter, ballot=ballot_from_post(request.POST))
    vote = result.vote
    context = {
        "reveal": reveal_for(vote, result.dimension_names),
        "choices": CHOICES.items(),
        "next_url": reverse("voting:task", args=[vote.task_slug]) + "?start=1",
        "undo_url": reverse("voting:undo", args=[token]),
        "undo_seconds": settings.ARENA_VOTE_UNDO_SECONDS,
        "progress_url": reverse("voting:progress", args=[vote.task_slug]),
    }
    if request.htmx:
        # The panel, the names and the announcement; the counters follow in a request of their own
        # (progress_url), so that the vote itself stays a handful of statements.
        return render(request, BATTLE_TEMPLATE + "#revealed", {**context, "oob": True})
    # Without htmx (no JavaScript) the whole page comes back, revealed, counters included.
    assignment = Assignment.objects.select_related(
        "task", "annotator", "battle__prompt", "battle__output_a", "battle__output_b"
    ).get(pk=vote.assignment_id)
    context.update(
        task=assignment.task,
        view=battle_view(assignment),
        guidelines_html=guidelines_html(assignment.task.guidelines),
        **_progress(assignment.task, assignment.annotator),
    )
    return render(request, BATTLE_TEMPLATE, context)


@require_GET
def progress(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    """The voter's counters and the task's progress bar (the fragment a reveal refreshes)."""
    task = get_object_or_404(AnnotationTask, slug=slug)
    voter = voter_for_request(request, create=False)
    annotator = annotator_for(voter)
    context = {
        "task": task,
        **_progress(task, annotator, agreement_read=agreement_stored_read(annotator.voter_key)),
    }
    return render(request, BATTLE_TEMPLATE + "#progress", context)


UNDONE_MESSAGE = "Your vote was withdrawn. Its battle is closed for you, since you have seen its names; here is the next one."


@require_POST
def undo(request: HtmxHttpRequest, token: str) -> HttpResponse:
    """Take back the vote given under `token` (within ARENA_VOTE_UNDO_SECONDS) and serve the next battle (the
    undone one is closed for this voter: they have seen its names)."""
    voter = voter_for_request(request, create=False)
    _refuse_if_rate_limited(request, voter, "vote")
    assignment = vote_undo(token=token, voter=voter)
    if not request.htmx:
        messages.info(request, UNDONE_MESSAGE)
        return redirect(reverse("voting:task", args=[assignment.task.slug]) + "?start=1")
    return _battle_page(request, assignment.task, assignment.annotator, undone=True)


@require_POST
def skip(request: HtmxHttpRequest, token: str) -> HttpResponse:
    """Record a skip (never a vote) and serve the next battle."""
    voter = voter_for_request(request, create=False)
    _refuse_if_rate_limited(request, voter, "vote")
    assignment, _ = assignment_skip(token=token, voter=voter)
    if not request.htmx:
        return redirect(reverse("voting:task", args=[assignment.task.slug]) + "?start=1")
    return _battle_page(request, assignment.task, assignment.annotator)


@staff_required("The voting staff page is for staff.")
@require_GET
def staff(request: HtmxHttpRequest) -> HttpResponse:
    context = {"tasks": tasks_overview(), "annotators": annotators_overview(), "flags": flags_recent()}
    return render(request, "voting/staff.html", context)


@staff_required("Excluding annotators is for staff.")
@require_POST
def staff_exclusion(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Exclude an annotator's votes from ratings (or restore them); htmx gets the updated row back."""
    annotator = get_object_or_404(Annotator, pk=pk)
    excluded = request.POST.get("excluded") == "1"
    annotator_set_excluded(
        annotator=annotator, excluded=excluded, by=request.user, reason=request.POST.get("reason", "")[:200]
    )
    if not request.htmx:
        return redirect("voting:staff")
    row = next(row for row in annotators_overview() if row.annotator.pk == annotator.pk)
    return render(request, "voting/staff.html#annotator-row", {"row": row})
