"""A fresh voter who first crawls every public page can identify no answer they are then served.

The attack from the security review: outputs are fixed per contender × prompt, so one public page showing an
answer beside its contender's name unblinds that answer in every battle that serves it. The voter here reads
the home page, every leaderboard (each source × dimension), every contender and compare page, every export
and every read operation of the API (from the OpenAPI document, so new endpoints are crawled too), then
follows every same-site link found, and only then is served battles. No served answer may appear anywhere in
what they read. A control crawl with the task closed finds the same answers, so the check can fail.
"""

from __future__ import annotations

import itertools
import re
from collections import deque
from html import unescape
from urllib.parse import urljoin, urlsplit

import pytest

from arena.models import AnnotationTask, Assignment, Output, Source
from leaderboard.selectors import dimensions_shown, sources_in
from leaderboard.services.recompute import leaderboards_recompute
from tests.leaderboard.arena_data import arena_make, judge_source, verdicts_add
from tests.support import factories

pytestmark = pytest.mark.django_db

# Pages that act rather than show (serving a battle, signing out) or are staff-only tools.
NOT_CRAWLED = (
    "/vote/",
    "/accounts/logout",
    "/admin/",
    "/judges/campaigns",
    "/judges/configs",
    "/leaderboard/recompute",
)
# Seeds are ~210 URLs; the links found add every sort order, category and profile combination of the boards,
# more than a test should fetch, so the crawl stops here (seeds and the pages they link first come first).
MAX_PAGES = 350
HREF = re.compile(r'href="([^"#]+)"')


@pytest.fixture(autouse=True)
def _quick_fits(settings):
    settings.LEADERBOARD_BOOTSTRAP_ROUNDS = 5  # plumbing, not maths: intervals need not be tight
    settings.LEADERBOARD_MIN_VERDICTS = 5
    factories.fresh_rate_limits(settings)


def _arena_with_marked_answers():
    """Four approved contenders, six prompts, people's and a judge's verdicts, one run; each answer carries a
    unique token (`ans<id>tok`) so it can be found in any page, however it was rendered."""
    arena = arena_make(("alpha", "beta", "gamma", "delta"))
    for output in Output.objects.filter(prompt__prompt_set=arena.prompt_set):
        Output.objects.filter(pk=output.pk).update(text=f"Plain answer ans{output.pk}tok in a sentence.")
    verdicts_add(arena.battles, seed=1)
    verdicts_add(arena.battles, source=judge_source("judge-gpt", "GPT judge"), seed=2)
    arena.run = leaderboards_recompute(trigger="test")
    return arena


def _seed_urls(client, arena) -> list[str]:
    slugs = [c.slug for c in arena.contenders]
    urls = ["/", "/contenders/", "/leaderboard/", "/api/openapi.json"]
    urls += [f"/contenders/{s}/" for s in slugs]
    for source, dimension in itertools.product(sources_in(arena.run), dimensions_shown()):
        query = f"?source={source.key}&dimension={dimension.slug}"
        urls += [
            f"/leaderboard/{query}",
            f"/leaderboard/export.csv{query}",
            f"/leaderboard/export.json{query}",
        ]
        urls += [f"/leaderboard/contenders/{s}/{query}" for s in slugs]
        urls += [f"/api/leaderboard/{query}"]
    urls += [f"/leaderboard/compare/?a={a}&b={b}" for a, b in itertools.permutations(slugs, 2)]
    urls += [f"/leaderboard/battles/export/?format={f}" for f in ("fastchat", "jsonl", "csv")]
    urls += [f"/contenders/{s}/outputs/export/?format={f}" for s in slugs for f in ("jsonl", "alpaca_eval")]
    judges = list(Source.objects.filter(kind=Source.Kind.JUDGE).values_list("key", flat=True))
    urls += ["/judges/report/", "/judges/report/export.csv", "/judges/report/export.json"]
    urls += [f"/judges/report/{key}/" for key in judges]
    urls += [f"/judges/report/battles/{battle.pk}/" for battle in arena.battles]  # disagreement details
    urls += _api_reads(client, slugs, judges)
    return urls


def _api_reads(client, slugs: list[str], judges: list[str]) -> list[str]:
    """Every GET operation of the API: a contender path parameter gets each slug, a judge's `key` each judge
    source, a pair of contender query parameters (`a`, `b`) each ordered pair."""
    document = client.get("/api/openapi.json").json()
    pairs = [f"?a={a}&b={b}" for a, b in itertools.permutations(slugs, 2)]
    urls = []
    for path, operations in document["paths"].items():
        if "get" not in operations:
            continue
        params = re.findall(r"{(\w+)}", path)
        query_names = {p["name"] for p in operations["get"].get("parameters", []) if p.get("in") == "query"}
        paths = [path] if not params else []
        if params in (["slug"], ["contender"]):
            paths = [path.replace(f"{{{params[0]}}}", s) for s in slugs]
        if params == ["key"]:
            paths = [path.replace("{key}", key) for key in judges]
        urls += [p + q for p in paths for q in (pairs if {"a", "b"} <= query_names else [""])]
    return urls


def _crawl(client, seeds: list[str], *, follow_links: bool = True) -> dict[str, str]:
    """GET the seeds, then every same-site link found (breadth first); returns url -> body text."""
    queue, seen, bodies = deque(seeds), set(seeds), dict[str, str]()
    while queue and len(bodies) < MAX_PAGES:
        url = queue.popleft()
        response = client.get(url)
        assert response.status_code < 500, f"{url} answered {response.status_code}"
        if response.status_code >= 400:
            continue
        raw = b"".join(response.streaming_content) if response.streaming else response.content
        body = raw.decode("utf-8", errors="replace")
        bodies[url] = unescape(body)
        if not follow_links or "html" not in response.get("Content-Type", ""):
            continue
        for href in HREF.findall(body):
            target = urljoin(url, unescape(href))
            parts = urlsplit(target)
            if parts.netloc or parts.path.startswith(NOT_CRAWLED) or parts.path.startswith("/static/"):
                continue
            local = parts.path + (f"?{parts.query}" if parts.query else "")
            if local not in seen:
                seen.add(local)
                queue.append(local)
    return bodies


def _tokens_in(bodies: dict[str, str]) -> set[str]:
    return {token for body in bodies.values() for token in re.findall(r"ans\d+tok", body)}


def _serve_everything(task, user) -> set[str]:
    """Serve the voter every battle the task has for them (skipping each); the answers' tokens."""
    served = set()
    while (assignment := factories.serve_to(task, user)) is not None:
        battle = assignment.battle
        served |= {re.search(r"ans\d+tok", o.text).group(0) for o in (battle.output_a, battle.output_b)}
        Assignment.objects.filter(pk=assignment.pk).update(state="skipped", answered_at=assignment.served_at)
    return served


def test_a_fresh_voter_crawling_every_public_page_first_can_identify_no_served_answer(client):
    arena = _arena_with_marked_answers()
    task = factories.make_voting_task(arena.prompt_set, arena.contenders, slug="blind-task")
    AnnotationTask.objects.filter(pk=task.pk).update(is_active=False)
    voter = factories.make_user("fresh-voter")
    client.force_login(voter)

    # Control: with the task closed the seed pages alone show answers, so the check below can fail.
    before = _crawl(client, _seed_urls(client, arena), follow_links=False)
    assert _tokens_in(before), "the crawl found no answer on public pages even with every task closed"

    AnnotationTask.objects.filter(pk=task.pk).update(is_active=True)
    crawled = _crawl(client, _seed_urls(client, arena))
    served = _serve_everything(task, voter)

    assert len(served) == 4 * 6  # every answer of the four contenders on the six prompts was served
    pages_per_kind = {
        kind: sum(kind in url for url in crawled)
        for kind in (
            "/leaderboard/contenders/",
            "compare",
            "export",
            "/battles",
            "/outputs",
            "/judges/report/",
            "/api/judge-reports/",
            "/api/",
        )
    }
    assert all(pages_per_kind.values()), pages_per_kind  # every kind of public page was read
    leaked = {url: sorted(_tokens_in({url: body}) & served) for url, body in crawled.items()}
    assert {url: tokens for url, tokens in leaked.items() if tokens} == {}
