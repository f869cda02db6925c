"""The vote's optional rows on the battle page come from the shared cache, and are forgotten as soon as
staff change a prompt set's rows or a dimension through the models, and again when the change commits."""

import threading

import pytest
from django.core.cache import caches
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from arena.cache import RedisCache
from arena.models import Dimension, PromptSet
from arena.voting.shown_dimensions import shown_dimensions
from tests.support import factories

pytestmark = pytest.mark.skipif(
    not isinstance(caches["default"], RedisCache), reason="kept in the shared cache (Redis)"
)


def _slugs(prompt_set_id: int) -> list[str]:
    return [d.slug for d in shown_dimensions(prompt_set_id)]


def _statements(prompt_set_id: int) -> int:
    with CaptureQueriesContext(connection) as queries:
        shown_dimensions(prompt_set_id)
    return len(queries)


def test_the_rows_are_read_once_then_from_the_cache(db):
    task, _ = factories.make_voting_arena()
    task.prompt_set.vote_dimensions.set(Dimension.objects.filter(slug__in=["correctness", "clarity"]))
    first = shown_dimensions(task.prompt_set_id)
    assert _statements(task.prompt_set_id) == 0
    again = shown_dimensions(task.prompt_set_id)
    fields = ("pk", "slug", "name", "rubric", "position")
    assert [[getattr(d, f) for f in fields] for d in again] == [
        [getattr(d, f) for f in fields] for d in first
    ]
    assert {d.slug for d in again} == {"correctness", "clarity"}


def test_changing_a_sets_rows_or_a_dimension_forgets_the_copy(db):
    task, _ = factories.make_voting_arena()
    prompt_set = task.prompt_set
    prompt_set.vote_dimensions.set(Dimension.objects.filter(slug__in=["correctness", "clarity"]))
    assert sorted(_slugs(prompt_set.pk)) == ["clarity", "correctness"]

    prompt_set.vote_dimensions.remove(Dimension.objects.get(slug="clarity"))
    assert _slugs(prompt_set.pk) == ["correctness"]

    correctness = Dimension.objects.get(slug="correctness")
    correctness.name = "Correct?"
    correctness.save()
    assert [d.name for d in shown_dimensions(prompt_set.pk)] == ["Correct?"]

    correctness.is_active = False
    correctness.save()
    assert _slugs(prompt_set.pk) == []

    clarity = Dimension.objects.get(slug="clarity")
    shown_dimensions(prompt_set.pk)
    PromptSet.vote_dimensions.through.objects.create(promptset_id=prompt_set.pk, dimension_id=clarity.pk)
    # A write that skips the models is seen when the copy expires; through the models, at once:
    prompt_set.vote_dimensions.add(Dimension.objects.get(slug="overall"))  # overall is never listed
    assert _slugs(prompt_set.pk) == ["clarity"]

    clarity.delete()
    assert _slugs(prompt_set.pk) == []


def test_a_serve_during_the_staff_edit_does_not_keep_the_old_rows_after_it_commits(transactional_db):
    """A serve between the change and its commit reads the rows as they were (it cannot see the change yet)
    and caches them again: the commit must forget that copy too."""
    task, _ = factories.make_voting_arena()
    prompt_set = task.prompt_set
    prompt_set.vote_dimensions.set(Dimension.objects.filter(slug__in=["correctness", "clarity"]))
    assert sorted(_slugs(prompt_set.pk)) == ["clarity", "correctness"]
    seen_during_edit: list[list[str]] = []

    def another_request() -> None:
        try:
            seen_during_edit.append(sorted(_slugs(prompt_set.pk)))
        finally:
            connection.close()

    with transaction.atomic():  # as the admin's change view
        prompt_set.vote_dimensions.remove(Dimension.objects.get(slug="clarity"))
        request = threading.Thread(target=another_request)
        request.start()
        request.join()

    assert seen_during_edit == [["clarity", "correctness"]]  # the old rows, not yet committed away
    assert _slugs(prompt_set.pk) == ["correctness"]
