"""Two-turn battles are shown side by side, turn by turn, wherever answers are shown: the voting page, the
contender and compare pages' battles, the judge report's battle page; every turn sanitised like any answer,
and names only where blindness allows. A single-turn battle keeps the one-turn layout."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from arena.models import Dimension, Output
from arena.services.battles import battle_get_or_create, people_source
from arena.services.verdicts import verdict_record
from tests.support import factories
from tests.support.conversations import import_mt_bench

HOSTILE = "Fine.\n\n<script>alert(1)</script><img src=x onerror=alert(2)> [x](javascript:alert(3))"


@pytest.fixture(autouse=True)
def _limits(settings):
    factories.fresh_rate_limits(settings)


@pytest.fixture
def two_turn(db):
    """The MT-Bench-shaped set reduced to question 101, alpha's second reply made hostile."""
    prompt_set, (alpha, beta) = import_mt_bench()
    Output.objects.exclude(prompt__external_id="101").delete()
    prompt_set.prompts.exclude(external_id="101").delete()
    Output.objects.filter(contender=alpha).update(later_replies=[HOSTILE])
    return prompt_set, alpha, beta


def _turns(html: str) -> dict[int, str]:
    """The HTML of each turn section of the (first) conversation on the page, by turn number."""
    parts = re.split(r'<section class="turn" data-turn="turn-(\d+)"', html)
    return {
        int(number): body.split("</section>")[0]
        for number, body in zip(parts[1::2], parts[2::2], strict=True)
    }


def _side(turn_html: str, side: str) -> str:
    found = re.search(rf'<article class="card answer" data-side="{side}">(.*?)</article>', turn_html, re.S)
    assert found is not None, f"no {side} reply in this turn"
    return found.group(1)


def _assert_sanitised(html: str) -> None:
    assert "<script>" not in html and "onerror=" not in html.replace("onerror=alert(2)&gt;", "")
    assert 'href="javascript' not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_the_voting_page_shows_both_conversations_turn_by_turn(client, two_turn):
    prompt_set, alpha, beta = two_turn
    task = factories.make_voting_task(prompt_set, slug="mt")
    user = factories.make_annotator_user("alice")
    client.force_login(user)
    html = client.get(reverse("voting:task", args=[task.slug]) + "?start=1").content.decode()
    assert 'class="conversation multi-turn"' in html
    turns = _turns(html)
    assert sorted(turns) == [1, 2]
    alpha_out, beta_out = Output.objects.get(contender=alpha), Output.objects.get(contender=beta)
    left_is_alpha = "Join us for a <strong>book swap</strong>" in _side(turns[1], "left")
    left, right = (alpha_out, beta_out) if left_is_alpha else (beta_out, alpha_out)
    for number in (1, 2):
        prompt = re.search(r'<div class="card prompt">(.*?)</div></div>', turns[number], re.S).group(1)
        assert f"Turn {number} · prompt" in prompt
    assert "Write a two-sentence invitation" in turns[1] and "Now rewrite it for a noticeboard" in turns[2]
    assert "Now rewrite it" not in turns[1]
    assert left.text[-25:] in _side(turns[1], "left") and right.text[-25:] in _side(turns[1], "right")
    if left_is_alpha:
        assert "&lt;script&gt;" in _side(turns[2], "left") and "YOU ARE INVITED" in _side(turns[2], "right")
    else:
        assert "YOU ARE INVITED" in _side(turns[2], "left") and "&lt;script&gt;" in _side(turns[2], "right")
    _assert_sanitised(html)
    # Blind before the vote: neither name is on the page; the reveal slots are there, empty, once each.
    assert "Alpha-7B" not in html and "Beta-13B" not in html
    assert html.count('id="name-left"') == 1 and '<span id="name-left" class="model-name"></span>' in html


def test_battle_pages_show_both_conversations_with_names_once_not_blind(client, staff, two_turn):
    prompt_set, alpha, beta = two_turn
    battle, _ = battle_get_or_create(
        output_a=Output.objects.get(contender=alpha), output_b=Output.objects.get(contender=beta)
    )
    overall = Dimension.objects.get(slug="overall")
    verdict_record(battle=battle, dimension=overall, source=people_source(), outcome="b", voter_key="v1")
    pages = [
        client.get(reverse("leaderboard:contender", args=[alpha.slug])).content.decode(),
        client.get(reverse("leaderboard:compare"), {"a": alpha.slug, "b": beta.slug}).content.decode(),
        client.get(f"/judges/report/battles/{battle.pk}/").content.decode(),
    ]
    for html in pages:
        turns = _turns(html)
        assert sorted(turns) == [1, 2], html[:200]
        assert "A: Alpha-7B" in _side(turns[1], "left") and "B: Beta-13B" in _side(turns[1], "right")
        assert "&lt;script&gt;" in _side(turns[2], "left") and "YOU ARE INVITED" in _side(turns[2], "right")
        assert "Now rewrite it for a noticeboard" in turns[2]
        _assert_sanitised(html)
    # While an open task may serve these answers, the public report page withholds them (blindness unchanged).
    factories.make_voting_task(prompt_set, slug="open")
    html = client.get(f"/judges/report/battles/{battle.pk}/").content.decode()
    assert 'data-testid="answers-withheld"' in html and "YOU ARE INVITED" not in html
    client.force_login(staff)
    assert "YOU ARE INVITED" in client.get(f"/judges/report/battles/{battle.pk}/").content.decode()


def test_a_system_message_is_shown_once_above_the_turns(client, two_turn):
    prompt_set, alpha, beta = two_turn
    prompt_set.prompts.update(system_message="Answer **briefly**.")
    task = factories.make_voting_task(prompt_set, slug="mt")
    client.force_login(factories.make_annotator_user("bob"))
    html = client.get(reverse("voting:task", args=[task.slug]) + "?start=1").content.decode()
    system = re.search(r'data-testid="system-message">(.*?)</div></div>', html, re.S).group(1)
    assert "Answer <strong>briefly</strong>." in system and html.index(system) < html.index(
        'data-turn="turn-1"'
    )


def test_a_single_turn_battle_keeps_the_one_turn_layout(client, db):
    task, _ = factories.make_voting_arena()
    client.force_login(factories.make_annotator_user("carol"))
    html = client.get(reverse("voting:task", args=[task.slug]) + "?start=1").content.decode()
    assert 'class="conversation"' in html and "multi-turn" not in html
    assert "<h2>Prompt</h2>" in html and "turn-mark" not in html and 'aria-label="Answer A"' in html
    assert len(_turns(html)) == 1
