"""Which answers people may still be served blind, and who may see them beside their contender's name.

An answer is *blind* while an active annotation task could serve it: the task's prompt set holds the answer's
prompt and the task's contenders include the answer's contender, or the answer is in one of the task's gold
battles. A task that lists no approved contender serves every approved contender with answers in its set
(`arena.voting.selection.task_contender_ids`), so it blinds its whole set. A blind answer is never shown with its contender's name to anyone but
staff: outputs are fixed per contender × prompt, so one published battle would name that answer in every
battle that serves it. Pages, exports, the API and judge reports all ask this module, so the rule lives once.
"""

from __future__ import annotations

from django.db.models import Exists, OuterRef, Q, QuerySet

from arena.models import AnnotationTask, Contender, GoldBattle, Output
from arena.staff import is_staff


def blind_output_ids() -> QuerySet:
    """A subquery of the ids of every output an active annotation task may serve (for `__in` filters)."""
    open_tasks = AnnotationTask.objects.filter(is_active=True)
    # Must stay a superset of what selection serves: with no approved contender listed (none, or all pending
    # or rejected), a task falls back to every approved contender of its set.
    sets_serving_everyone = open_tasks.exclude(contenders__status=Contender.Status.APPROVED).values(
        "prompt_set"
    )
    task_contenders = AnnotationTask.contenders.through.objects.filter(
        annotationtask__is_active=True,
        annotationtask__prompt_set=OuterRef("prompt__prompt_set"),
        contender=OuterRef("contender"),
    )
    gold = GoldBattle.objects.filter(task__is_active=True)
    return Output.objects.filter(
        Q(prompt__prompt_set__in=sets_serving_everyone)
        | Exists(task_contenders)
        | Q(id__in=gold.values("battle__output_a"))
        | Q(id__in=gold.values("battle__output_b"))
    ).values("id")


def battles_blind_q(prefix: str = "") -> Q:
    """A filter on battles (or on a model with a battle relation, given `prefix="battle__"`) for the battles
    with at least one blind answer."""
    ids = blind_output_ids()
    return Q(**{f"{prefix}output_a__in": ids}) | Q(**{f"{prefix}output_b__in": ids})


def output_is_blind(output: Output) -> bool:
    return blind_output_ids().filter(id=output.pk).exists()


def may_see_blind(user) -> bool:
    """Only staff see blind answers with names (they run the tasks and must be able to audit them)."""
    return is_staff(user)
