"""The one protocol every provider speaks, the values it exchanges, and the two ways a call can fail.

A provider turns a `CompletionRequest` into a `ProviderResponse`. The same call serves two jobs:
judging a battle (messages built by `judges.prompting`, output parsed by `judges.verdict_parsing`) and
generating a contender's answers from its endpoint. Nothing here touches the database: the caller resolves
API-key references, dimensions and prompts into plain values first.

Failures are split by what the caller should do next:
- `TransientProviderError`: try again later (timeouts, connection drops, 408/409/429, 5xx, garbled replies);
- `PermanentProviderError`: retrying cannot help (bad key, unknown model, rejected request, bad config).
Messages name the endpoint, the HTTP status and the endpoint's own words, and never contain the API key.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, runtime_checkable

ChatMessage = dict[str, str]


@dataclass(frozen=True, slots=True)
class BattleContext:
    """The structured battle, for offline judges that read answers directly instead of a prompt.

    `answer_a` is whatever the caller shows in position A for this order; the verdict refers to positions.
    """

    question: str
    answer_a: str
    answer_b: str
    dimensions: tuple[str, ...]
    reference: str | None = None


@dataclass(frozen=True, slots=True)
class CompletionRequest:
    """One chat completion: a judge call or an answer-generation call.

    Units: `timeout_s` in seconds for the whole HTTP exchange; `max_tokens` caps the reply only.
    `api_key` is already resolved by the caller (env var or secret file) and is kept out of `repr`.
    `battle` is required by offline providers (e.g. lexical) and ignored by HTTP ones.
    """

    model: str
    messages: list[ChatMessage] = field(default_factory=list)
    base_url: str = ""
    api_key: str = field(default="", repr=False)
    temperature: float = 0.0
    max_tokens: int = 1024
    timeout_s: float = 60.0
    json_mode: bool = False
    battle: BattleContext | None = None
    # The endpoint was set by a submitter, not staff: connect only to the public address that was checked
    # (see judges/providers/public_transport.py).
    public_addresses_only: bool = False

    def __post_init__(self) -> None:
        # Programmer errors, not endpoint errors: fail before anything leaves the machine.
        if not self.model:
            raise ValueError("CompletionRequest.model is empty; set the model name of the judge or contender")
        if self.timeout_s <= 0:
            raise ValueError(f"CompletionRequest.timeout_s must be > 0 seconds, got {self.timeout_s!r}")
        if self.max_tokens <= 0:
            raise ValueError(f"CompletionRequest.max_tokens must be > 0, got {self.max_tokens!r}")


@dataclass(frozen=True, slots=True)
class ProviderResponse:
    """What came back. `latency_s` is wall time in seconds for the whole call, fallbacks included.

    Token counts are 0 when the endpoint does not report usage (some local servers omit it).
    `raw` is JSON-serialisable and safe to store; it never contains the API key.
    `json_mode_used` is False when JSON mode was not requested or the endpoint refused it.
    """

    text: str
    tokens_in: int
    tokens_out: int
    latency_s: float
    model: str
    raw: dict[str, Any] = field(default_factory=dict)
    finish_reason: str | None = None
    json_mode_used: bool = False


class ProviderError(Exception):
    """Base of both failure kinds; catch the subclasses to decide between retrying and failing fast."""

    transient: ClassVar[bool]

    def __init__(
        self,
        message: str,
        *,
        provider: str,
        endpoint: str | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.provider = provider
        self.endpoint = endpoint
        self.status = status

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only arguments defeat Exception's default pickling; workers and result backends pickle.
        return (_rebuild_error, (type(self), self.message, self.__dict__))


def _rebuild_error(cls: type[ProviderError], message: str, state: dict[str, Any]) -> ProviderError:
    error = cls.__new__(cls)
    Exception.__init__(error, message)
    error.__dict__.update(state)
    return error


class TransientProviderError(ProviderError):
    """Worth retrying with backoff. `retry_after` (seconds) is the endpoint's own hint, when it gave one."""

    transient = True

    def __init__(
        self,
        message: str,
        *,
        provider: str,
        endpoint: str | None = None,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, provider=provider, endpoint=endpoint, status=status)
        self.retry_after = retry_after


class PermanentProviderError(ProviderError):
    """Retrying the same request cannot succeed; fix the configuration or the input first."""

    transient = False


class UnknownProviderError(PermanentProviderError, LookupError):
    """A config names a provider that is not registered."""


@runtime_checkable
class Provider(Protocol):
    """A provider is a small stateless-looking class; one instance is shared by all threads.

    `offline` providers need no endpoint or key (they read `request.battle`) and cannot generate answers.
    `config_errors` lets a form check a judge/contender configuration at save time; it returns messages,
    an empty list meaning the configuration looks usable.
    """

    name: ClassVar[str]
    offline: ClassVar[bool]

    def complete(self, request: CompletionRequest) -> ProviderResponse: ...

    def config_errors(self, *, model: str, base_url: str) -> list[str]: ...


@runtime_checkable
class StreamingProvider(Protocol):
    """A provider that can also hand a reply over as it is generated (live battles).

    `stream` is an async generator of text pieces, in order; their concatenation is the reply. It raises the
    same two error kinds as `complete`, before the first piece or between pieces. Closing the generator
    (`aclose()`, or cancelling the task iterating it) closes the HTTP exchange, so the endpoint sees the
    client leave and can stop generating.
    """

    name: ClassVar[str]

    def stream(self, request: CompletionRequest) -> AsyncIterator[str]: ...
