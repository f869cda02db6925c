"""The live bench's stand-in provider (bench/stream_stub.py) read by the arena's own streaming client: the same
pieces as the tests' stub streams for the same request, and OpenAI's error shape for what it does not serve."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from judges.providers import CompletionRequest, PermanentProviderError, StreamingProvider, get_provider
from tests.support.event_loop import run_coroutine
from tests.support.openai_stub import OpenAIStub, script_named

ROOT = Path(__file__).resolve().parents[2]
WORDS = 30
_MESSAGES = [{"role": "user", "content": "Question 7?"}]


@pytest.fixture
def stream_stub_url() -> Iterator[str]:
    command = [sys.executable, "-m", "bench.stream_stub", "--words", str(WORDS), "--token-interval", "0.001"]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline() if process.stdout else ""
        assert line.startswith("READY http://127.0.0.1:"), line
        yield line.split()[1]
    finally:
        process.terminate()
        process.wait(10)


def _request(base_url: str) -> CompletionRequest:
    return CompletionRequest(
        model="bench-0", messages=_MESSAGES, base_url=base_url,
        api_key="", temperature=0.7, max_tokens=64, timeout_s=10, public_addresses_only=False,
    )  # fmt: skip


def _pieces(request: CompletionRequest) -> list[str]:
    async def run() -> list[str]:
        provider = get_provider("openai")
        assert isinstance(provider, StreamingProvider)
        return [piece async for piece in provider.stream(request)]

    return run_coroutine(run())


def test_the_arena_streams_from_it_the_pieces_the_tests_stub_streams(stream_stub_url):
    with OpenAIStub(script=script_named("long", words=WORDS)) as threaded:
        expected = _pieces(_request(threaded.base_url))
    found = _pieces(_request(stream_stub_url))
    assert found == expected
    assert "".join(found) == script_named("long", words=WORDS)({"model": "bench-0", "messages": _MESSAGES})


def test_what_it_does_not_serve_is_an_openai_error(stream_stub_url):
    elsewhere = stream_stub_url.removesuffix("/v1") + "/v2"
    with pytest.raises(
        PermanentProviderError, match="HTTP 404 .*no route POST /v2/chat/completions"
    ) as raised:
        _pieces(_request(elsewhere))
    assert raised.value.status == 404
