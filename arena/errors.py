"""The one error type the arena's services raise for bad input.

Views turn it into a form error, the API into a 4xx JSON body, management commands into a CommandError.
The message always says what was wrong, where (file, line, field) and, where it helps, what to do.
"""


class InputError(ValueError):
    def __init__(self, message: str, *, field: str | None = None, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.status = status
