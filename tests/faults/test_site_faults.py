"""The site as deployed (gunicorn, DEBUG off) while its database or its Redis goes away.

Each test starts its own throwaway server (PostgreSQL cluster or redis-server on a free loopback port) and a
gunicorn process pointed at it, then stops or kills that server while the site serves: the machine's own
PostgreSQL and Redis are never touched.
"""

from __future__ import annotations

import os
import time

import psycopg
import pytest

from tests.faults.http import SiteClient
from tests.support import celery_worker, factories
from tests.support.services import PostgresServer, RedisServer, WebServer

pytestmark = pytest.mark.fault

# Things a 503 page must never show: a traceback, settings, the database or broker behind it.
LEAKS = ("Traceback", "SECRET_KEY", "DATABASE", "psycopg", "OperationalError", "postgres", "5432", "redis://")
PAGES = ["/", "/leaderboard/", "/contenders/", "/vote/t/people/?start=1", "/me/contenders/"]


def _arena_for_voting():
    factories.make_user("voter")
    task, _ = factories.make_voting_arena(n_contenders=3, n_prompts=4, task_slug="people")
    return task


def _accepted_votes(database_url: str) -> int:
    with psycopg.connect(database_url, autocommit=True) as conn:
        return conn.execute("SELECT count(*) FROM arena_assignment WHERE state = 'voted'").fetchone()[0]


def _until_ok(site: SiteClient, path: str, timeout: float) -> float:
    """Seconds until `path` answers 200 again."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if site.http.get(path).status_code == 200:
            return time.monotonic() - start
        time.sleep(0.1)
    raise AssertionError(f"{path} did not recover within {timeout}s")


def test_a_stopped_database_gives_a_plain_503_then_the_site_recovers_with_every_vote_kept(transactional_db):
    task = _arena_for_voting()
    postgres = PostgresServer().init()
    web = None
    try:
        postgres.start()
        database_url = postgres.clone(celery_worker.test_database_url(), "arena")
        web = WebServer({"DATABASE_URL": database_url}).start()
        site = SiteClient(web.base_url)
        assert site.sign_in("voter").status_code == 302
        accepted = sum(site.vote(site.battle_token(task.slug)).status_code == 200 for _ in range(3))
        assert accepted == 3, web.log()[-3000:]
        assert accepted == 3
        token = site.battle_token(task.slug)  # served before the outage, voted on during it

        postgres.stop()
        for path in PAGES:
            response = site.http.get(path)
            body = response.text
            assert response.status_code == 503, (path, response.status_code, body[:300])
            assert "Temporarily unavailable" in body and response.headers["Retry-After"] == "30"
            assert not [leak for leak in LEAKS if leak in body], (path, body)
        # The next battle as htmx asks for it (the lean serve's request): left to Django, which answers 503.
        served = site.http.get(f"/vote/t/{task.slug}/?start=1", headers={"HX-Request": "true"})
        assert served.status_code == 503 and "Temporarily unavailable" in served.text, served.text[:300]
        assert served.headers["Retry-After"] == "30"
        refused = site.vote(token)
        assert refused.status_code == 503 and "Temporarily unavailable" in refused.text
        api = site.http.get("/api/contenders")
        assert api.status_code == 503 and api.json()["error"].startswith("The arena is briefly unavailable")

        restarted = time.monotonic()
        postgres.start()
        recovery = _until_ok(site, "/", timeout=20)
        print(f"\nsite answered 200 again {time.monotonic() - restarted:.2f}s after PostgreSQL restarted")
        assert _accepted_votes(database_url) == accepted  # every vote accepted before the outage is there
        assert site.vote(token).status_code == 200  # the battle refused during the outage can be voted now
        assert _accepted_votes(database_url) == accepted + 1
        assert recovery < 10
        assert "Traceback" in web.log()  # the server log keeps what the page does not show
    finally:
        if web:
            web.stop()
        postgres.destroy()


def test_sign_in_and_voting_work_from_the_database_while_redis_is_down(transactional_db):
    task = _arena_for_voting()
    factories.make_user("early-voter")
    redis = RedisServer().start()
    prefix = os.environ.get("ARENA_REDIS_PREFIX", "")
    env = {"DATABASE_URL": celery_worker.test_database_url(), "REDIS_URL": redis.url, "CELERY_BROKER_URL": redis.url,
           "ARENA_REDIS_PREFIX": prefix, "DB_CONN_MAX_AGE": "0"}  # fmt: skip
    web = WebServer(env).start()
    try:
        warm = SiteClient(web.base_url)  # a session made while Redis was up
        assert warm.sign_in("early-voter").status_code == 302
        warm_token = warm.battle_token(task.slug)

        redis.kill()
        site = SiteClient(web.base_url)
        signed_in = site.sign_in("voter")
        assert signed_in.status_code == 302, signed_in.text[:500]
        assert site.http.get("/me/contenders/").status_code == 200  # the new session is read back
        for _ in range(3):
            vote = site.vote(site.battle_token(task.slug))
            assert vote.status_code == 200, web.log()[-4000:]
        assert warm.vote(warm_token).status_code == 200  # an older session survives too
        # The next battle as htmx asks for it (the lean serve's request), the session read from the database.
        served = site.http.get(f"/vote/t/{task.slug}/?start=1", headers={"HX-Request": "true"})
        assert served.status_code == 200 and "/vote/b/" in served.text, web.log()[-4000:]
        assert _accepted_votes(celery_worker.test_database_url()) == 4
        assert "Redis cache unreachable" in web.log()  # the degradation is logged, not silent
        assert "Traceback" not in web.log()
    finally:
        web.stop()
        redis.stop()
