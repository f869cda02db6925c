"""The served battle's htmx fragment (`voting/battle.html#battle`) without the template engine on each serve.

Why: rendering the fragment (the partial, the included conversation, four `{% url %}` tags, the CSRF tag,
every context processor) was about a quarter of a served battle's web CPU (docs/voting-performance.md).

How (`arena.voting.template_pieces`, as for the vote's reveal): the fragment is rendered once per *shape* with
placeholder values, split at the placeholders, and each serve joins the pieces with its own values, escaped
exactly as the template escapes a variable (`render_value_in_context`; the answers' HTML is already sanitised
and marked safe, so it goes in as the template puts it in). A shape is everything that changes the markup
itself rather than a value in it: which `{% if %}` branches are taken (no battle left, a withdrawn vote, a
system message, an answer that is empty, a goal, an agreement figure), how many turns and optional rows there
are, the undo window, the script prefix the URLs are reversed under. The first fill of each shape is compared
with a full render of the same context; a shape the placeholders cannot reproduce is rendered in full every
time. Values that do not look like the ones the shapes were proven with (a token that would need quoting in
a URL) are rendered in full too.

Nothing here decides what is shown: the context is the view's own, built from the same services; this only
produces the same bytes the template would.
"""

from __future__ import annotations

import re
from types import SimpleNamespace
from typing import Any

from django.middleware.csrf import get_token
from django.template.loader import get_template
from django.utils.functional import SimpleLazyObject
from django.utils.safestring import mark_safe

from arena.conversations import ConversationView, TurnView
from arena.voting.template_pieces import PiecesByShape, url_scope

TEMPLATE = "voting/battle.html#battle"
# Tokens are `secrets.token_urlsafe(24)`: `reverse` puts them into URLs unquoted.
_URL_SAFE = re.compile("[A-Za-z0-9_-]+")
# The keys of views._battle_page's context: any other context (a reveal, say) is rendered in full.
CONTEXT_KEYS = frozenset(
    {
        "task",
        "view",
        "choices",
        "guidelines_html",
        "next_url",
        "undone",
        "progress",
        "agreement_pct",
        "compared_noun",
        "task_progress",
        "undo_seconds",
    }
)


class _Slots:
    """Numbered placeholders handed out while a shape's marked context is built."""

    _MARK = "q9ServeSlot{}Q"

    def __init__(self) -> None:
        self.marks: list[str] = []

    def __call__(self, safe: bool = False) -> str:
        mark = self._MARK.format(len(self.marks))
        self.marks.append(mark)
        return mark_safe(mark) if safe else mark


def _values(context: dict[str, Any], csrf_token: Any) -> list[Any]:
    """The fragment's values, in the order `_marked` hands out their placeholders."""
    progress, task_progress, view = context["progress"], context["task_progress"], context["view"]
    values: list[Any] = [
        context["task"].name,
        csrf_token,
        context["guidelines_html"],
        context["next_url"],
        progress.today,
        progress.total,
        context["agreement_pct"],
        progress.agreement.compared,
        context["compared_noun"],
        task_progress.goal,
        task_progress.votes,
        task_progress.percent,
    ]
    if view is not None:
        conversation = view.conversation
        values += [view.token, conversation.system_html]
        for turn in conversation.turns:
            values += [turn.number, turn.user_html, turn.left_html, turn.right_html]
        for dimension in view.dimensions:
            values += [dimension.slug, dimension.rubric, dimension.name]
    return values


def _shape(context: dict[str, Any]) -> tuple:
    view = context["view"]
    fixed = (
        url_scope(),
        tuple(context["choices"]),
        bool(context["undone"]),
        context["undo_seconds"],
        context["agreement_pct"] is None,
        bool(context["task_progress"].goal),
        view is None,
    )
    if view is None:
        return fixed
    conversation = view.conversation
    turns = tuple((bool(t.left_html), bool(t.right_html)) for t in conversation.turns)
    return (*fixed, bool(conversation.system_html), turns, len(view.dimensions))


def _marked(context: dict[str, Any], slots: _Slots) -> dict[str, Any]:
    """The context with a placeholder for every value, in `_values`' order; the branches the template takes
    stay those of the real context (a placeholder for a value that is empty or None would change them)."""
    task_progress, view = context["task_progress"], context["view"]
    marked: dict[str, Any] = {
        **context,
        "task": SimpleNamespace(name=slots()),
        "csrf_token": slots(),
        "guidelines_html": slots(safe=True),
        "next_url": slots(),
    }
    today, total = slots(), slots()
    agreement_pct = slots()
    marked["progress"] = SimpleNamespace(
        today=today, total=total, agreement=SimpleNamespace(compared=slots())
    )
    marked["agreement_pct"] = None if context["agreement_pct"] is None else agreement_pct
    marked["compared_noun"] = slots()
    goal, votes, percent = slots(), slots(), slots()
    marked["task_progress"] = SimpleNamespace(
        goal=goal if task_progress.goal else task_progress.goal, votes=votes, percent=percent
    )
    if view is not None:
        token = slots()
        system_html = slots(safe=True)
        turns = []
        for turn in view.conversation.turns:
            number, user_html, left_html, right_html = slots(), slots(True), slots(True), slots(True)
            turns.append(
                TurnView(
                    number,  # type: ignore[arg-type]  # a placeholder in the number's place
                    user_html,  # type: ignore[arg-type]
                    left_html if turn.left_html else turn.left_html,  # type: ignore[arg-type]
                    right_html if turn.right_html else turn.right_html,  # type: ignore[arg-type]
                )
            )
        conversation = ConversationView(
            system_html=system_html if view.conversation.system_html else view.conversation.system_html,  # type: ignore[arg-type]
            turns=turns,
        )
        dimensions = [SimpleNamespace(slug=slots(), rubric=slots(), name=slots()) for _ in view.dimensions]
        marked["view"] = SimpleNamespace(token=token, conversation=conversation, dimensions=dimensions)
    return marked


class BattleFragments:
    """The `#battle` fragment's pieces by shape (this module's docstring), per process."""

    def __init__(self) -> None:
        self._pieces = PiecesByShape()

    def html(self, context: dict[str, Any], request: Any) -> str:
        """The fragment for `context` (views._battle_page's), as `render(request, TEMPLATE, context)` writes
        it. The request's CSRF token is taken only when the fragment shows it, as Django's context processor
        does (`get_token` marks the CSRF cookie to be sent: a page without a form must not)."""
        csrf_token: Any = SimpleLazyObject(lambda: get_token(request))
        view = context["view"]
        if set(context) != CONTEXT_KEYS or (view is not None and not _URL_SAFE.fullmatch(view.token)):
            return _full(context, csrf_token)

        def marked() -> tuple[str, list[str]]:
            slots = _Slots()
            return get_template(TEMPLATE).render(_marked(context, slots)), slots.marks

        return self._pieces.html(
            _shape(context), _values(context, csrf_token), marked, lambda: _full(context, csrf_token)
        )


def _full(context: dict[str, Any], csrf_token: Any) -> str:
    """The template's own render. The fragment uses no context processor's value but the CSRF token, which
    is passed as the builtin processor passes it (tests compare this with `render(request, …)`)."""
    return get_template(TEMPLATE).render({**context, "csrf_token": csrf_token})


BATTLE_FRAGMENTS = BattleFragments()
