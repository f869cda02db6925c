"""The one error type the arena's services raise for bad input.

Views turn it into a form error, the API into a 4xx JSON body, management commands into a CommandError.
The message always says what was wrong, where (file, line, field) and, where it helps, what to do.
"""


class InputError(ValueError):
    """`problems`: when one input has several things wrong (the lines of an uploaded file), each of them,
    already part of `message`, for pages and clients that list them one by one."""

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        status: int = 400,
        problems: list[str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.status = status
        self.problems = problems or []
