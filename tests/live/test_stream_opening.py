"""A stream's opening on the event loop (live.stream_opening) and the stream route's answer around it: the
common case decided without a thread, everything else left to Django's own session and authentication, a tab
closed before the claim, and the headers Django's middleware would give the response."""

from __future__ import annotations

import asyncio
import io

import pytest
from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.db import close_old_connections, connections

from arena.errors import Forbidden
from live import stream_app
from live.models import LiveBattle
from live.services.battles import live_battle_start
from live.stream_opening import Unsettled, stream_open_async
from tests.live.conftest import make_live_contenders, signed_in_client
from tests.support import factories
from tests.support.event_loop import run_coroutine
from tests.support.openai_stub import OpenAIStub

pytestmark = pytest.mark.django_db(transaction=True)  # the loop's own connections see committed rows only


@pytest.fixture
def stub(settings):
    factories.fresh_rate_limits(settings)
    db_settings = connections.settings["default"]
    kept_age, db_settings["CONN_MAX_AGE"] = db_settings["CONN_MAX_AGE"], 0  # see asgi_server: nothing kept
    with OpenAIStub(script="long", token_interval=0.05) as server:
        make_live_contenders(server.base_url)
        yield server
    db_settings["CONN_MAX_AGE"] = kept_age


def _scope(token: str, cookie: str = "", *, scheme: str = "http") -> dict:
    headers = [(b"host", b"testserver")]
    if cookie:
        headers.append((b"cookie", f"sessionid={cookie}".encode()))
    return {
        "type": "http", "method": "GET", "path": f"/arena/b/{token}/stream/", "root_path": "",
        "scheme": scheme, "headers": headers, "query_string": b"", "server": ("testserver", 80),
    }  # fmt: skip


def _cookie(user) -> str:
    return signed_in_client(user).cookies["sessionid"].value


def _request(token: str, cookie: str) -> ASGIRequest:
    return ASGIRequest(_scope(token, cookie), io.BytesIO())


def _open(token: str, cookie: str, *, gone=lambda: False):
    async def opening():
        # As the stream route runs it: Django's connection (used to say why nothing was claimed) in a
        # thread of the request's own, closed at the end (a kept one would hold the test database).
        async with ThreadSensitiveContext():
            try:
                return await stream_open_async(_request(token, cookie), token, gone=gone, size=2)
            finally:
                await sync_to_async(close_old_connections)()

    return run_coroutine(opening())


def test_a_signed_in_session_opens_on_the_loop_and_claims_the_turn(stub):
    user = factories.make_user("opener")
    battle = live_battle_start(voter=factories.voter_of(user), text="Hello?")
    claimed, calls = _open(battle.token, _cookie(user))
    assert claimed.pk == battle.pk and claimed.state == LiveBattle.State.STREAMING
    assert {claimed.contender_a.slug, claimed.contender_b.slug} == {"live-model-0", "live-model-1"}
    assert [call.side for call in calls] == ["left", "right"] and all(call.request for call in calls)
    battle.refresh_from_db()
    assert battle.state == LiveBattle.State.STREAMING
    assert _open(battle.token, _cookie(user)) is None  # claimed already: nothing waiting


@pytest.mark.parametrize("case", ["no session", "password changed", "inactive", "unknown session"])
def test_anything_but_the_common_case_is_left_to_djangos_own_path_and_claims_nothing(stub, case):
    user = factories.make_user("opener")
    battle = live_battle_start(voter=factories.voter_of(user), text="Hello?")
    cookie = _cookie(user)
    if case == "no session":
        cookie = ""
    elif case == "password changed":
        user.set_password("another-password-7")
        user.save()
    elif case == "inactive":
        user.is_active = False
        user.save()
    else:
        cookie = "x" * 32
    with pytest.raises(Unsettled):
        _open(battle.token, cookie)
    battle.refresh_from_db()
    assert battle.state == LiveBattle.State.PENDING


def _serve(scope: dict, *, gone_at_once: bool = False) -> list[dict]:
    """Run the stream route for `scope` until it ends; the client leaves at once when `gone_at_once`
    (a tab closed while its opening waited), else after the response's start."""
    sent: list[dict] = []

    async def serve():
        started = asyncio.Event()

        async def send(message):
            sent.append(message)
            if message["type"] == "http.response.start":
                started.set()

        async def receive():
            if not gone_at_once:
                await started.wait()
            return {"type": "http.disconnect"}

        await stream_app.stream_serve(scope, receive, send, scope["path"].split("/")[3])

    run_coroutine(serve())
    return sent


def test_a_tab_closed_while_its_opening_waits_claims_nothing(stub):
    user = factories.make_user("leaver")
    battle = live_battle_start(voter=factories.voter_of(user), text="Hello?")
    sent = _serve(_scope(battle.token, _cookie(user)), gone_at_once=True)
    battle.refresh_from_db()
    assert battle.state == LiveBattle.State.PENDING  # not claimed, so not cancelled either
    assert sent == []
    assert stub.stats()["streams_started"] == 0


def test_a_tab_closed_before_the_thread_path_claims_claims_nothing(stub, monkeypatch):
    """The same when the opening goes the thread's way (here: forced, as for an anonymous voter)."""
    monkeypatch.setattr(stream_app.stream_opening, "applies", lambda: False)
    user = factories.make_user("leaver")
    battle = live_battle_start(voter=factories.voter_of(user), text="Hello?")
    _serve(_scope(battle.token, _cookie(user)), gone_at_once=True)
    battle.refresh_from_db()
    assert battle.state == LiveBattle.State.PENDING


def _headers(message: dict) -> dict[str, str]:
    return {name.decode(): value.decode() for name, value in message["headers"]}


@pytest.mark.parametrize("opening", ["on the loop", "in a thread"])
def test_the_stream_carries_the_headers_djangos_middleware_would_add(stub, settings, monkeypatch, opening):
    if opening == "in a thread":
        monkeypatch.setattr(stream_app.stream_opening, "applies", lambda: False)
    answered = []  # what the loop's opening answered: it must be the path that answered here

    async def recorded(*args, **kwargs):
        try:
            answered.append(await stream_open_async(*args, **kwargs))
        except Unsettled as reason:
            answered.append(reason)
            raise
        return answered[-1]

    monkeypatch.setattr(stream_app, "stream_open_async", recorded)
    settings.SECURE_HSTS_SECONDS = 3600
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    user = factories.make_user("headers")
    battle = live_battle_start(voter=factories.voter_of(user), text="Hello?")
    LiveBattle.objects.filter(pk=battle.pk).update(
        state=LiveBattle.State.READY
    )  # nothing waits: ends at once
    start = _serve(_scope(battle.token, _cookie(user), scheme="https"))[0]
    headers = _headers(start)
    assert start["status"] == 200 and headers["content-type"] == "text/event-stream"
    assert headers["strict-transport-security"] == "max-age=3600; includeSubDomains"
    assert headers["cross-origin-opener-policy"] == "same-origin"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "same-origin"
    assert headers["x-frame-options"] == "DENY"
    assert headers["vary"] == "Cookie"
    assert answered == ([None] if opening == "on the loop" else [])  # nothing waited: no battle claimed


def test_a_refusal_carries_them_too_and_no_hsts_over_plain_http(stub, settings):
    settings.SECURE_HSTS_SECONDS = 3600
    start = _serve(_scope("Abc-def_0123456789abcdefghijklmn", ""))[0]
    headers = _headers(start)
    assert start["status"] == 403
    assert "strict-transport-security" not in headers  # as SecurityMiddleware: HSTS on HTTPS only
    assert headers["cross-origin-opener-policy"] == "same-origin" and headers["vary"] == "Cookie"


def test_hsts_follows_each_request_s_scheme_in_turn(stub, settings):
    # The headers are kept per process for HTTPS and for plain HTTP apart: whichever scheme came first must
    # not decide the other's (HSTS sent over plain HTTP, or left off HTTPS).
    settings.SECURE_HSTS_SECONDS = 3600
    token = "Abc-def_0123456789abcdefghijklmn"
    assert "strict-transport-security" in _headers(_serve(_scope(token, "", scheme="https"))[0])
    assert "strict-transport-security" not in _headers(_serve(_scope(token, ""))[0])
    assert "strict-transport-security" in _headers(_serve(_scope(token, "", scheme="https"))[0])


def test_the_headers_follow_a_setting_changed_after_earlier_streams(stub, settings):
    # The middleware's headers are worked out once per process, not per opening: a changed setting must
    # still show in the next response, as it would on a page.
    token = "Abc-def_0123456789abcdefghijklmn"
    assert _headers(_serve(_scope(token, ""))[0])["x-frame-options"] == "DENY"
    settings.X_FRAME_OPTIONS = "SAMEORIGIN"
    settings.SECURE_REFERRER_POLICY = "no-referrer"
    headers = _headers(_serve(_scope(token, ""))[0])
    assert headers["x-frame-options"] == "SAMEORIGIN" and headers["referrer-policy"] == "no-referrer"
    settings.SECURE_SSL_REDIRECT = True  # and the redirect's middleware, made once too, is made again
    assert _serve(_scope(token, ""))[0]["status"] == 301


def test_an_ssl_redirect_is_answered_as_djangos_middleware_would(stub, settings):
    settings.SECURE_SSL_REDIRECT = True
    start = _serve(_scope("Abc-def_0123456789abcdefghijklmn", ""))[0]
    assert start["status"] == 301
    assert (
        _headers(start)["location"] == "https://testserver/arena/b/Abc-def_0123456789abcdefghijklmn/stream/"
    )


def test_openings_at_once_share_their_round_trips_and_each_claims_only_its_own(stub, monkeypatch):
    """Openings arriving together read their users and make their claims in a few statements (not one each),
    and the coalesced claim still claims a battle only for its owner, once: a second tab of the same battle
    finds nothing waiting, someone else's token is refused."""
    from live import async_database

    statements: list[str] = []
    fetchall = async_database.Lent.fetchall

    async def counted(self, sql, params, **kwargs):
        statements.append(sql)
        return await fetchall(self, sql, params, **kwargs)

    monkeypatch.setattr(async_database.Lent, "fetchall", counted)
    users = [factories.make_user(f"burst-{i}") for i in range(8)]
    battles = [
        live_battle_start(voter=factories.voter_of(user), text=f"Q{i}?") for i, user in enumerate(users)
    ]
    cookies = [_cookie(user) for user in users]
    intruder_cookie = _cookie(factories.make_user("intruder"))

    async def burst():
        async def one(token: str, cookie: str):
            async with ThreadSensitiveContext():
                try:
                    return await stream_open_async(_request(token, cookie), token, gone=lambda: False, size=2)
                finally:
                    await sync_to_async(close_old_connections)()

        pairs = [*zip((b.token for b in battles), cookies, strict=True), (battles[0].token, cookies[0])]
        pairs.append((battles[1].token, intruder_cookie))
        return await asyncio.gather(*(one(token, cookie) for token, cookie in pairs), return_exceptions=True)

    answers = run_coroutine(burst())
    owners, twice, refused = answers[:8], answers[8], answers[9]
    assert [claimed.pk for claimed, _ in owners] == [battle.pk for battle in battles]
    assert twice is None  # the same battle's second tab: claimed once, by the first
    assert isinstance(refused, Forbidden)
    for battle in battles:
        battle.refresh_from_db()
        assert battle.state == LiveBattle.State.STREAMING
    # One opening alone sends two statements (its user, its claim): ten of them, twenty. Coalesced, the
    # first goes alone and the others share the next requests: fewer statements than openings.
    assert len(statements) < len(answers)
