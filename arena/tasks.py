"""Celery tasks of the arena: thin wrappers that take ids and call a service."""

from celery import shared_task

from arena.services.battles import battles_ensure_all_pairs
from arena.services.stored_html import stored_html_fill


@shared_task(name="arena.battles_ensure_all_pairs", acks_late=True)
def battles_ensure_all_pairs_task(prompt_set_id: int, contender_ids: list[int], seed: int = 0) -> int:
    return battles_ensure_all_pairs(prompt_set_id=prompt_set_id, contender_ids=contender_ids, seed=seed)


@shared_task(name="arena.stored_html_fill", acks_late=True)
def stored_html_fill_task(model_label: str, ids: list[int]) -> int:
    return stored_html_fill(model_label=model_label, ids=ids)
