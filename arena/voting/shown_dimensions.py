"""The vote's optional rows as the battle page shows them, kept in the shared cache per prompt set.

They change only when staff edit a prompt set's rows or a dimension, yet every served battle read them with
a statement of its own. With Redis they are kept for SHOWN_DIMENSIONS_SECONDS, and forgotten when a prompt
set's rows or a dimension are saved through the models (the signals below), and again once the change commits;
a `QuerySet.update` is seen when the copy expires. Only the page uses this copy: a vote checks its ballot
against the database (`arena.voting.recording`), so a row shown from a stale copy is refused with a message,
never counted.
"""

from __future__ import annotations

from django.core.cache import caches
from django.db import connection, transaction
from django.db.models.signals import m2m_changed, post_save, pre_delete
from django.dispatch import receiver

from arena.cache import RedisCache
from arena.models import Dimension, PromptSet
from arena.voting.serve_store import prompt_set_vote_dimensions

SHOWN_DIMENSIONS_SECONDS = 60
_FIELDS = ("id", "slug", "name", "rubric", "position")  # Dimension's field order


def _key(prompt_set_id: int) -> str:
    return f"vote-dimensions:{prompt_set_id}"


def shown_dimensions(prompt_set_id: int) -> list[Dimension]:
    """`prompt_set_vote_dimensions`, from the shared cache when it holds them (Redis only: the demo's file
    cache would cost more than the statement)."""
    cache = caches["default"]
    if not isinstance(cache, RedisCache):
        return prompt_set_vote_dimensions(prompt_set_id)
    return shown_dimensions_read(prompt_set_id, cache.get(_key(prompt_set_id)))


def shown_dimensions_key(prompt_set_id: int) -> str:
    """The shared cache's key (before `make_and_validate_key`) of the set's copy."""
    return _key(prompt_set_id)


def shown_dimensions_read(prompt_set_id: int, rows: list | None) -> list[Dimension]:
    """`shown_dimensions` from the copy as the cache gave it (`rows`, None when it held none: then read from
    the database and kept)."""
    cache = caches["default"]
    if rows is None:
        dimensions = prompt_set_vote_dimensions(prompt_set_id)
        cache.set(
            _key(prompt_set_id),
            [[getattr(d, f) for f in _FIELDS] for d in dimensions],
            SHOWN_DIMENSIONS_SECONDS,
        )
        return dimensions
    return [Dimension.from_db(connection.alias, list(_FIELDS), row) for row in rows]


def shown_dimensions_forget(prompt_set_ids) -> None:
    """Forget the sets' copies now (this request's own reads see its change at once), and again when the
    change commits: a serve in between cannot see the change yet, and would keep the old rows for another
    SHOWN_DIMENSIONS_SECONDS."""
    keys = [_key(pk) for pk in prompt_set_ids]
    if not keys:
        return
    cache = caches["default"]
    cache.delete_many(keys)
    if transaction.get_connection().in_atomic_block:
        transaction.on_commit(lambda: cache.delete_many(keys), robust=True)


@receiver(m2m_changed, sender=PromptSet.vote_dimensions.through)
def _rows_changed(sender, instance, action, reverse, pk_set, **kwargs) -> None:
    if not action.startswith("post_"):
        return
    if isinstance(instance, PromptSet):
        shown_dimensions_forget([instance.pk])
    elif action == "post_clear":  # from the dimension's side: every set may have lost it
        shown_dimensions_forget(PromptSet.objects.values_list("pk", flat=True))
    else:
        shown_dimensions_forget(pk_set or ())


@receiver(post_save, sender=Dimension)
@receiver(pre_delete, sender=Dimension)
def _dimension_changed(sender, instance, **kwargs) -> None:
    shown_dimensions_forget(PromptSet.objects.filter(vote_dimensions=instance).values_list("pk", flat=True))
