"""The served battle's htmx fragment from its pieces (arena.voting.battle_fragment) against the template's own
render: the same bytes for every shape and for hostile text, and a full render whenever the pieces cannot be
trusted."""

import re

import pytest
from django.middleware.csrf import get_token
from django.shortcuts import render
from django.test import RequestFactory
from django.urls import reverse

from arena.conversations import conversation_view
from arena.models import AnnotationTask, Assignment, Dimension
from arena.voting import battle_fragment
from arena.voting.ballots import CHOICES
from arena.voting.battle_fragment import BattleFragments
from arena.voting.presenting import guidelines_html, progress_context
from arena.voting.serving import BattleView
from arena.voting.stats import Agreement, Progress, TaskProgress
from tests.support import factories

HX = {"HTTP_HX_REQUEST": "true"}
CSRF = re.compile(r'name="csrfmiddlewaretoken" value="[^"]*"')
HOSTILE = "<script>alert('x')</script> & \"quoted\" {{ q9ServeSlot0Q }} q9ServeSlot3Q {% csrf_token %}"


def _context(
    *,
    name="People",
    turns=(("Question?", "Left answer.", "Right answer."),),
    system="",
    dimensions=(),
    token="tok_en-1",
    compared=3,
    agreed=2,
    goal=40,
    undone=False,
    done=False,
    guidelines="Prefer *correct* answers.",
):
    users, lefts, rights = zip(*turns, strict=True) if turns else ((), (), ())
    conversation = conversation_view(
        user_turns=users, left_replies=lefts, right_replies=rights, system=system
    )
    view = None if done else BattleView(token=token, conversation=conversation, dimensions=list(dimensions))
    progress = Progress(today=7, total=1234, skipped=0, agreement=Agreement(compared, agreed))
    return {
        "task": AnnotationTask(name=name, slug="people"),
        "view": view,
        "choices": CHOICES.items(),
        "guidelines_html": guidelines_html(guidelines),
        "next_url": reverse("voting:task", args=["people"]) + "?start=1",
        "undone": undone,
        **progress_context(progress, TaskProgress(votes=5, goal=goal)),
    }


def _request():
    request = RequestFactory().get("/vote/t/people/?start=1", **HX)
    request.session = {}
    return request


def _django(context, request) -> str:
    """What the view rendered before: Django's `render` with the request (every context processor)."""
    return render(request, "voting/battle.html#battle", context).content.decode()


def _same(ours: str, theirs: str) -> None:
    # Each get_token() masks the request's secret anew: the tokens differ, the markup must not.
    assert CSRF.sub("T", ours) == CSRF.sub("T", theirs)


DIMENSIONS = [
    Dimension(slug="style", name="Style", rubric="How it reads"),
    Dimension(slug="facts-2", name=HOSTILE, rubric=HOSTILE),
]
SHAPES = {
    "one turn": {},
    "multi-turn, system message, an empty reply": {
        "turns": (("First?", "A1", ""), ("Second?", "", "B2"), ("Third?", "A3", "B3")),
        "system": "Be *brief*.",
    },
    "optional rows": {"dimensions": DIMENSIONS},
    "one battle compared": {"compared": 1, "agreed": 1},
    "nothing compared, no goal": {"compared": 0, "agreed": 0, "goal": 0},
    "a vote withdrawn": {"undone": True},
    "nothing left": {"done": True},
}


@pytest.mark.parametrize("shape", SHAPES)
def test_the_fragment_from_its_pieces_is_the_templates_own(shape):
    fragments = BattleFragments()
    first = _context(**SHAPES[shape])
    request = _request()
    ours = fragments.html(first, request)
    # The CSRF cookie is marked to be sent only when the fragment carries the form, as Django's render does.
    assert (
        bool(CSRF.search(ours))
        == bool(request.META.get("CSRF_COOKIE_NEEDS_UPDATE"))
        == (shape != "nothing left")
    )
    _same(ours, _django(first, request))
    # A second serve of the same shape, with other (hostile) values, comes from the pieces alone.
    hostile = {
        "name": HOSTILE,
        "token": "Zz_9-other",
        "guidelines": HOSTILE,
        "dimensions": [Dimension(slug=d.slug + "x", name=HOSTILE, rubric=d.name) for d in DIMENSIONS],
    }
    if "turns" in SHAPES[shape]:
        hostile["turns"] = tuple(
            (HOSTILE + u, left and HOSTILE, right and "`" + HOSTILE + "`")
            for u, left, right in SHAPES[shape]["turns"]
        )
    else:
        hostile["turns"] = ((HOSTILE, "<b>bold</b> " + HOSTILE, "q9ServeSlot12Q"),)
    second = _context(**{**SHAPES[shape], **hostile})
    if "dimensions" not in SHAPES[shape]:
        second["view"] = second["view"] and BattleView(second["view"].token, second["view"].conversation, [])
    assert fragments._pieces._parts[battle_fragment._shape(first)] is not None  # proven on the first serve
    _same(fragments.html(second, request), _django(second, request))
    assert "<script>" not in fragments.html(second, request)


def test_a_token_that_would_need_quoting_is_rendered_in_full():
    fragments = BattleFragments()
    context = _context(token="a b<c>&amp;")
    request = _request()
    _same(fragments.html(context, request), _django(context, request))
    assert not fragments._pieces._parts  # no shape was built from it


def test_another_context_is_rendered_in_full():
    fragments = BattleFragments()
    context = {**_context(), "oob": True}
    request = _request()
    _same(fragments.html(context, request), _django(context, request))
    assert not fragments._pieces._parts


def test_a_shape_the_pieces_cannot_reproduce_is_rendered_in_full_every_time(monkeypatch):
    """As if the template put a value through a filter: the pieces' first fill differs from the full render,
    so the shape is never served from pieces."""
    real = battle_fragment._marked

    def wrong(context, slots):
        marked = real(context, slots)
        marked["task"].name = "Not the placeholder"
        return marked

    monkeypatch.setattr(battle_fragment, "_marked", wrong)
    fragments = BattleFragments()
    request = _request()
    for name in ("People", "Other people"):
        context = _context(name=name)
        html = fragments.html(context, request)
        _same(html, _django(context, request))
        assert f"<h1>{name}</h1>" in html
    assert list(fragments._pieces._parts.values()) == [None]


def test_the_fragment_uses_the_requests_csrf_token():
    request = _request()
    html = BattleFragments().html(_context(), request)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]*)"', html).group(1)
    # The same secret as get_token hands out, and the cookie is marked to be set, as the template tag does.
    from django.middleware.csrf import _unmask_cipher_token

    assert _unmask_cipher_token(token) == _unmask_cipher_token(get_token(request))
    assert request.META["CSRF_COOKIE_NEEDS_UPDATE"]


@pytest.fixture(autouse=True)
def _limits(settings):
    factories.fresh_rate_limits(settings)


def test_the_served_fragment_through_the_view_is_the_full_render(voter_client, voting_task, monkeypatch):
    """Through Django's stack: the htmx serve's bytes equal the template's render of the same battle."""
    url = reverse("voting:task", args=[voting_task.slug]) + "?start=1"
    seen = []
    real = battle_fragment.BattleFragments.html

    def spy(self, context, request):
        html = real(self, context, request)
        seen.append((html, _django(context, request)))
        return html

    monkeypatch.setattr(battle_fragment.BattleFragments, "html", spy)
    for _ in range(3):
        response = voter_client.get(url, **HX)
        assert response.status_code == 200 and response.content.decode() == seen[-1][0]
        token = Assignment.objects.filter(state=Assignment.State.SERVED).get().token
        assert token in seen[-1][0]
        voter_client.post(reverse("voting:skip", args=[token]), **HX)
    assert len(seen) == 6  # three serves and three skips, each serving the next battle
    for ours, theirs in seen:
        _same(ours, theirs)


@pytest.mark.parametrize("grouping", [False, True])
def test_numbers_are_written_as_the_template_writes_them(settings, grouping):
    """A voter's total past a thousand, with the thousand separator off (ints written as str) and on."""
    settings.USE_THOUSAND_SEPARATOR = grouping
    fragments, request = BattleFragments(), _request()
    for total in (3, 12345):
        context = _context()
        context["progress"] = Progress(
            today=total, total=total * 100, skipped=0, agreement=Agreement(total, 1)
        )
        html = fragments.html(context, request)
        _same(html, _django(context, request))
    assert ("1,234,500" in html) == grouping
