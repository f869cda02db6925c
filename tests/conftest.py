"""Shared fixtures. The suite runs on real PostgreSQL and Redis (see scripts/test.sh)."""

from __future__ import annotations

import os

import pytest
from django.conf import settings

from tests.support import factories
from tests.support.browser import browser, page  # noqa: F401  (shared fixtures)

# Each test run gets its own Redis key space (broker queues and cache) and its own test database, so two runs
# on one machine (a developer's and CI's, say) never consume each other's tasks or drop each other's tables.
RUN_ID = f"t{os.getpid()}"
os.environ.setdefault("ARENA_REDIS_PREFIX", f"{RUN_ID}:")


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix):
    settings.DATABASES["default"].setdefault("TEST", {})["NAME"] = f"test_arena_{RUN_ID}"


def pytest_configure(config):
    engine = settings.DATABASES["default"]["ENGINE"]
    if "postgresql" not in engine and not os.environ.get("ARENA_ALLOW_NON_POSTGRES_TESTS"):
        raise pytest.UsageError(f"tests need PostgreSQL (DATABASE_URL), got {engine}; run `make test`.")
    _use_run_prefix()
    # pytest-django's live server serves /static/ from the finders, which know no hashed manifest names:
    # use plain names so the browser tests load the real htmx, plotly and CSS.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


def _use_run_prefix() -> None:
    """Settings may have been read before this module set the prefix: apply it to the live app and cache too."""
    from arena.celery import app

    prefix = os.environ["ARENA_REDIS_PREFIX"]
    if settings.CELERY_BROKER_URL.startswith("redis"):
        app.conf.broker_transport_options = {**app.conf.broker_transport_options, "global_keyprefix": prefix}
    if "redis" in settings.CACHES["default"]["BACKEND"].lower():
        settings.CACHES["default"]["KEY_PREFIX"] = f"{prefix}arena"


@pytest.fixture(autouse=True)
def _standard_dimensions(request):
    """A transactional test's flush deletes the dimensions the migration seeded: put them back for every
    test that uses the database, so test order never matters."""
    names = request.fixturenames
    if "transactional_db" in names or "live_server" in names:
        request.getfixturevalue("transactional_db")
    elif "db" in names:
        request.getfixturevalue("db")
    else:
        return
    factories.ensure_dimensions()


@pytest.fixture
def user(db):
    return factories.make_user("alice")


@pytest.fixture
def other_user(db):
    return factories.make_user("mallory")


@pytest.fixture
def staff_user(db):
    return factories.make_user("staff", is_staff=True, is_superuser=True)


@pytest.fixture
def user_client(client, user):
    client.force_login(user)
    return client


@pytest.fixture
def prompt_set(db):
    return factories.make_prompt_set("demo-set", n_prompts=3)


@pytest.fixture
def redis_url() -> str:
    url = os.environ.get("REDIS_URL")
    if not url:
        pytest.fail("REDIS_URL is not set: run the suite with `make test`, which provisions Redis.")
    return url


@pytest.fixture
def worker_factory(transactional_db, redis_url):
    """Start real worker processes on the Redis broker (queues purged first); all are stopped afterwards.

    `worker_factory(queues="judge", concurrency=32, pool="threads", name="w2")` returns a started WorkerProcess.
    """
    from tests.support.celery_worker import WorkerProcess

    purge_queues()
    started: list[WorkerProcess] = []

    def start(**kwargs) -> WorkerProcess:
        kwargs.setdefault("name", f"w{len(started) + 1}")
        worker = WorkerProcess(**kwargs).start()
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()
    purge_queues()


@pytest.fixture
def celery_worker(worker_factory):
    """One real worker process consuming every arena queue."""
    return worker_factory(queues=",".join(settings.ARENA_QUEUES), concurrency=4)


def purge_queues() -> None:
    from arena.celery import app

    with app.connection_for_write() as conn:
        for queue in settings.ARENA_QUEUES:
            conn.default_channel.queue_purge(queue)
