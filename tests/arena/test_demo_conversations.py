"""The demo arena includes a small two-turn prompt set, answered by every demo contender turn by turn, with
battles between every approved pair; a voting task on it shows the conversations side by side."""

from django.core.management import call_command
from django.urls import reverse

from arena.demo.loader import CONVERSATION_SET_SLUG
from arena.models import Battle, Contender, Output, Prompt
from tests.support import factories


def test_the_demo_has_two_turn_prompts_answered_turn_by_turn_and_battles(db):
    call_command("load_demo")
    prompts = Prompt.objects.filter(prompt_set__slug=CONVERSATION_SET_SLUG)
    assert prompts.count() == 3 and all(len(p.user_turns) == 2 and p.reference_answer for p in prompts)
    outputs = Output.objects.filter(prompt__in=prompts)
    assert outputs.count() == 3 * Contender.objects.count()
    assert all(len(o.replies) == 2 and all(r.strip() for r in o.replies) for o in outputs)
    n_approved = Contender.objects.filter(status="approved").count()
    battles = Battle.objects.filter(prompt__in=prompts)
    assert battles.count() == 3 * n_approved * (n_approved - 1) // 2


def test_a_task_on_the_demo_conversations_serves_them_turn_by_turn(client, db, settings):
    factories.fresh_rate_limits(settings)
    call_command("load_demo")
    task = factories.make_voting_task(
        Prompt.objects.filter(prompt_set__slug=CONVERSATION_SET_SLUG).first().prompt_set, slug="chats"
    )
    client.force_login(factories.make_annotator_user("dora"))
    html = client.get(reverse("voting:task", args=[task.slug]) + "?start=1").content.decode()
    assert 'class="conversation multi-turn"' in html and html.count('<section class="turn"') == 2
