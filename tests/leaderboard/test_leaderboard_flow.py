"""No dead ends: the compare picker, the recompute status box, the profile picker, the judges-vs-people
table per category."""

from __future__ import annotations

import datetime
import re

from django.utils import timezone

from leaderboard.models import JudgeAgreement, RecomputeRun, RecomputeState
from leaderboard.services.recompute import leaderboards_recompute
from tests.leaderboard.arena_data import arena_make, judge_source, verdicts_add
from tests.leaderboard.test_judge_agreement import people, vote

INDEX = "/leaderboard/"
COMPARE = "/leaderboard/compare/"
STATUS = "/leaderboard/recompute/status/"


def test_bare_compare_offers_a_picker(client, rated_arena):
    response = client.get(COMPARE)

    html = response.content.decode()
    assert response.status_code == 200 and 'data-testid="compare-picker"' in html
    assert 'value="alpha"' in html and 'value="omega"' not in html  # approved contenders only


def test_two_ticked_rows_are_compared(client, rated_arena):
    response = client.get(COMPARE, {"pick": ["alpha", "gamma"], "source": "people"})

    assert response.status_code == 200 and 'data-testid="compare-table"' in response.content.decode()


def test_every_row_of_the_leaderboard_can_be_ticked_for_compare(client, rated_arena):
    html = client.get(INDEX).content.decode()

    assert f'action="{COMPARE}"' in html
    for slug in ("alpha", "beta", "gamma", "delta"):
        assert f'name="pick" value="{slug}" form="compare-form"' in html


def test_ticking_one_or_three_rows_says_so_on_the_picker(client, rated_arena):
    for picked in (["alpha"], ["alpha", "beta", "gamma"]):
        response = client.get(COMPARE, {"pick": picked})
        html = response.content.decode()
        assert response.status_code == 400 and 'data-testid="compare-picker"' in html
        assert f"Tick exactly two contenders to compare; {len(picked)} were ticked." in html


def test_the_same_or_an_unknown_contender_is_refused_on_the_picker(client, rated_arena):
    same = client.get(COMPARE, {"a": "alpha", "b": "alpha"})
    unknown = client.get(COMPARE, {"a": "alpha", "b": "omega"})  # pending: not public

    assert same.status_code == 400 and "Choose two different contenders" in same.content.decode()
    assert (
        unknown.status_code == 404 and "No approved contender &#x27;omega&#x27;" in unknown.content.decode()
    )
    assert 'data-testid="compare-picker"' in unknown.content.decode()


def test_the_profile_picker_is_tick_boxes(client, rated_arena):
    html = client.get(INDEX, {"profile": ["alpha", "delta"]}).content.decode()

    picker = html.split('data-testid="profile"', 1)[1].split("</fieldset>", 1)[0]
    boxes = dict(re.findall(r'name="profile" value="([^"]+)"( checked)?', picker))
    assert boxes == {"alpha": " checked", "beta": "", "gamma": "", "delta": " checked"}
    assert "<select" not in picker


def test_too_many_profile_contenders_is_a_clear_error(client, rated_arena):
    response = client.get(INDEX, {"profile": ["alpha"] * 7})

    assert response.status_code == 400 and "profile takes at most 6 contenders" in response.content.decode()


def test_the_status_box_is_quiet_when_nothing_runs(client, rated_arena):
    html = client.get(INDEX).content.decode()

    box = html.split('id="recompute-status"', 1)[1].split(">", 1)[0]
    assert 'data-state="idle"' in box and "hx-trigger" not in box


def test_a_queued_recompute_makes_the_box_poll_then_swap_in_the_new_board(client, rated_arena):
    RecomputeState.objects.update_or_create(pk=1, defaults={"queued_at": timezone.now()})
    shown = rated_arena.run.pk

    page = client.get(INDEX, {"dimension": "helpfulness"}).content.decode()
    box = page.split('id="recompute-status"', 1)[1].split(">", 1)[0]
    assert 'data-state="busy"' in box and 'hx-trigger="every 2s"' in box and f"shown={shown}" in box

    polled = client.get(STATUS, {"shown": shown, "board": "dimension=helpfulness"}).content.decode()
    assert 'data-state="busy"' in polled

    RecomputeState.objects.filter(pk=1).update(queued_at=None)
    new = leaderboards_recompute(trigger="test")
    done = client.get(STATUS, {"shown": shown, "board": "dimension=helpfulness"}).content.decode()
    assert 'data-state="finished"' in done and f"run #{new.pk}" in done
    assert 'hx-get="/leaderboard/?dimension=helpfulness" hx-trigger="load" hx-target="#board"' in done
    assert "every 2s" not in done  # polling stops


def test_a_recompute_that_changed_nothing_stops_polling_and_says_so(client, rated_arena):
    polled = client.get(STATUS, {"shown": rated_arena.run.pk}).content.decode()

    assert 'data-state="idle"' in polled and "nothing had changed" in polled and "hx-trigger" not in polled


def test_staff_recompute_by_htmx_answers_with_a_polling_box(client, staff, rated_arena):
    client.force_login(staff)
    runs = RecomputeRun.objects.count()

    response = client.post("/leaderboard/recompute/", headers={"HX-Request": "true"})

    html = response.content.decode()
    assert response.status_code == 200 and 'data-state="busy"' in html and "every 2s" in html
    assert "shows the new leaderboard by itself" in html
    assert RecomputeRun.objects.count() == runs  # the worker recomputes, not the request


def test_judges_vs_people_follows_the_category_filter(client, db):
    battles = arena_make(("alpha", "beta", "gamma"), categories=("math", "writing")).battles
    judge = judge_source()
    for battle in battles:
        people(battle, "a", "a")
        # The judge agrees with people on math prompts only.
        vote(battle, judge, "a" if battle.prompt.category == "math" else "b")
    verdicts_add(battles, seed=1, dimension="helpfulness", votes_per_battle=1)
    run = leaderboards_recompute(trigger="test")
    assert JudgeAgreement.objects.filter(run=run, category="math").exists()

    def agreement(category: str) -> str:
        html = client.get(INDEX, {"category": category}).content.decode()
        table = html.split('data-testid="agreement-table"', 1)[1].split("</table>", 1)[0]
        return re.search(r"<td>GPT judge</td><td class=\"num\">([^<]+)</td>", table).group(1)

    assert agreement("math") == "100.0%"
    assert agreement("writing") == "0.0%"
    n_math = sum(b.prompt.category == "math" for b in battles)
    assert agreement("") == f"{100 * n_math / len(battles):.1f}%"


def test_a_bad_filter_by_htmx_answers_the_board_place_with_the_message(client, rated_arena):
    response = client.get(INDEX, {"profile": ["alpha"] * 7}, headers={"HX-Request": "true"})

    html = response.content.decode()
    assert response.status_code == 400 and html.strip().startswith('<div id="board">')
    assert "profile takes at most 6 contenders" in html and "<html" not in html


def test_the_status_box_shows_how_far_a_running_recompute_got(client, rated_arena):
    lease = timezone.now() + datetime.timedelta(minutes=5)
    RecomputeState.objects.update_or_create(pk=1, defaults={"holder": "worker-1", "lease_until": lease})
    RecomputeRun.objects.create(trigger="staff", n_boards=54, n_fitted=12)

    polled = client.get(STATUS, {"shown": rated_arena.run.pk}).content.decode()

    assert 'data-state="busy"' in polled
    assert '<span data-testid="recompute-progress">12 of 54</span> leaderboards fitted' in polled


def test_a_finished_run_records_its_progress_complete(rated_arena):
    run = RecomputeRun.objects.get(pk=rated_arena.run.pk)

    assert run.n_boards == run.n_fitted == run.n_snapshots > 0


def test_the_status_box_takes_an_odd_shown_value_as_no_run(client, rated_arena):
    # "²" passes str.isdigit() but not int(): read as "no run shown", never a 500.
    response = client.get(STATUS, {"shown": "²"})
    assert response.status_code == 200 and 'id="recompute-status"' in response.content.decode()
