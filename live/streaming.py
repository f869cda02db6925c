"""Streaming one turn of a live battle: both contenders at once, merged into one Server-Sent Events stream.

Runs on the event loop of the ASGI server (async view): a stream waiting on an endpoint holds no thread.
Database work (before and after the turn) goes through `sync_to_async`, a few short statements per turn.

Events, each `event: <name>` with a JSON `data` line; nothing in them names a contender:
- `delta`   {"side": "left"|"right", "text": piece}   a piece of one side's answer, in order;
- `side`    {"side", "html"}       one side finished: its whole answer rendered as sanitised Markdown;
- `failed-side` {"side", "message"} one side's endpoint failed (the message names no model nor endpoint);
- `end`     {"state": "ready"|"failed", "leak": bool, "message"}  the turn is over; the page offers the vote
  (ready) or a regeneration / a new round (failed: the battle does not count).

If the person leaves (closes the tab), the ASGI server cancels the response: both provider calls are
cancelled (their HTTP connections closed, which the endpoints see) and the battle is marked cancelled.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import cast

from asgiref.sync import sync_to_async
from django.conf import settings

from arena.errors import DomainError
from arena.models import Contender
from arena.rendering import render_markdown
from arena.services.endpoints import endpoint_key_name_check, endpoint_url_check
from judges.providers import (
    CompletionRequest,
    PermanentProviderError,
    ProviderError,
    StreamingProvider,
    get_provider,
)
from judges.services.secrets import api_key_resolve, redact
from live.models import LiveBattle
from live.services.battles import live_stream_end, live_stream_finish

logger = logging.getLogger(__name__)

PROVIDER = "openai"  # contender endpoints are OpenAI-compatible by definition (see Contender.endpoint_url)
# Sampling for conversation: people compare answers as a chat would give them, not greedy decoding.
TEMPERATURE = 0.7
SIDES = ("left", "right")
# Pieces arriving within this interval of the previous write are sent together. Well under the ~0.1 s below
# which people see a change as immediate, and the page paints at most once a frame anyway; the first piece
# of a turn is never held (time to first token), nor the end of a side.
FLUSH_INTERVAL_S = 0.05


def sse(event: str, data: dict) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


def messages_for(turns: list[str], replies: list[str]) -> list[dict[str, str]]:
    """The conversation as one side had it: each user turn, then that side's own reply, up to the last turn."""
    messages = []
    for number, turn in enumerate(turns):
        messages.append({"role": "user", "content": turn})
        if number < len(turns) - 1:
            messages.append({"role": "assistant", "content": replies[number]})
    return messages


@dataclass(frozen=True)
class SideCall:
    side: str
    request: CompletionRequest | None  # None: the call could not be made (`problem` says why, for staff)
    problem: str = ""


def _side_call(side: str, contender: Contender, turns: list[str], replies: list[str]) -> SideCall:
    """The request for one side, after the call-time checks (address resolves to a callable one, key name on
    the allow-list, key present); a check that fails makes the side fail without a call."""
    try:
        endpoint_url_check(contender.endpoint_url)
        endpoint_key_name_check(contender.endpoint_api_key_env)
        api_key = api_key_resolve(
            env_name=contender.endpoint_api_key_env, owner=f"contender {contender.slug!r}"
        )
    except DomainError as exc:
        return SideCall(side, None, f"contender {contender.slug!r}: {exc.message}")
    except ProviderError as exc:
        return SideCall(side, None, exc.message)
    request = CompletionRequest(
        model=contender.endpoint_model,
        messages=messages_for(turns, replies),
        base_url=contender.endpoint_url,
        api_key=api_key,
        temperature=TEMPERATURE,
        max_tokens=settings.ARENA_LIVE_MAX_TOKENS,
        timeout_s=settings.ARENA_LIVE_READ_TIMEOUT_SECONDS,
        public_addresses_only=True,
    )
    return SideCall(side, request)


def side_calls(battle: LiveBattle) -> list[SideCall]:
    """(left, right) calls for the battle's last turn."""
    a = _side_call("a", battle.contender_a, battle.turns, battle.replies_a)
    b = _side_call("b", battle.contender_b, battle.turns, battle.replies_b)
    left, right = (a, b) if battle.left_is_a else (b, a)
    return [SideCall("left", left.request, left.problem), SideCall("right", right.request, right.problem)]


def _public_message(error: ProviderError | str) -> str:
    """What the person sees of a failure: the kind, never the endpoint's address or the model's name."""
    status = getattr(error, "status", None)
    if status:
        return f"This model's endpoint answered with an error (HTTP {status}). The battle will not count."
    if getattr(error, "transient", False):
        return "This model's endpoint stopped answering or broke off. The battle will not count."
    return "This model could not answer. The battle will not count."


async def _pump(call: SideCall, queue: asyncio.Queue) -> None:
    """Put (kind, side, value) on the queue: every piece, then ("done", text) or ("error", error)."""
    if call.request is None:
        await queue.put(("error", call.side, PermanentProviderError(call.problem, provider=PROVIDER)))
        return
    provider = streaming_provider()
    parts: list[str] = []
    try:
        async for piece in provider.stream(call.request):
            parts.append(piece)
            await queue.put(("delta", call.side, piece))
    except ProviderError as exc:
        await queue.put(("error", call.side, exc))
        return
    text = redact("".join(parts), call.request.api_key)  # an endpoint may echo the key it got
    if not text.strip():
        await queue.put(("error", call.side, PermanentProviderError("empty answer", provider=PROVIDER)))
    else:
        await queue.put(("done", call.side, text))


def streaming_provider() -> StreamingProvider:
    """The contenders' provider (`PROVIDER`), which must stream."""
    return _streaming(get_provider(PROVIDER))


def _streaming(provider: object) -> StreamingProvider:
    """`provider`, which must stream. A runtime-checkable protocol's `isinstance` walks the protocol's members
    at every call (a sixth of an opening's CPU on the event loop, twice per opening): the answer is kept
    per provider class, which is what decides it (the protocol's members are a method and a class
    attribute)."""
    kind = type(provider)
    streams = _STREAMS.get(kind)
    if streams is None:
        streams = _STREAMS[kind] = isinstance(provider, StreamingProvider)
    if not streams:
        raise TypeError(f"provider {PROVIDER!r} ({kind.__name__}) does not stream")
    return cast(StreamingProvider, provider)


_STREAMS: dict[type, bool] = {}


class _Turn:
    """What one turn's stream has seen so far."""

    def __init__(self) -> None:
        self.texts: dict[str, str] = {}
        self.failures: dict[str, ProviderError] = {}

    @property
    def over(self) -> bool:
        return len(self.texts) + len(self.failures) == len(SIDES)


async def turn_events(battle: LiveBattle, calls: list[SideCall]) -> AsyncIterator[bytes]:
    """Stream the battle's claimed turn (state `streaming`) through `calls` (its `side_calls`), then store its
    outcome; see the module doc."""
    queue: asyncio.Queue = asyncio.Queue()
    tasks = [asyncio.create_task(_pump(call, queue)) for call in calls]
    turn, finished = _Turn(), False
    try:
        yield sse("start", {"turn": len(battle.turns)})  # sent at once: the page knows the stream is open
        async with asyncio.timeout(settings.ARENA_LIVE_MAX_STREAM_SECONDS):
            written = -FLUSH_INTERVAL_S  # the first piece goes out at once
            while not turn.over:
                items = await _waiting(queue, written + FLUSH_INTERVAL_S)
                written = asyncio.get_running_loop().time()
                yield _events(turn, items)
        finished = True
        yield await _turn_end(battle, turn)
    except TimeoutError:
        finished = True
        for side in SIDES:
            if side not in turn.texts and side not in turn.failures:
                turn.failures[side] = PermanentProviderError(
                    f"no complete answer within {settings.ARENA_LIVE_MAX_STREAM_SECONDS} s", provider=PROVIDER
                )
                yield sse("failed-side", {"side": side, "message": "This model took too long to answer."})
        yield await _turn_end(battle, turn)
    finally:
        for task in tasks:
            task.cancel()  # closes the provider calls still running: the endpoints see the client leave
        await asyncio.gather(*tasks, return_exceptions=True)
        if not finished:  # the person left (or the server stopped) in the middle: nothing is counted
            await sync_to_async(live_stream_end)(battle=battle, state=LiveBattle.State.CANCELLED)


async def _waiting(queue: asyncio.Queue, not_before: float) -> list[tuple]:
    """The next item of the queue and every one behind it by `not_before` (event-loop time): pieces that
    arrive within one flush interval go out as one write, so a battle costs the server one send per
    interval instead of one per piece. A side's end or failure is never held back."""
    items = [await queue.get()]
    delay = not_before - asyncio.get_running_loop().time()
    if delay > 0 and items[0][0] == "delta":
        await asyncio.sleep(delay)
    while not queue.empty():
        items.append(queue.get_nowait())
    return items


def _events(turn: _Turn, items: list[tuple]) -> bytes:
    """The events for `items`, in order; a side's consecutive pieces become one `delta`."""
    events: list[bytes] = []
    pending: list[str] = []  # pieces of `pending_side` not yet written
    pending_side = ""

    def flush() -> None:
        if pending:
            events.append(sse("delta", {"side": pending_side, "text": "".join(pending)}))
            pending.clear()

    for kind, side, value in items:
        if kind == "delta":
            if side != pending_side:
                flush()
                pending_side = side
            pending.append(value)
            continue
        flush()
        if kind == "done":
            turn.texts[side] = value
            events.append(sse("side", {"side": side, "html": render_markdown(value)}))
        else:
            turn.failures[side] = value
            events.append(sse("failed-side", {"side": side, "message": _public_message(value)}))
    flush()
    return b"".join(events)


async def _turn_end(battle: LiveBattle, turn: _Turn) -> bytes:
    if turn.failures:
        failure = "; ".join(f"{side}: {error.message}" for side, error in sorted(turn.failures.items()))
        logger.warning("live battle %s: a side failed: %s", battle.pk, failure)
        await sync_to_async(live_stream_end)(battle=battle, state=LiveBattle.State.FAILED, failure=failure)
        return sse(
            "end",
            {
                "state": "failed",
                "leak": False,
                "message": "A model failed to answer: this battle will not count.",
            },
        )
    texts = [turn.texts[side] for side in SIDES]
    left, right = texts
    reply_a, reply_b = (left, right) if battle.left_is_a else (right, left)
    stored = await sync_to_async(live_stream_finish)(battle=battle, reply_a=reply_a, reply_b=reply_b)
    leak = bool(stored.identity_leak)
    message = (
        "An answer names the model that wrote it: you may still vote, but this battle will not count."
        if leak
        else ""
    )
    return sse("end", {"state": "ready", "leak": leak, "message": message})
