"""A `make demo` step (see DEMO_STEPS in arena/management/commands/demo.py): a few voted live battles, so the
demo's leaderboard shows the "live" category before anyone has battled.

Each battle goes through the live services as a person's does (the limits, the moderation hook, the draw of two
contenders, the turn, the vote); only the answers are not streamed: they are the replies the demo's offline
template model would stream (`live.demo_model.reply_for`), written when the turn finishes. While the step runs,
the demo contenders without an endpoint are given a placeholder one (drawing needs an endpoint) and get their
empty endpoint back at the end; `manage.py demo_model` sets the real one when the demo serves. Safe to run twice:
it tops the live prompt set up to its number of battles.
"""

from __future__ import annotations

import random

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from arena.demo.content import CONTENDERS
from arena.models import Contender
from arena.voting import Ballot, Voter
from live.demo_model import reply_for, shape_of
from live.models import LiveBattle
from live.services.battles import live_battle_start, live_stream_claim, live_stream_finish
from live.services.recording import live_prompt_set, live_vote_record

BATTLES = 16  # above LEADERBOARD_MIN_VERDICTS, so the live board is fitted
QUESTIONS = [
    "How do I keep a sourdough starter alive while travelling?",
    "Explain recursion to a ten-year-old",
    "What is the difference between a list and a tuple in Python?",
    "Is it worth learning touch typing as an adult?",
    "How should I prepare for a job interview at a small company?",
    "Why is the sky blue?",
    "What makes a good commit message?",
    "How do vaccines train the immune system?",
    "Suggest a name for a bakery that sells only bread",
    "How long should I steep green tea?",
    "What is a good first programming language?",
    "How can I sleep better before an exam?",
    "Summarise the plot of Hamlet in three sentences",
    "What are the pros and cons of working from home?",
    "How do I explain a gap in my CV?",
    "Why do cats purr?",
]
# A placeholder endpoint on the discard port: never called, since this step writes the replies itself.
PLACEHOLDER_ENDPOINT = "http://127.0.0.1:9/v1"
# The demo's people prefer structured answers a little: the vote follows the shape, with noise.
SHAPE_PREFERENCE = {"list": 3, "markdown": 2, "verbose": 1, "terse": 0}


def _reply(contender: Contender, turns: list[str], shapes: dict[str, str]) -> str:
    messages = [{"role": "user", "content": turn} for turn in turns]  # one turn: no replies before it
    return reply_for(contender.slug, messages, shapes.get(contender.slug, "list"))


def _choice(battle: LiveBattle, shapes: dict[str, str], rng: random.Random) -> str:
    """The vote in the person's left/right terms."""
    score_a = SHAPE_PREFERENCE.get(shapes.get(battle.contender_a.slug, ""), 1) + rng.gauss(0, 1)
    score_b = SHAPE_PREFERENCE.get(shapes.get(battle.contender_b.slug, ""), 1) + rng.gauss(0, 1)
    if abs(score_a - score_b) < 0.3:
        return "tie"
    a_wins = score_a > score_b
    return "left" if a_wins == battle.left_is_a else "right"


class Command(BaseCommand):
    help = "Add a few voted live battles to the demo arena (answers from the offline template model)."

    def handle(self, *args, **options):
        already = live_prompt_set().prompts.count()
        if already >= BATTLES:
            self.stdout.write(f"Demo live battles: {already} already recorded.")
            return
        shapes = {str(p["slug"]): shape_of(p["styles"]) for p in CONTENDERS}  # type: ignore[index, arg-type]  # demo profiles are plain dicts
        rng = random.Random(11)
        with transaction.atomic():
            placeholders = list(
                Contender.objects.filter(slug__in=shapes, endpoint_url="").values_list("pk", flat=True)
            )
            Contender.objects.filter(pk__in=placeholders).update(
                endpoint_url=PLACEHOLDER_ENDPOINT, endpoint_model="demo"
            )
            for number, question in enumerate(QUESTIONS[already:BATTLES], start=already):
                user, _ = get_user_model().objects.get_or_create(username=f"demo-live-{number}")
                voter = Voter(key=f"u:{user.pk}", user=user)
                battle = live_battle_start(voter=voter, text=question)
                claimed = live_stream_claim(token=battle.token, voter=voter)
                assert claimed is not None  # a new battle's first turn is pending
                battle = live_stream_finish(
                    battle=claimed,
                    reply_a=_reply(battle.contender_a, battle.turns, shapes),
                    reply_b=_reply(battle.contender_b, battle.turns, shapes),
                )
                live_vote_record(token=battle.token, voter=voter, ballot=Ballot(_choice(battle, shapes, rng)))
            Contender.objects.filter(pk__in=placeholders).update(endpoint_url="", endpoint_model="")
        self.stdout.write(f"Demo live battles: {BATTLES - already} voted (category 'live').")
