"""A chat-completions stream read straight off its connection: the transport of `OpenAICompatProvider.stream`.

Live battles relay every piece of two answers to the browser as it comes (tens of pieces a second per battle,
thousands per second in a busy arena). Through the SDK's async client each piece went through httpx2,
httpcore2, h11's pure-Python parser and an anyio timeout scope, several times the CPU of everything else the
piece meets on its way; and the SDK's `create()` walked its parameter types at every call, on the event
loop, while other streams waited. This module speaks the small part of HTTP/1.1 a stream needs:

- one POST of the protocol's plain JSON (`"stream": true`), on a connection of its own, closed when the
  stream ends or the caller leaves (cancellation or `aclose()`), which the endpoint sees;
- the response parsed by httptools (llhttp, in C; chunked or not), its Server-Sent Events split on the
  bytes and each `data:` line decoded as JSON;
- the SDK path's rules kept: no redirect is followed (a 3xx is an error), a submitter's endpoint is
  connected to the address that was checked (`arena.services.endpoints`; TLS still checks the name),
  errors are transient or permanent as `openai_compat` classifies them, with the key redacted.

`timeout_s` bounds the connection, the wait for the reply's head, and every silence between two reads.
"""

from __future__ import annotations

import asyncio
import json
import math
import ssl
from collections.abc import AsyncIterator
from functools import cache
from typing import Any
from urllib.parse import urlsplit

import httptools
from django.conf import settings

from judges.providers.base import (
    CompletionRequest,
    PermanentProviderError,
    ProviderError,
    TransientProviderError,
)

NO_KEY_PLACEHOLDER = "no-key-configured"  # as openai_compat: never an empty key (see there)
_MAX_ERROR_BODY = 64 * 1024  # what is kept of an error reply's body
_MAX_LINE = 1024 * 1024  # a stream line longer than this is not a chat-completions stream


class _StreamBroken(Exception):
    """Internal: the connection failed, closed or fell silent before the stream ended."""


@cache
def _tls_context() -> ssl.SSLContext:
    import certifi  # the CA bundle httpx and the SDK use, so both paths trust the same servers

    return ssl.create_default_context(cafile=certifi.where())


class _Response(asyncio.Protocol):
    """One response, fed to httptools as bytes arrive; the reader takes the body as it accumulates."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.status = 0
        self.headers: dict[str, str] = {}
        self.head = loop.create_future()  # the status line and headers have arrived
        self.body = bytearray()
        self.complete = False  # the whole body has arrived
        self.failure: str = ""  # why the connection ended early
        self._waiter: asyncio.Future | None = None
        self._framed = False  # the body has a length or is chunked (else it ends with the connection)

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a stream transport (TCP or TLS)

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._end(f"the reply is not valid HTTP ({exc})")
            if self.transport is not None:
                self.transport.close()
        self._wake()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.complete:
            if self.head.done() and not self._framed and exc is None:
                self.complete = True  # a body without framing ends with its connection
            else:
                self._end(
                    f"the connection closed ({type(exc).__name__}: {exc})" if exc else "the connection closed"
                )
        self._wake()

    # httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        self.status = self._parser.get_status_code()
        self._framed = "content-length" in self.headers or "chunked" in self.headers.get(
            "transfer-encoding", ""
        )
        if not self.head.done():
            self.head.set_result(None)

    def on_body(self, body: bytes) -> None:
        self.body += body

    def on_message_complete(self) -> None:
        self.complete = True

    # for the reader
    def _end(self, failure: str) -> None:
        self.failure = self.failure or failure
        if not self.head.done():
            self.head.set_exception(_StreamBroken(self.failure))
            self.head.exception()  # retrieved: the reader may be gone already

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def more(self, timeout_s: float) -> None:
        """Wait until more of the body arrived, the body is complete, or the connection ended early."""
        if self.complete or self.failure:
            return
        self._waiter = self._loop.create_future()
        timer = self._loop.call_later(timeout_s, self._silent, self._waiter, timeout_s)
        try:
            await self._waiter
        finally:
            timer.cancel()
            self._waiter = None

    def _silent(self, waiter: asyncio.Future, timeout_s: float) -> None:
        if not waiter.done():
            waiter.set_exception(_StreamBroken(f"nothing arrived for {timeout_s:g} s"))

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


def _request_bytes(request: CompletionRequest, parts: Any) -> bytes:
    body = json.dumps(
        {
            "model": request.model,
            "messages": request.messages,
            "temperature": request.temperature,
            "max_tokens": request.max_tokens,
            "stream": True,
        }
    ).encode()
    default_port = 443 if parts.scheme == "https" else 80
    host = parts.hostname if parts.port in (None, default_port) else f"{parts.hostname}:{parts.port}"
    if ":" in (parts.hostname or "") and parts.port in (None, default_port):
        host = f"[{parts.hostname}]"  # an IPv6 literal
    path = f"{parts.path.rstrip('/')}/chat/completions" + (f"?{parts.query}" if parts.query else "")
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {request.api_key or NO_KEY_PLACEHOLDER}\r\n"
        f"Content-Type: application/json\r\nAccept: text/event-stream\r\nAccept-Encoding: identity\r\n"
        f"User-Agent: arena-live (OpenAI-compatible)\r\nConnection: close\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("latin-1") + body


async def _connect(request: CompletionRequest, parts: Any, endpoint: str) -> _Response:
    from arena.errors import DomainError
    from arena.services.endpoints import endpoint_address_checked

    loop = asyncio.get_running_loop()
    host, port = parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)
    address = host
    if request.public_addresses_only and not settings.ARENA_ALLOW_PRIVATE_ENDPOINTS:
        try:  # resolved in a thread: a slow DNS server holds no event loop
            address = await asyncio.to_thread(endpoint_address_checked, host, port, url=endpoint)
        except DomainError as exc:
            raise PermanentProviderError(exc.message, provider="openai", endpoint=endpoint) from None
    if parts.scheme == "https":  # TLS checks the name, whatever address was connected to
        _, response = await loop.create_connection(
            lambda: _Response(loop), address, port, ssl=_tls_context(), server_hostname=host
        )
    else:
        _, response = await loop.create_connection(lambda: _Response(loop), address, port)
    return response


async def stream_chat(request: CompletionRequest, base_url: str) -> AsyncIterator[str]:
    """The reply's text pieces, in order; raises `ProviderError` (see the module doc). `base_url` is the
    normalised base URL (up to `/v1`)."""
    from judges.providers import openai_compat as compat

    endpoint = f"{base_url}/chat/completions"
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise PermanentProviderError(
            f"{endpoint} is not an http(s) URL", provider="openai", endpoint=endpoint
        )
    if not math.isfinite(request.temperature):  # json.dumps would send NaN, which is not JSON
        raise PermanentProviderError(
            f"temperature {request.temperature} for model {request.model!r} is not a number; set the "
            "request's temperature to a number from 0 to 2",
            provider="openai",
            endpoint=endpoint,
        )
    response: _Response | None = None
    try:
        try:
            async with asyncio.timeout(request.timeout_s):
                response = await _connect(request, parts, endpoint)
                assert response.transport is not None
                response.transport.write(_request_bytes(request, parts))
                await response.head
        except TimeoutError:
            text = f"no reply from {endpoint} within {request.timeout_s:g}s for model {request.model!r}"
            raise TransientProviderError(
                compat._redact(text, request.api_key), provider="openai", endpoint=endpoint
            ) from None
        except (OSError, _StreamBroken) as exc:
            text = f"connection to {endpoint} failed ({type(exc).__name__}: {exc}); is the server up?"
            raise TransientProviderError(
                compat._redact(text, request.api_key), provider="openai", endpoint=endpoint
            ) from None
        if response.status >= 300:  # redirects are not followed: a 3xx is an answer we cannot use
            raise await _status_error(response, request, endpoint)
        async for piece in _pieces(response, request, base_url, endpoint):
            yield piece
    finally:
        if response is not None:
            response.close()  # the endpoint sees the stream end (a cancelled call: the person left)


async def _pieces(
    response: _Response, request: CompletionRequest, base_url: str, endpoint: str
) -> AsyncIterator[str]:
    from judges.providers import openai_compat as compat

    while True:
        lines = _take_lines(response.body)
        for line in lines:
            if not line.startswith(b"data:"):
                continue  # blank separators, `event:` names, comments
            data = line[5:].strip()
            if data.startswith(b"[DONE]"):
                return
            piece = _piece(data, request, base_url)
            if piece:
                yield piece
        if response.complete:
            if response.body.strip():
                line = bytes(response.body)
                response.body.clear()
                piece = _piece(line[5:].strip(), request, base_url) if line.startswith(b"data:") else None
                if piece:
                    yield piece
            return
        if len(response.body) > _MAX_LINE:
            raise compat._malformed(request, base_url, f"a stream line is longer than {_MAX_LINE} bytes")
        try:
            await response.more(request.timeout_s)
        except _StreamBroken as exc:
            response.failure = str(exc)
        if response.failure and not response.complete:
            text = f"the stream from {endpoint} broke off ({response.failure})"
            raise TransientProviderError(
                compat._redact(text, request.api_key), provider="openai", endpoint=endpoint
            )


def _take_lines(buffer: bytearray) -> list[bytes]:
    """The complete lines at the start of `buffer` (removed from it); a partial last line stays."""
    end = buffer.rfind(b"\n")
    if end < 0:
        return []
    lines = bytes(buffer[:end]).split(b"\n")
    del buffer[: end + 1]
    return lines


def _piece(data: bytes, request: CompletionRequest, base_url: str) -> str | None:
    """The text of one `data:` payload (None for a chunk without text); an error event or data that is not
    a JSON object raise as a malformed reply, as the SDK path does."""
    from judges.providers import openai_compat as compat

    try:
        chunk = json.loads(data)
    except ValueError as exc:
        raise compat._malformed(request, base_url, f"a streamed piece is not valid JSON ({exc})") from None
    if not isinstance(chunk, dict):
        raise compat._malformed(request, base_url, f"expected a JSON object, got {type(chunk).__name__}")
    error = chunk.get("error")
    if error:
        message = error.get("message") if isinstance(error, dict) else str(error)
        raise compat._malformed(request, base_url, str(message or "the endpoint sent an error event"))
    choices = chunk.get("choices") or []
    if not choices or not isinstance(choices[0], dict):
        return None
    content = (choices[0].get("delta") or {}).get("content")
    return content if isinstance(content, str) else None


async def _status_error(response: _Response, request: CompletionRequest, endpoint: str) -> ProviderError:
    """The endpoint's error reply as a provider error, classified and worded as `openai_compat` does."""
    from judges.providers import openai_compat as compat

    try:
        while not response.complete and not response.failure and len(response.body) < _MAX_ERROR_BODY:
            await response.more(request.timeout_s)
    except _StreamBroken:
        pass  # the status says enough
    status = response.status
    message = _error_message(bytes(response.body[:_MAX_ERROR_BODY]), status)
    advice = compat._ADVICE_BY_STATUS.get(status, "server error; it will be retried" if status >= 500 else "")
    text = f"{endpoint} answered HTTP {status} for model {request.model!r}: {message}"
    text = compat._redact(f"{text} ({advice})" if advice else text, request.api_key)
    if status in compat._TRANSIENT_STATUSES or status >= 500:
        retry_after = compat.retry_after_seconds(response.headers)
        return TransientProviderError(
            text, provider="openai", endpoint=endpoint, status=status, retry_after=retry_after
        )
    return PermanentProviderError(text, provider="openai", endpoint=endpoint, status=status)


def _error_message(body: bytes, status: int) -> str:
    """`error.message` of an OpenAI-shaped error body, else the body itself (shortened)."""
    text = body.decode("utf-8", "replace").strip()
    try:
        decoded = json.loads(text)
    except ValueError:
        return text[:300] or f"Error code: {status}"
    error = decoded.get("error", decoded) if isinstance(decoded, dict) else decoded
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return error["message"]
    return text[:300]
