"""The live streams' transport (judges.providers.chat_stream) against the loopback OpenAI stub: what it sends,
how it reads the pieces, and what each kind of failure becomes."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import AsyncGenerator
from typing import cast

import pytest

from judges.providers import (
    CompletionRequest,
    PermanentProviderError,
    StreamingProvider,
    TransientProviderError,
    get_provider,
)
from tests.support.event_loop import run_coroutine
from tests.support.openai_stub import OpenAIStub

API_KEY = "sk-live-DO-NOT-LEAK-0987654321"


@pytest.fixture
def stub():
    with OpenAIStub(script="long", token_interval=0.01, api_key=API_KEY) as server:
        yield server


def _request(stub: OpenAIStub, *, timeout_s: float = 10, key: str = API_KEY) -> CompletionRequest:
    return CompletionRequest(
        model="stub-1", messages=[{"role": "user", "content": "Tell me about rivers."}],
        base_url=stub.base_url, api_key=key, temperature=0.7, max_tokens=64, timeout_s=timeout_s,
        public_addresses_only=True,
    )  # fmt: skip


def _collect(request: CompletionRequest, limit: int | None = None) -> list[str]:
    async def run() -> list[str]:
        pieces = []
        provider = get_provider("openai")
        assert isinstance(provider, StreamingProvider)
        stream = cast(AsyncGenerator[str, None], provider.stream(request))  # an async generator
        async for piece in stream:
            pieces.append(piece)
            if limit is not None and len(pieces) == limit:
                await stream.aclose()
                break
        return pieces

    return run_coroutine(run())


def test_it_streams_the_whole_answer_piece_by_piece_with_the_key_and_the_protocol_body(stub):
    pieces = _collect(_request(stub))
    assert len(pieces) > 10 and "".join(pieces).startswith("About 'Tell me about rivers.'")
    sent = stub.requests[-1]
    assert sent.authorization == f"Bearer {API_KEY}"
    assert sent.body["stream"] is True and sent.body["model"] == "stub-1" and sent.body["max_tokens"] == 64
    assert stub.stats()["streams_completed"] == 1


@pytest.mark.parametrize("temperature", [float("nan"), float("inf")])
def test_a_temperature_that_is_not_a_number_is_refused_before_anything_is_sent(stub, temperature):
    # json.dumps would write NaN, which no JSON parser has to accept.
    request = dataclasses.replace(_request(stub), temperature=temperature)
    with pytest.raises(PermanentProviderError, match="temperature .* is not a number; set the request's"):
        _collect(request)
    assert stub.requests == []


def test_an_http_error_is_classified_and_names_no_key(stub):
    with pytest.raises(PermanentProviderError) as refused:
        _collect(_request(stub, key="sk-wrong-key-DO-NOT-LEAK"))
    assert refused.value.status == 401 and "sk-wrong-key" not in refused.value.message
    stub.inject({"kind": "http", "status": 429, "retry_after": 3})
    with pytest.raises(TransientProviderError) as limited:
        _collect(_request(stub))
    assert limited.value.status == 429 and limited.value.retry_after == 3


def test_a_stream_dropped_midway_is_a_transient_failure(stub):
    stub.inject({"kind": "midstream_drop", "after_tokens": 3})
    with pytest.raises(TransientProviderError, match="broke off"):
        _collect(_request(stub))


def test_an_endpoint_that_does_not_answer_in_time_fails_after_the_timeout(stub):
    stub.inject({"kind": "timeout", "hang_s": 5})
    started = time.monotonic()
    with pytest.raises(TransientProviderError, match="no reply .* within 0.5s"):
        _collect(_request(stub, timeout_s=0.5))
    assert time.monotonic() - started < 3


def test_leaving_early_closes_the_connection_which_the_endpoint_sees(stub):
    assert len(_collect(_request(stub), limit=2)) == 2
    deadline = time.monotonic() + 5
    while stub.stats()["streams_abandoned"] == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert stub.stats()["streams_abandoned"] == 1


def test_a_private_address_is_refused_before_connecting_unless_allowed(stub, settings):
    settings.ARENA_ALLOW_PRIVATE_ENDPOINTS = False
    with pytest.raises(PermanentProviderError):
        _collect(_request(stub))
    assert stub.stats()["requests"] == 0
