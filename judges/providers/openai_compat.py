"""Provider "openai": any OpenAI-compatible chat-completions endpoint.

`complete` (judging, generation) sends the protocol's plain JSON through the httpx2 client and transport the
official SDK builds on, and reads the reply as plain JSON: the SDK's request building cost a worker more CPU
per call than the HTTP exchange itself. `stream` (live battles) reads the streamed reply straight off its
connection (`chat_stream`): the SDK's async stack cost more per piece than the rest of the relay.

Works with OpenAI itself and with vLLM, Ollama, llama.cpp server and LM Studio via `base_url`
(the URL up to and including `/v1`). Design choices:
- No retries inside a call: retries belong to the Celery task, which backs off with jitter and can see the
  whole campaign; retries inside a task would multiply with them and hide the attempt count.
- One HTTP client per base_url, shared by all threads, so HTTP connections are reused; the key and the
  timeout travel with each request.
- JSON mode is requested with `response_format={"type": "json_object"}`. Several local servers answer 400
  to that parameter; we then retry once without it and remember, per (base_url, model), not to send it
  again. The judge prompt asks for JSON anyway, so the parser still gets JSON from well-behaved models.
- `max_tokens` (not `max_completion_tokens`) because every compatible server understands it.
- Redirects are never followed: the URL checked before the call is the only one called.
"""

from __future__ import annotations

import email.utils
import functools
import math
import ssl
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx2  # the transport under the SDK (a fork of httpx)
import openai
import orjson

from judges.providers.base import (
    CompletionRequest,
    PermanentProviderError,
    ProviderError,
    ProviderResponse,
    TransientProviderError,
)
from judges.providers.chat_stream import stream_chat

DEFAULT_BASE_URL = "https://api.openai.com/v1"

# Sent when no key is configured (local servers need none). Passing an empty key would make the SDK fall back
# to OPENAI_API_KEY from the environment and send the operator's key to whatever endpoint a submitter named.
NO_KEY_PLACEHOLDER = "no-key-configured"

# SDK retries on these too; 408/409 are "try again" by HTTP convention, 429 by rate limiting.
_TRANSIENT_STATUSES = frozenset({408, 409, 429})

_ADVICE_BY_STATUS = {
    400: "the endpoint rejected the request; check max_tokens/temperature limits of this model",
    401: "the API key was refused; check the key reference configured for this endpoint",
    403: "the API key has no access to this model or endpoint",
    404: "model or URL not found; check the model name and that base_url ends with /v1",
    408: "the endpoint timed out the request; it will be retried",
    409: "the endpoint reported a conflict; it will be retried",
    422: "the endpoint could not process the request; check the request parameters",
    429: "rate limited by the endpoint; it will be retried later",
}


class _ResponseFormatRefusedError(Exception):
    """Internal signal: the endpoint answered 400 because of `response_format`."""


def _client_options(public_only: bool) -> dict:
    """Client options: one TLS context for all, and for submitters' endpoints the transport that connects
    only to checked addresses."""
    if not public_only:
        return {"verify": _tls_context()}
    from judges.providers.public_transport import PublicAddressTransport

    transport = PublicAddressTransport(limits=openai.DEFAULT_CONNECTION_LIMITS, verify=_tls_context())
    return {"verify": _tls_context(), "transport": transport}


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """The context each client would build for itself (the same defaults: certifi's roots, or SSL_CERT_FILE /
    SSL_CERT_DIR from the environment), built once per process: building one costs 50-100 ms of CPU, and
    every worker thread makes its own client (`_HttpClients`)."""
    return httpx2.create_ssl_context()


class _HttpClients:
    """HTTP clients, one per (base_url, public_only) in each thread: the same httpx2 client and transport the
    SDK builds on, holding the pooled connections to one endpoint. The key and timeout travel with each
    request, so one client serves every key.

    Per thread, not shared: a worker runs dozens of threads, and a pool they all share was a measurable part
    of every call's CPU (httpcore scans all of a pool's connections, and checks each idle one's socket, on
    every request and every response, under one lock they all wait on). A thread's own pool holds the one
    connection that thread reuses, so the number of connections is unchanged. Least recently used clients
    beyond `max_size` per thread are closed (no other thread uses them), so their idle connections do not
    wait for the garbage collector."""

    def __init__(self, max_size: int = 16) -> None:
        self._local = threading.local()
        self._lock = threading.Lock()
        self._max_size = max_size
        self._generation = 0  # bumped by close_all: every thread's clients are closed, make new ones
        self._open: weakref.WeakSet[httpx2.Client] = weakref.WeakSet()

    def get(self, *, base_url: str, public_only: bool = False) -> tuple[httpx2.Client, httpx2.URL]:
        """The client, and the endpoint's chat-completions URL parsed once."""
        local = self._local
        clients: OrderedDict[tuple[str, bool], tuple[httpx2.Client, httpx2.URL]] | None = getattr(
            local, "clients", None
        )
        if clients is None or local.generation != self._generation:
            clients = local.clients = OrderedDict()
            local.generation = self._generation
        key = (base_url, public_only)
        entry = clients.get(key)
        if entry is None:
            # A redirect would carry the request (and its key) to an address nobody checked: a 3xx is
            # answered as an error instead (see arena.services.endpoints).
            client = openai.DefaultHttpxClient(follow_redirects=False, **_client_options(public_only))
            with self._lock:
                self._open.add(client)
            entry = clients[key] = (client, httpx2.URL(_chat_url(base_url)))
            while len(clients) > self._max_size:
                evicted, _ = clients.popitem(last=False)[1]
                with self._lock:
                    self._open.discard(evicted)
                evicted.close()
        elif len(clients) > 1:
            clients.move_to_end(key)
        return entry

    def close_all(self) -> None:
        with self._lock:
            self._generation += 1
            clients, self._open = list(self._open), weakref.WeakSet()
        for client in clients:
            client.close()


class OpenAICompatProvider:
    name = "openai"
    offline = False

    def __init__(self) -> None:
        self._clients = _HttpClients()
        self._json_mode_refused: set[tuple[str, str]] = set()
        self._lock = threading.Lock()

    def complete(self, request: CompletionRequest) -> ProviderResponse:
        base_url = normalise_base_url(request.base_url)
        client, url = self._clients.get(base_url=base_url, public_only=request.public_addresses_only)
        json_mode = request.json_mode and (base_url, request.model) not in self._json_mode_refused
        started = time.monotonic()
        try:
            completion = _send(client, url, request, base_url, json_mode=json_mode)
        except _ResponseFormatRefusedError:
            with self._lock:
                self._json_mode_refused.add((base_url, request.model))
            json_mode = False
            completion = _send(client, url, request, base_url, json_mode=False)
        return _to_response(completion, request, base_url, json_mode, time.monotonic() - started)

    async def stream(self, request: CompletionRequest) -> AsyncIterator[str]:
        """The reply's text pieces as the endpoint sends them (`stream: true`); see base.StreamingProvider.

        Read straight off the connection by `chat_stream` (the SDK's async stack cost several times the rest
        of a piece's way through the arena). Leaving early (aclose or cancellation) closes the connection,
        so the endpoint sees the caller leave.
        """
        async for piece in stream_chat(request, normalise_base_url(request.base_url)):
            yield piece

    def config_errors(self, *, model: str, base_url: str) -> list[str]:
        errors = []
        if not model.strip():
            errors.append("model is empty; give the model name the endpoint expects (e.g. gpt-4o-mini)")
        if base_url and not base_url.startswith(("http://", "https://")):
            errors.append(f"base_url {base_url!r} must start with http:// or https:// and end with /v1")
        return errors

    def close_clients(self) -> None:
        """Close pooled connections (tests, worker shutdown)."""
        self._clients.close_all()


def normalise_base_url(base_url: str) -> str:
    return (base_url.strip() or DEFAULT_BASE_URL).rstrip("/")


def _send(
    client: httpx2.Client, url: httpx2.URL, request: CompletionRequest, base_url: str, *, json_mode: bool
) -> Any:
    """POST the chat-completions request and return the decoded reply, or raise a provider error.

    The plain JSON of the protocol, sent through the same httpx2 client and transport the SDK uses (pooled
    connections, the public-address pinning, no redirects), but built here: the SDK's request building
    (option merging, header and URL handling, the auth-retry wrappers) cost more CPU than sending the
    request and reading the reply, and a worker does it for every judgment."""
    if not math.isfinite(request.temperature):  # orjson would send it as null: the endpoint's default
        text = (f"temperature {request.temperature} for model {request.model!r} is not a number; set the "
                "judge's temperature to a number from 0 to 2")  # fmt: skip
        raise PermanentProviderError(text, provider="openai", endpoint=str(url))
    body: dict[str, Any] = {
        "model": request.model,
        "messages": request.messages,
        "temperature": request.temperature,
        "max_tokens": request.max_tokens,
    }
    if json_mode:
        body["response_format"] = {"type": "json_object"}
    timeout = request.timeout_s
    http_request = httpx2.Request(
        "POST",
        url,
        content=orjson.dumps(body),
        headers=_headers(request.api_key),
        extensions={"timeout": {"connect": timeout, "read": timeout, "write": timeout, "pool": timeout}},
    )
    try:
        response = client.send(http_request)
    except httpx2.TimeoutException:
        text = f"no reply from {url} within {timeout:g}s for model {request.model!r}"
        raise TransientProviderError(
            _redact(text, request.api_key), provider="openai", endpoint=str(url)
        ) from None
    except httpx2.TransportError as exc:
        text = f"connection to {url} failed ({type(exc).__name__}: {exc}); is the server up?"
        raise TransientProviderError(
            _redact(text, request.api_key), provider="openai", endpoint=str(url)
        ) from exc
    if response.status_code >= 300:  # redirects are not followed: a 3xx is an answer we cannot use
        failure = _HttpFailure.of(response)
        if json_mode and response.status_code == 400 and failure.complains_about_response_format():
            raise _ResponseFormatRefusedError
        raise _status_error(failure, request, str(url))
    try:
        return orjson.loads(response.content)
    except ValueError as exc:
        raise _malformed(request, base_url, f"body is not valid JSON ({exc})") from exc


def _headers(api_key: str) -> dict[str, str]:
    # Never an empty key: a proxy or server could read that as "use the operator's own" (see NO_KEY_PLACEHOLDER).
    return {"authorization": f"Bearer {api_key or NO_KEY_PLACEHOLDER}", "content-type": "application/json",
            "accept": "application/json", "user-agent": _USER_AGENT}  # fmt: skip


_USER_AGENT = f"arena-judges (OpenAI-compatible; openai-python {openai.__version__})"


@dataclass(frozen=True)
class _HttpFailure:
    """An error reply as the endpoint sent it: status, headers, and its explanation (`error.message` of an
    OpenAI-shaped body, else the body itself), read as the SDK reads it for its own exceptions."""

    status: int
    headers: httpx2.Headers
    message: str
    param: str

    @classmethod
    def of(cls, response: httpx2.Response) -> _HttpFailure:
        text = response.text.strip()
        try:
            body = orjson.loads(text)
        except ValueError:
            return cls(
                response.status_code,
                response.headers,
                text[:300] or f"Error code: {response.status_code}",
                "",
            )
        error = body.get("error", body) if isinstance(body, dict) else body
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return cls(
                response.status_code, response.headers, error["message"], str(error.get("param") or "")
            )
        return cls(response.status_code, response.headers, f"Error code: {response.status_code} - {body}", "")

    def complains_about_response_format(self) -> bool:
        said = f"{self.param} {self.message}".lower()
        return "response_format" in said or "json_object" in said


def _to_response(
    completion: Any, request: CompletionRequest, base_url: str, json_mode: bool, latency_s: float
) -> ProviderResponse:
    """Read a chat.completion body (a decoded JSON object); anything of another shape is malformed."""
    choice = _first_choice(completion)
    if choice is None:
        raise _malformed(
            request, base_url, f"expected a chat.completion with choices, got {completion!r:.200}"
        )
    usage = _usage(completion)
    return ProviderResponse(
        text=choice["message"].get("content") or "",
        tokens_in=usage[0],
        tokens_out=usage[1],
        latency_s=latency_s,
        model=completion.get("model") or request.model,
        raw=completion,
        finish_reason=choice.get("finish_reason"),
        json_mode_used=json_mode,
    )


def _first_choice(completion: Any) -> dict | None:
    choices = completion.get("choices") if isinstance(completion, dict) else None
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        return None
    message = choices[0].get("message")
    if not isinstance(message, dict) or not isinstance(message.get("content"), str | None):
        return None
    return choices[0]


def _usage(completion: dict) -> tuple[int, int]:
    """(prompt tokens, completion tokens). Usage only prices the call: a server that reports none, or reports
    it oddly ("12", 12.0), does not make a good answer malformed; what cannot be read counts as 0."""
    usage = completion.get("usage")
    usage = usage if isinstance(usage, dict) else {}
    return _token_count(usage.get("prompt_tokens")), _token_count(usage.get("completion_tokens"))


def _token_count(value: Any) -> int:
    try:
        count = float(value)
    except (TypeError, ValueError):
        return 0
    return int(count) if count.is_integer() and count >= 0 else 0


def _malformed(request: CompletionRequest, base_url: str, detail: str) -> TransientProviderError:
    # Transient: a 200 with a garbled body is usually a proxy or a restarting server; retries are bounded.
    endpoint = _chat_url(base_url)
    return TransientProviderError(
        _redact(
            f"{endpoint} returned a malformed reply for model {request.model!r}: {detail}", request.api_key
        ),
        provider="openai",
        endpoint=endpoint,
    )


def translate_error(exc: openai.OpenAIError, *, request: CompletionRequest, base_url: str) -> ProviderError:
    """Map an SDK exception to a transient or permanent provider error with a message safe to store."""
    endpoint = _chat_url(base_url)
    if isinstance(exc, openai.APIStatusError):
        failure = _HttpFailure(
            exc.status_code, exc.response.headers, _endpoint_message(exc), str(exc.param or "")
        )
        return _status_error(failure, request, endpoint)
    if isinstance(exc, openai.APITimeoutError):
        text = f"no reply from {endpoint} within {request.timeout_s:g}s for model {request.model!r}"
    elif isinstance(exc, openai.APIConnectionError):
        cause = exc.__cause__ or exc
        text = f"connection to {endpoint} failed ({type(cause).__name__}: {cause}); is the server up?"
    elif isinstance(exc, openai.APIError):  # e.g. APIResponseValidationError: a reply of the wrong shape
        return _malformed(request, base_url, str(exc))
    else:  # raised before sending, e.g. a client option the SDK refuses
        text = _redact(f"the OpenAI SDK refused the call to {endpoint}: {exc}", request.api_key)
        return PermanentProviderError(text, provider="openai", endpoint=endpoint)
    return TransientProviderError(_redact(text, request.api_key), provider="openai", endpoint=endpoint)


def _status_error(failure: _HttpFailure, request: CompletionRequest, endpoint: str) -> ProviderError:
    status = failure.status
    advice = _ADVICE_BY_STATUS.get(status, "server error; it will be retried" if status >= 500 else "")
    text = f"{endpoint} answered HTTP {status} for model {request.model!r}: {failure.message}"
    text = _redact(f"{text} ({advice})" if advice else text, request.api_key)
    if status in _TRANSIENT_STATUSES or status >= 500:
        retry_after = retry_after_seconds(failure.headers)
        return TransientProviderError(
            text, provider="openai", endpoint=endpoint, status=status, retry_after=retry_after
        )
    return PermanentProviderError(text, provider="openai", endpoint=endpoint, status=status)


def _endpoint_message(exc: openai.APIStatusError) -> str:
    """The endpoint's own explanation: `error.message` of an OpenAI-shaped body, else the body itself."""
    body = exc.body
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return body["message"]
    if isinstance(body, str) and body:
        return body[:300]
    return exc.message


def retry_after_seconds(headers: Any) -> float | None:
    """Seconds to wait according to `retry-after-ms` or `Retry-After` (delta-seconds or HTTP date)."""
    millis = headers.get("retry-after-ms")
    if millis is not None:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # HTTP dates are GMT even when the zone is missing
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _chat_url(base_url: str) -> str:
    return f"{base_url}/chat/completions"


def _redact(text: str, api_key: str) -> str:
    # Endpoints sometimes echo the key they refused; stored errors and logs must never hold it.
    return text.replace(api_key, "***") if api_key else text
