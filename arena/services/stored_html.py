"""Filling the stored HTML of rows a web upload wrote without it (arena.rendering, "HTML stored with the
texts"), in a Celery task after the upload commits.

Why later: rendering every answer of a large upload (Pygments above all) takes seconds of CPU, which inside
the request would hold a web worker and the upload's transaction that long. Until the task reaches a row, a
serve renders it and stores its HTML itself (arena.voting.serving), so nothing is ever shown unrendered.
"""

from __future__ import annotations

from django.apps import apps
from django.db import transaction

from arena.rendering import html_fill

# Rows rendered and written per statement: answers can be long, so a chunk's texts stay a few MB at most.
HTML_FILL_CHUNK = 100


def stored_html_fill_on_commit(*, model_label: str, ids: list[int]) -> None:
    """Queue the filling of these rows' HTML once the transaction commits (the worker must see them). A send
    that fails is logged, not raised: the upload is stored, and serves render what the task did not."""
    if not ids:
        return
    from arena.tasks import stored_html_fill_task

    transaction.on_commit(lambda: stored_html_fill_task.delay(model_label, ids), robust=True)


def stored_html_fill(*, model_label: str, ids: list[int]) -> int:
    """Render and store the HTML of the rows among `ids` that still have none; returns how many were filled.

    A row a serve filled meanwhile is left as it is: only rows whose stamp is still blank are read, and the
    write is guarded by that blank stamp."""
    model = apps.get_model(model_label)
    filled = 0
    for start in range(0, len(ids), HTML_FILL_CHUNK):
        blank = model.objects.filter(html_stamp="")
        rows = list(blank.filter(pk__in=ids[start : start + HTML_FILL_CHUNK]))
        changed = [row for row in rows if html_fill(row)]
        # bulk_update keeps the queryset's filter: a row filled since it was read is not written over.
        filled += blank.bulk_update(changed, ["html", "html_stamp"]) if changed else 0
    return filled
