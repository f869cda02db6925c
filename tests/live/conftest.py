"""Live battles against the loopback OpenAI stub, streaming (tests/support/openai_stub.py)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.test import Client

from arena.models import Contender
from tests.support import factories
from tests.support.asgi_server import asgi_server  # noqa: F401  (fixture)
from tests.support.openai_stub import OpenAIStub

# 20 words a second per side, 40 words each: a stream lasts about two seconds, long enough to watch.
TOKEN_INTERVAL = 0.05


@pytest.fixture
def stub():
    with OpenAIStub(script="long", token_interval=TOKEN_INTERVAL) as server:
        yield server


@dataclass
class LiveArena:
    contenders: list[Contender]
    user: object


def make_live_contenders(base_url: str, n: int = 2, first: int = 0) -> list[Contender]:
    return [
        factories.make_contender(
            f"live-model-{i}", name=f"Live Model {i}", endpoint_url=base_url, endpoint_model=f"stub-{i}"
        )
        for i in range(first, first + n)
    ]


@pytest.fixture
def live_arena(db, stub, settings) -> LiveArena:
    factories.fresh_rate_limits(settings)
    return LiveArena(contenders=make_live_contenders(stub.base_url), user=factories.make_user("fighter"))


def signed_in_client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client
