"""The errors the arena's services raise: what went wrong, in the domain's words, never an HTTP status.

Services raise one of the kinds below; `arena.error_responses` is the one place that turns a kind into a
page, an API error body or a command-line message (and so into a status code). The message always says what
was wrong, where (file, line, field) and, where it helps, what to do.

No Django import here: the rating core and plain-Python helpers may raise these too.
"""

from __future__ import annotations


class DomainError(ValueError):
    """Base of every kind. `field`: the input the error is about (a form field, an API parameter), if one.
    `problems`: when one input has several things wrong (the lines of an uploaded file), each of them,
    already part of `message`, for pages and clients that list them one by one."""

    def __init__(self, message: str, *, field: str | None = None, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.problems = problems or []


class Invalid(DomainError):
    """The input is wrong: a malformed value, an unknown choice, a bad line of a file."""


class TooLarge(Invalid):
    """The input is over a size limit (an upload); the message states the size and the limit."""


class NotFound(DomainError):
    """The thing named does not exist, or the caller may not know that it does."""


class Forbidden(DomainError):
    """The caller is known but may not do this (not staff, not the battle's annotator)."""


class Conflict(DomainError):
    """The request is well-formed but the current state refuses it (already voted, skipped, undone)."""


class Throttled(DomainError):
    """Too many attempts in a window; `retry_after`: seconds until the next one may succeed."""

    def __init__(self, message: str, *, retry_after: int, field: str | None = None) -> None:
        super().__init__(message, field=field)
        self.retry_after = retry_after


class Unavailable(DomainError):
    """Something the request needs is missing or down on the server's side (mail not configured, a
    dimension the migrations seed was deleted); not the caller's fault, and retrying later may work."""
