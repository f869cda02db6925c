"""Add people's votes to the demo arena: a voting task with gold battles, and a few demo annotators.

Each annotator has a seeded, noisy preference for better answers: an answer that contains the prompt's
reference answer wins with the annotator's accuracy, two equally good answers mostly tie, and two wrong ones
are often both bad. Votes go through the same services as the browser. Safe to run twice: annotators only
top up to their number of votes.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from arena.demo.loader import PROMPT_SET_SLUG
from arena.models import AnnotationTask, Assignment, Battle, Output, PromptSet
from arena.models.verdicts import Outcome
from arena.voting import (
    Ballot,
    Voter,
    annotator_for,
    assignment_serve,
    gold_add,
    task_create,
    vote_dimensions,
    vote_record,
)

TASK_SLUG = "arena-starter-people"
GUIDELINES = """\
**Which answer would you rather receive?** Read the prompt, then both answers.

1. *Correct first*: a right answer beats a wrong one, however well written.
2. Then *clear and concise*: no padding, no needless repetition.
3. **Tie** when both are about as good; **Both are bad** when neither answers the question.

The optional dimensions (helpfulness, correctness, conciseness, clarity, harmlessness) help when the answers
differ on one of them.
Some battles have a known answer and check attention. Answers are shown as Markdown; nothing in them can run.
"""
# (username, accuracy, votes): how often they prefer the better answer, and how many votes they cast.
ANNOTATORS = [
    ("demo-ana", 0.92, 30),
    ("demo-ben", 0.85, 26),
    ("demo-chloe", 0.8, 24),
    ("demo-dev", 0.72, 20),
    ("demo-eli", 0.6, 16),
]


@dataclass(frozen=True)
class Taste:
    accuracy: float
    rng: random.Random


def _is_good(output: Output) -> bool:
    return output.prompt.reference_answer.lower() in output.text.lower()


def _preference(good_a: bool, good_b: bool, taste: Taste) -> str:
    """A noisy overall outcome in battle terms."""
    rng = taste.rng
    if good_a == good_b:
        if not good_a and rng.random() < 0.5:
            return Outcome.BOTH_BAD
        return Outcome.TIE if rng.random() < 0.6 else rng.choice([Outcome.A, Outcome.B])
    right = Outcome.A if good_a else Outcome.B
    return right if rng.random() < taste.accuracy else (Outcome.B if right == Outcome.A else Outcome.A)


def _ballot(assignment: Assignment, taste: Taste, dimension_slugs: list[str]) -> Ballot:
    battle = assignment.battle
    good_a, good_b = _is_good(battle.output_a), _is_good(battle.output_b)
    overall = assignment.displayed(_preference(good_a, good_b, taste))
    dimensions = {}
    if "correctness" in dimension_slugs and taste.rng.random() < 0.5:
        dimensions["correctness"] = assignment.displayed(_preference(good_a, good_b, taste))
    if "helpfulness" in dimension_slugs and taste.rng.random() < 0.4:
        dimensions["helpfulness"] = assignment.displayed(_preference(good_a, good_b, taste))
    if "clarity" in dimension_slugs and taste.rng.random() < 0.3:
        dimensions["clarity"] = assignment.displayed(_preference(good_a, good_b, taste))
    if "harmlessness" in dimension_slugs and taste.rng.random() < 0.2:
        dimensions["harmlessness"] = "tie"  # the demo's answers are all harmless
    if "conciseness" in dimension_slugs and taste.rng.random() < 0.3:
        shorter = Outcome.A if len(battle.output_a.text) < len(battle.output_b.text) else Outcome.B
        dimensions["conciseness"] = assignment.displayed(shorter)
    return Ballot(overall=overall, dimensions=dimensions)


class Command(BaseCommand):
    help = "Add a voting task and seeded human votes by demo annotators to the demo arena. Safe to run twice."

    def add_arguments(self, parser):
        parser.add_argument("--seed", type=int, default=5)

    def handle(self, *args, seed: int, **options):
        prompt_set = PromptSet.objects.filter(slug=PROMPT_SET_SLUG).first()
        if prompt_set is None:
            raise CommandError(
                f"The demo prompt set {PROMPT_SET_SLUG!r} is missing: run `manage.py load_demo` first."
            )
        task = self._task(prompt_set)
        slugs = [d.slug for d in vote_dimensions(task)]
        added = sum(
            self._vote_as(username, accuracy, n, task, slugs, seed) for username, accuracy, n in ANNOTATORS
        )
        flagged = Assignment.objects.filter(task=task, flagged=True).count()
        total = Assignment.objects.filter(task=task, state=Assignment.State.VOTED).count()
        self.stdout.write(
            f"Demo votes: {added} new, {total} in task {task.slug!r} by {len(ANNOTATORS)} demo annotators ({flagged} flagged)."
        )

    def _task(self, prompt_set: PromptSet) -> AnnotationTask:
        task = AnnotationTask.objects.filter(slug=TASK_SLUG).first()
        if task is None:
            task = task_create(
                slug=TASK_SLUG,
                name="Arena starter: which answer is better?",
                prompt_set=prompt_set,
                guidelines=GUIDELINES,
                votes_per_battle=3,
                gold_rate=0.1,
            )
        for battle in self._gold_candidates(prompt_set)[:6]:
            expected = Outcome.A if _is_good(battle.output_a) else Outcome.B
            gold_add(
                task=task,
                battle=battle,
                expected=expected,
                explanation="Only this answer gives the reference answer.",
            )
        return task

    def _gold_candidates(self, prompt_set: PromptSet) -> list[Battle]:
        battles = (
            Battle.objects.filter(prompt__prompt_set=prompt_set)
            .select_related("prompt", "output_a__prompt", "output_b__prompt")
            .order_by("pk")
        )
        # Clear-cut: one answer is wrong, the other right *and* explained.
        return [
            b
            for b in battles
            if _is_good(b.output_a) != _is_good(b.output_b)
            and max(len(b.output_a.text), len(b.output_b.text)) > 40
        ]

    def _vote_as(
        self, username: str, accuracy: float, wanted: int, task: AnnotationTask, slugs: list[str], seed: int
    ) -> int:
        user, _ = get_user_model().objects.get_or_create(
            username=username, defaults={"first_name": username.removeprefix("demo-").title()}
        )
        voter = Voter(key=f"u:{user.pk}", user=user)
        annotator = annotator_for(voter)
        taste = Taste(accuracy, random.Random(f"{seed}:{username}"))
        have = Assignment.objects.filter(task=task, annotator=annotator, state=Assignment.State.VOTED).count()
        for _ in range(max(0, wanted - have)):
            assignment = assignment_serve(task=task, annotator=annotator, rng=taste.rng)
            if assignment is None:
                return wanted - have
            # A demo person reads for a while before voting; without this every demo vote would be flagged too fast.
            read = timedelta(seconds=taste.rng.uniform(6, 40))
            Assignment.objects.filter(pk=assignment.pk).update(served_at=timezone.now() - read)
            vote_record(token=assignment.token, voter=voter, ballot=_ballot(assignment, taste, slugs))
        return max(0, wanted - have)
