"""Shared fixtures: the suite's vocabulary. The suite runs on real PostgreSQL and Redis (see scripts/test.sh).

Each name below means one thing in every test module; a module that needs something else gives it a name of
its own (e.g. `rated_arena` in tests/leaderboard/conftest.py, `campaign_inputs`, `unrated_arena`) instead
of reusing one of these with another meaning.

People
- `alice`: an ordinary account that can sign in (password `factories.PASSWORD`): a submitter, a token
  holder, a voter.
- `bob`: a second ordinary account, the "someone else" of ownership and permission tests.
- `staff`: a staff superuser.
- `alice_client`, `staff_client`: the test's `client`, signed in as alice or as staff (ask for one of them).
- `voter`, `other_voter`: accounts made only to vote, without a usable password (quick to create: no
  password hashing); tests sign them in with `force_login` (`voter_client`) or use them as `Voter`s.
- `voter_client`: the test's `client`, signed in as `voter`.

Things in the arena
- `prompt_set`: a three-prompt set `demo-set`, nobody's answers yet.
- `voting_task`: an open voting task over three approved contenders' answers (`factories.make_voting_arena`).
- `demo_arena`: what `make demo` loads (`load_demo`); returns its prompt set, `arena-starter`.

Services
- `redis_url`, `worker_factory`, `celery_worker`: the real Redis and real Celery worker processes.
- `browser`, `page`: headless Chromium through Playwright (tests/support/browser.py).

Tests that read third-party data from ../shared/data mark themselves with `needs_shared_data(...)` from
tests/support/shared_data.py: without the data they skip, and `-ra` (pytest's addopts) prints why.
"""

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
def alice(db):
    return factories.make_user("alice")


@pytest.fixture
def bob(db):
    return factories.make_user("bob")


@pytest.fixture
def staff(db):
    return factories.make_user("staff", is_staff=True, is_superuser=True)


@pytest.fixture
def alice_client(client, alice):
    client.force_login(alice)
    return client


@pytest.fixture
def staff_client(client, staff):
    client.force_login(staff)
    return client


@pytest.fixture
def voter(db):
    return factories.make_annotator_user("voter")


@pytest.fixture
def other_voter(db):
    return factories.make_annotator_user("other-voter")


@pytest.fixture
def voter_client(client, voter):
    client.force_login(voter)
    return client


@pytest.fixture
def prompt_set(db):
    return factories.make_prompt_set("demo-set", n_prompts=3)


@pytest.fixture
def voting_task(db):
    task, _contenders = factories.make_voting_arena()
    return task


@pytest.fixture
def demo_arena(db):
    from django.core.management import call_command

    from arena.demo.loader import PROMPT_SET_SLUG
    from arena.models import PromptSet

    call_command("load_demo")
    return PromptSet.objects.get(slug=PROMPT_SET_SLUG)


@pytest.fixture
def redis_url() -> str:
    url = os.environ.get("REDIS_URL")
    if not url:
        pytest.fail("REDIS_URL is not set: run the suite with `make test`, which provisions Redis.")
    return url


_TEST_FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """Remember whether a test's body failed, so fixtures can say more in their teardown."""
    report = yield
    if report.when == "call" and report.failed:
        item.stash[_TEST_FAILED] = True
    return report


@pytest.fixture
def worker_factory(request, transactional_db, redis_url):
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
    if request.node.stash.get(_TEST_FAILED, False):  # a failure in CI is read from its log: show the workers'
        for worker in started:
            alarms = [line for line in worker.log if "CRITICAL" in line or "ERROR" in line][:20]
            print(f"--- worker {worker.name}: first errors ---\n" + "".join(alarms))
            print(f"--- worker {worker.name}: last lines ---\n" + "".join(worker.log[-80:]))
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
