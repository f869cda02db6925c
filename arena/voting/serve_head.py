"""Who is asking for a battle, and in which task: the signed-in user, the task, the annotator and whether they
have a battle open there, in one statement.

Why: before a battle is chosen, a serve read the user (Django's authentication, through the ORM), the task and
the annotator, one statement each: three round trips, and the ORM compiling the user's look-up on every serve
(docs/voting-performance.md), then probed for the annotator's open battle. The rows are one-row look-ups by
unique keys (the user's id from the session, the task's slug, the voter key made from that id, the one open
assignment per task and annotator), so PostgreSQL answers them together.

Only the ordinary case is taken, decided with Django's own rules and before anything is written: a session
signed in through ModelBackend (the user id and backend as `django.contrib.auth.get_user` reads them), a user
row that exists, that may sign in (active) and whose password hash still matches the session's. Anything else
(signed out, another backend, a user gone or inactive, a hash that no longer matches, so that Django flushes
the session, or matches a fallback secret, so that Django cycles the key; another database than PostgreSQL)
returns None, and the view reads them as it always did, through Django's authentication.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection

from arena.models import AnnotationTask, Annotator, Assignment
from arena.voting.identity import Voter
from arena.voting.lean_vote import _session_matches, _session_user_id
from arena.voting.serve_store import column_names, prepared_run


@dataclass(frozen=True)
class ServeHead:
    """The user behind the session (the row Django's ModelBackend would load), their voter key, the active
    task with the slug (None: no such open task) and their annotator row (None: not created yet).
    `none_open`: the annotator had no open (served, unanswered) assignment in the task when this was read,
    so the serve need not probe for one again (`assignment_serve`'s `none_open`)."""

    user: Any
    voter: Voter
    task: AnnotationTask | None
    annotator: Annotator | None
    none_open: bool = False


def _columns(model: Any, alias: str, prefix: str) -> tuple[str, list[str]]:
    quote = connection.ops.quote_name
    attnames = [f.attname for f in model._meta.concrete_fields]
    select = ", ".join(
        f"{alias}.{quote(str(f.column))} AS {quote(prefix + f.attname)}" for f in model._meta.concrete_fields
    )
    return select, attnames


@cache
def _statement(user_model: Any) -> tuple[str, list[str], list[str], list[str]]:
    """The statement and each model's attribute names in its field order (the order `from_db` takes)."""
    user_select, user_names = _columns(user_model, "u", "u__")
    task_select, task_names = _columns(AnnotationTask, "t", "t__")
    annotator_select, annotator_names = _columns(Annotator, "a", "a__")
    quote = connection.ops.quote_name
    sql = f"""
SELECT {user_select}, {task_select}, {annotator_select}, o.id AS open__id
  FROM {quote(user_model._meta.db_table)} u
  LEFT JOIN {quote(AnnotationTask._meta.db_table)} t ON t.slug = %(slug)s AND t.is_active
  LEFT JOIN {quote(Annotator._meta.db_table)} a ON a.voter_key = %(voter)s
  LEFT JOIN {quote(Assignment._meta.db_table)} o
         ON o.task_id = t.id AND o.annotator_id = a.id AND o.state = %(served)s
 WHERE u.{quote(str(user_model._meta.pk.column))} = %(user)s
"""
    return sql, user_names, task_names, annotator_names


def _model(model: Any, row: dict[str, Any], prefix: str, names: list[str]) -> Any:
    """The instance from the row's `prefix`ed columns, or None when the LEFT JOIN found no row (its primary
    key is never NULL). PostgreSQL's backend converts none of these models' columns: the values are the ORM's."""
    if row[prefix + model._meta.pk.attname] is None:
        return None
    return model.from_db(connection.alias, names, [row[prefix + name] for name in names])


def _row(cursor: Any, sql: str) -> dict[str, Any] | None:
    found = cursor.fetchone()
    if found is None:
        return None
    names = column_names(cursor, sql)  # read once per process (serve_store.column_names)
    if len(names) != len(found):  # not the statement the names were kept for: the cursor says
        names = [column[0] for column in cursor.description]
    return dict(zip(names, found, strict=True))


def serve_head(request: Any, slug: str) -> ServeHead | None:
    """The serve's user, task and annotator in one statement, for the ordinary case only (this module's
    docstring); None leaves the request to Django's authentication and the view's own reads. On success the
    request's user is set to the row read, as Django's middleware would have loaded it."""
    if connection.vendor != "postgresql":
        return None
    user_id = _session_user_id(request.session)
    if user_id is None:
        return None
    user_model = get_user_model()
    sql, user_names, task_names, annotator_names = _statement(user_model)
    voter_key = f"u:{user_id}"
    params = {"slug": slug, "voter": voter_key, "user": user_id, "served": Assignment.State.SERVED}
    # One-row probes of unique keys: prepared once per connection.
    row = prepared_run(sql, params, lambda cursor: _row(cursor, sql))
    if row is None:
        return None  # no such user: Django's get_user answers (anonymous)
    user = _model(user_model, row, "u__", user_names)
    if not _session_matches(request.session, user):
        return None
    request.user = user
    task = _model(AnnotationTask, row, "t__", task_names)
    annotator = _model(Annotator, row, "a__", annotator_names)
    return ServeHead(
        user=user,
        voter=Voter(key=voter_key, user=user),
        task=task,
        annotator=annotator,
        none_open=task is not None and annotator is not None and row["open__id"] is None,
    )
