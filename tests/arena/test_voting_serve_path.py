"""The serve path in SQL: a served battle costs a few statements whatever the history, agreement in SQL
follows the Python rule, and rendered answers are shared between processes through the cache."""

import json
import random
import re
from itertools import combinations

import pytest
from django.core.cache import caches
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from arena.cache import RedisCache
from arena.models import Annotator, Assignment, Battle, Dimension, Verdict
from arena.rendering import RECENTLY_RENDERED, _shared_key, render_markdown, render_markdown_many
from arena.services.battles import people_source
from arena.voting import serve_store
from arena.voting.ballots import Ballot
from arena.voting.identity import annotator_for
from arena.voting.recording import vote_record
from arena.voting.stats import (
    agreement_key,
    agreement_of,
    annotator_progress,
    overall_votes,
    task_goal_forget,
    task_progress,
)
from tests.support import factories

HX = {"HTTP_HX_REQUEST": "true"}
TOKEN = re.compile(r'/vote/b/([A-Za-z0-9_-]+)/"')
# The user, the task, the annotator and the open assignment (none) in one statement (arena.voting.serve_head);
# the task's contenders, one pair's best battle with its answers (an existing battle comes with the candidate's row), the INSERT; the vote dimensions;
# progress. The task's goal is counted when the shared cache does not hold it; with Redis, a pair's battles are
# read when this process holds no copy of them, and their held places when Redis holds no count.
SERVE_STATEMENTS = 6
FIRST_SERVE_EXTRA = 3


@pytest.fixture(autouse=True)
def _limits(settings):
    factories.fresh_rate_limits(settings)


def _serve(client, task):
    return client.get(reverse("voting:task", args=[task.slug]) + "?start=1", **HX)


def _pairs_warm(task) -> None:
    """This process's copy of every pair's battles, and their held places in Redis, as in a running arena."""
    from arena.voting.held_places import held_places

    contenders = sorted(
        {b.contender_a_id for b in Battle.objects.all()} | {b.contender_b_id for b in Battle.objects.all()}
    )
    for pair in combinations(contenders, 2):
        serve_store.pair_answers(task.prompt_set_id, pair)
        held_places(task, pair, timezone.now())


def test_serving_a_battle_takes_a_few_statements_that_do_not_grow_with_votes(client, db):
    task, _ = factories.make_voting_arena(n_contenders=4, n_prompts=6)
    factories.make_all_battles(task)
    people_source()  # exists in any arena where someone voted
    user = factories.make_annotator_user("alice")
    annotator_for(factories.voter_of(user))  # a first visit creates the annotator row
    client.force_login(user)
    _pairs_warm(task)
    counts = []
    for round_ in range(4):
        for i in range(3):  # other people's votes accumulate between the measured serves
            other = factories.make_annotator_user(f"v{round_}-{i}")
            assignment = factories.serve_to(task, other)
            vote_record(token=assignment.token, voter=factories.voter_of(other), ballot=Ballot("left"))
        with CaptureQueriesContext(connection) as queries:
            response = _serve(client, task)
        assert response.status_code == 200 and 'data-vote-state="open"' in response.content.decode()
        counts.append(len(queries))
        served = Assignment.objects.get(annotator__user=user, state="served")
        vote_record(token=served.token, voter=factories.voter_of(user), ballot=Ballot("tie"))
    # The first serve also counts the task's goal, which the shared cache then holds (TASK_GOAL_SECONDS),
    # and reads the pair's battles and counts their places (then held in this process and Redis).
    assert len(set(counts[1:])) == 1, counts
    assert max(counts[1:]) <= SERVE_STATEMENTS and counts[0] <= SERVE_STATEMENTS + FIRST_SERVE_EXTRA, counts


def test_a_reload_serves_the_open_battle_in_fewer_statements(client, db):
    task, _ = factories.make_voting_arena()
    client.force_login(factories.make_annotator_user("alice"))
    first = TOKEN.search(_serve(client, task).content.decode()).group(1)
    with CaptureQueriesContext(connection) as queries:
        again = TOKEN.search(_serve(client, task).content.decode()).group(1)
    assert again == first and Assignment.objects.count() == 1
    assert len(queries) <= SERVE_STATEMENTS - 2, "\n".join(q["sql"][:100] for q in queries.captured_queries)


def test_a_reload_whose_battle_was_deleted_after_the_probe_serves_another(client, db, monkeypatch):
    task, _ = factories.make_voting_arena()
    client.force_login(factories.make_annotator_user("alice"))
    first = TOKEN.search(_serve(client, task).content.decode()).group(1)
    query = serve_store._query

    def deleted_meanwhile(sql, params, **kwargs):
        rows = query(sql, params, **kwargs)
        if sql == serve_store._OPEN and rows:  # staff delete the battle between the two statements
            Battle.objects.filter(pk=rows[0]["a_battle_id"]).delete()
        return rows

    monkeypatch.setattr(serve_store, "_query", deleted_meanwhile)
    response = _serve(client, task)
    assert response.status_code == 200
    again = TOKEN.search(response.content.decode()).group(1)
    assert again != first and list(Assignment.objects.values_list("token", flat=True)) == [again]


def test_a_battle_deleted_after_it_was_picked_is_not_served_and_another_is(
    client, transactional_db, monkeypatch
):
    """Staff delete a battle between the pick and the INSERT of its assignment: the INSERT's foreign key fails
    (checked at once outside a transaction, hence transactional_db) and another battle is served, not a 500."""
    from arena.voting import serving

    task, _ = factories.make_voting_arena()
    factories.make_all_battles(task)
    client.force_login(factories.make_annotator_user("alice"))
    pick = serving.battle_pick
    deleted = []

    def deleted_meanwhile(**kwargs):
        picked = pick(**kwargs)
        if picked is not None and not deleted:
            deleted.append(picked.battle.pk)
            Battle.objects.filter(pk=picked.battle.pk).delete()
        return picked

    monkeypatch.setattr(serving, "battle_pick", deleted_meanwhile)
    response = _serve(client, task)

    assert response.status_code == 200 and 'data-vote-state="open"' in response.content.decode()
    served = Assignment.objects.get()
    assert deleted and served.battle_id != deleted[0] and not Battle.objects.filter(pk=deleted[0]).exists()


def _rows_read(plan: dict, tables: set[str]) -> int:
    """Rows the plan's scans of `tables` looked at (returned or filtered out), over all their loops."""
    own = 0
    if plan.get("Relation Name") in tables:
        seen = plan.get("Actual Rows", 0) + plan.get("Rows Removed by Filter", 0)
        own = round(seen * plan.get("Actual Loops", 1))
    return own + sum(_rows_read(child, tables) for child in plan.get("Plans", []))


def _serve_reads(client, task, only: str = "") -> int:
    """Assignment and verdict rows the serve's reading statements (those containing `only`) look at, summed
    (EXPLAIN ANALYZE of each)."""
    with CaptureQueriesContext(connection) as queries:
        assert _serve(client, task).status_code == 200
    total = 0
    with connection.cursor() as cursor:
        for query in queries.captured_queries:
            if query["sql"].lstrip().upper().startswith(("SELECT", "WITH")) and only in query["sql"]:
                cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + query["sql"])
                plan = cursor.fetchone()[0]
                plan = json.loads(plan) if isinstance(plan, str) else plan
                total += _rows_read(plan[0]["Plan"], {"arena_assignment", "arena_verdict"})
    return total


def _history_bulk(task, voters: int) -> int:
    """Other people's votes on every battle of the task, written in bulk as an import (or a busy hour) would:
    the tables' statistics do not know about them. Returns how many votes."""
    battles = list(Battle.objects.filter(prompt__prompt_set=task.prompt_set))
    annotators = Annotator.objects.bulk_create(Annotator(voter_key=f"s:bulk-{i}") for i in range(voters))
    now = timezone.now()
    Assignment.objects.bulk_create(
        Assignment(token=f"bulk-{n.pk}-{b.pk}", task=task, annotator=n, battle=b, left_is_a=True, state="voted",
                   served_at=now, answered_at=now, outcome="a", min_read_ms=0)
        for n in annotators for b in battles
    )  # fmt: skip
    overall = Dimension.objects.get(slug="overall")
    Verdict.objects.bulk_create(
        Verdict(battle=b, dimension=overall, source=people_source(), contender_a_id=b.contender_a_id,
                contender_b_id=b.contender_b_id, voter_key=n.voter_key, outcome="a", score=1.0)
        for n in annotators for b in battles
    )  # fmt: skip
    return len(annotators) * len(battles)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="reads PostgreSQL's plans")
def test_a_serve_reads_rows_of_the_pair_and_the_voter_not_of_the_whole_arena(client, db):
    """The tables were never analyzed (as after a bulk load, or with autovacuum behind): the serve must still
    count held places battle by battle and the others' votes on the voter's battles only, not scan the task's
    assignments or the arena's verdicts."""
    task, _ = factories.make_voting_arena(n_contenders=4, n_prompts=6, votes_per_battle=500)
    factories.make_all_battles(task)
    user = factories.make_annotator_user("alice")
    client.force_login(user)
    for _ in range(2):  # alice has voted before
        _serve(client, task)
        served = Assignment.objects.get(annotator__user=user, state="served")
        vote_record(token=served.token, voter=factories.voter_of(user), ballot=Ballot("left"))
    added = _history_bulk(task, voters=100)
    # The agreement computed on this serve (not the figure stored a moment ago): its probes are measured too.
    caches["default"].delete(agreement_key(f"u:{user.pk}"))
    reads = _serve_reads(client, task)
    # Legitimately read: the held places of one pair's six battles (a sixth of the votes) and the votes on
    # alice's two battles. A scan reads every vote, for the held places once per candidate prompt.
    assert reads < added // 2, (reads, added)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="reads PostgreSQL's plans")
def test_a_serve_probes_the_voters_history_battle_by_battle(client, db):
    """A voter with a long history, written in bulk (no statistics): whether each candidate battle was served
    to them, and the places it holds, are looked up on the (annotator, battle) and (battle, task, state)
    indexes. Reading the voter's (or the task's) assignments once per candidate prompt grows with history x
    prompts; it was the serve's largest PostgreSQL cost in bench_votes (docs/voting-performance.md)."""
    task, _ = factories.make_voting_arena(n_contenders=4, n_prompts=30)
    factories.make_all_battles(task)
    user = factories.make_annotator_user("alice")
    client.force_login(user)
    annotator = annotator_for(factories.voter_of(user))
    contenders = sorted(
        {b.contender_a_id for b in Battle.objects.all()} | {b.contender_b_id for b in Battle.objects.all()}
    )
    open_pair = {contenders[0], contenders[1]}  # alice's history covers every other pair
    now = timezone.now()
    history = Assignment.objects.bulk_create(
        Assignment(token=f"hist-{b.pk}", task=task, annotator=annotator, battle=b, left_is_a=True, state="voted",
                   served_at=now, answered_at=now, outcome="a", min_read_ms=0)
        for b in Battle.objects.all() if {b.contender_a_id, b.contender_b_id} != open_pair
    )  # fmt: skip
    reads = _serve_reads(client, task, only="WITH answers AS")  # the pair's best battle (counting her votes
    # for her counters reads her history once, legitimately)
    # Legitimately read: a few rows per candidate prompt of the open pair (30). Reading alice's history, or
    # the task's assignments, per candidate prompt reads 30 x 150.
    assert reads < len(history), (reads, len(history))


def _goal_statements(queries) -> int:
    return sum("per_prompt" in q["sql"] for q in queries.captured_queries)


@pytest.mark.skipif(
    not isinstance(caches["default"], RedisCache), reason="the goal is kept in the shared cache (Redis)"
)
def test_the_task_goal_is_counted_once_then_read_from_the_cache_until_forgotten(db):
    task, _ = factories.make_voting_arena(n_contenders=3, n_prompts=4, votes_per_battle=2)
    with CaptureQueriesContext(connection) as first:
        assert task_progress(task).goal == 4 * 3 * 2  # 4 prompts x 3 pairs x 2 votes
    with CaptureQueriesContext(connection) as again:
        assert task_progress(task).goal == 4 * 3 * 2
    assert (_goal_statements(first), _goal_statements(again)) == (1, 0)
    newcomer = factories.make_contender("model-4", name="Model Number 4")
    factories.make_outputs(newcomer, task.prompt_set, template="Answer {n}.")
    task.contenders.add(newcomer)
    # Until it is forgotten (staff saving the task does so) or TASK_GOAL_SECONDS pass, the count stands.
    assert task_progress(task).goal == 4 * 3 * 2
    task_goal_forget(task)
    assert task_progress(task).goal == 4 * 6 * 2


@pytest.mark.skipif(
    not isinstance(caches["default"], RedisCache),
    reason="the pair counts are kept in the shared cache (Redis)",
)
def test_a_served_battle_reads_the_pair_counts_once(client, db, monkeypatch):
    """Choosing the pair and the progress bar share one read of the task's Redis hash."""
    from arena.voting import pair_votes as module

    task, _ = factories.make_voting_arena()
    client.force_login(factories.make_annotator_user("alice"))
    reads = []
    real = module.pair_votes

    def counted(task_id):
        reads.append(task_id)
        return real(task_id)

    monkeypatch.setattr(module, "pair_votes", counted)
    monkeypatch.setattr("arena.voting.selection.pair_votes", counted)
    monkeypatch.setattr("arena.voting.stats.pair_votes", counted)
    monkeypatch.setattr("arena.voting.views.pair_votes", counted, raising=False)
    real_read = module.pair_votes_read

    def counted_read(task_id, client, found):  # the hash as read in the serve's pipeline (serve_reads)
        reads.append(task_id)
        return real_read(task_id, client, found)

    monkeypatch.setattr("arena.voting.serve_reads.pair_votes_read", counted_read)
    monkeypatch.setattr("arena.voting.serve_reads.pair_votes", counted)
    response = _serve(client, task)
    assert response.status_code == 200 and 'data-vote-state="open"' in response.content.decode()
    assert reads == [task.pk]


def test_agreement_in_sql_follows_the_python_rule(db):
    """Random overall votes, some of them excluded by staff: the progress statement's agreement equals
    `agreement_of` (arena.voting.stats, the rule's Python form) for every voter."""
    task, _ = factories.make_voting_arena(n_contenders=3, n_prompts=4, votes_per_battle=6)
    rng = random.Random(11)
    people = [factories.make_annotator_user(f"p{i}") for i in range(7)]
    for _ in range(4):
        for person in people:
            assignment = factories.serve_to(task, person)
            if assignment is not None:
                choice = rng.choice(["left", "right", "tie", "both_bad"])
                vote_record(token=assignment.token, voter=factories.voter_of(person), ballot=Ballot(choice))
    Verdict.objects.filter(voter_key=f"u:{people[0].pk}").update(excluded=True)
    votes = overall_votes()
    compared = 0
    for person in people:
        annotator = annotator_for(factories.voter_of(person))
        expected = agreement_of(annotator.voter_key, votes)
        assert annotator_progress(annotator).agreement == expected, person.username
        compared += expected.compared
    assert compared > 0  # the data had battles with a majority to compare against


def test_rendered_answers_are_shared_through_the_cache(db):
    texts = ["# Title\n\n```python\nprint(1)\n```", "", "plain *text*"]
    assert render_markdown_many(texts) == [render_markdown(text) for text in texts]
    assert caches["default"].get(_shared_key(texts[0])) == str(render_markdown(texts[0]))
    # Another process finds the HTML in the cache instead of rendering it (here: this one, its own copy gone).
    RECENTLY_RENDERED.clear()
    caches["default"].set(_shared_key("shared only"), "<p>from the cache</p>")
    assert render_markdown_many(["shared only"]) == ["<p>from the cache</p>"]
    assert render_markdown("shared only") == "<p>from the cache</p>"  # now this process's copy too
    assert len(RECENTLY_RENDERED) == 1
