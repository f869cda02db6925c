"""The leaderboard page renders its board once per stored run and query, then serves it from the cache to
everyone; what is the viewer's own (the navigation, staff's recompute button) is rendered for each request."""

import re
from unittest import mock

import pytest
from django.core.cache import cache
from django.test import Client

from leaderboard import selectors, views
from leaderboard.services.recompute import leaderboards_recompute
from tests.leaderboard.arena_data import verdicts_add

INDEX = "/leaderboard/"


def board_of(page: str) -> str:
    return page[page.index('<div id="board"') :]


def page_of(client: Client, params: dict | None = None, **headers: str) -> str:
    response = client.get(INDEX, params or {}, headers=headers)
    assert response.status_code == 200
    return response.content.decode()


def run_shown(page: str) -> int:
    found = re.search(r"Run #(\d+), computed", page)
    assert found, "the board names no run"
    return int(found.group(1))


def test_it_serves_the_same_board_again_without_building_it(client, rated_arena):
    first = page_of(client)
    with mock.patch.object(selectors, "board_get", side_effect=AssertionError("board built again")):
        second = page_of(client)
        fragment = page_of(client, HX_Request="true")

    assert board_of(second) == board_of(first)
    assert board_of(first).startswith(fragment.strip())


def test_it_shows_a_newly_stored_run_at_once(client, rated_arena):
    assert run_shown(page_of(client)) == rated_arena.run.pk
    verdicts_add(rated_arena.battles, seed=9, dimension="correctness")

    new_run = leaderboards_recompute(trigger="test")

    assert new_run.pk != rated_arena.run.pk
    assert run_shown(page_of(client)) == new_run.pk
    assert run_shown(page_of(client, HX_Request="true")) == new_run.pk


def test_other_parameters_get_their_own_board(client, rated_arena):
    overall = page_of(client)
    helpfulness = page_of(client, {"dimension": "helpfulness"})

    assert 'aria-current="page" data-dimension="overall"' in overall
    assert 'aria-current="page" data-dimension="helpfulness"' in helpfulness


@pytest.fixture
def cached_boards():
    """The keys of the boards stored in the cache during the test."""
    keys: list[str] = []
    store = cache.set

    def set_and_record(key, *args, **kwargs):
        if key.startswith("leaderboard:board:"):
            keys.append(key)
        return store(key, *args, **kwargs)

    with mock.patch.object(views.cache, "set", side_effect=set_and_record):
        yield keys


def test_a_bad_parameter_is_refused_each_time_and_never_cached(client, rated_arena, cached_boards):
    for _ in range(2):
        response = client.get(INDEX, {"dimension": "nonsense"})
        assert response.status_code == 400
        assert "dimension" in response.content.decode()
    assert cached_boards == []


def test_spellings_of_one_board_share_its_cache_entry(client, rated_arena, cached_boards):
    page_of(client, {"dimension": "helpfulness"})
    page_of(client, {"dimension": "helpfulness", "sort": "rank", "unknown": "x"})

    assert len(set(cached_boards)) == 1


@pytest.mark.parametrize("params", [{"min_votes": "7"}, {"min_votes": "007"}, {"run": "shown"}])
def test_boards_with_free_valued_parameters_are_rendered_each_time_not_cached(
    client, rated_arena, params, cached_boards
):
    """Their values are countless: cached, anyone could fill the shared cache with variants."""
    if params.get("run") == "shown":
        params = {"run": str(rated_arena.run.pk)}  # a run named in the link, as older runs are
    page_of(client, params)
    with mock.patch.object(selectors, "board_get", wraps=selectors.board_get) as built:
        page_of(client, params)

    assert built.call_count == 1
    assert cached_boards == []


@pytest.mark.parametrize("first_viewer", ["anonymous", "staff"])
def test_a_shared_board_never_carries_another_viewers_nav(first_viewer, rated_arena, staff):
    anonymous, signed_in = Client(), Client()
    signed_in.force_login(staff)
    viewers = {"anonymous": anonymous, "staff": signed_in}
    order = [first_viewer, "staff" if first_viewer == "anonymous" else "anonymous"]

    pages = {name: page_of(viewers[name]) for name in order}

    assert board_of(pages["anonymous"]) == board_of(pages["staff"])
    assert f"Sign out ({staff.username})" in pages["staff"]
    assert 'data-testid="recompute"' in pages["staff"]
    assert "Sign out" not in pages["anonymous"]
    assert 'data-testid="recompute"' not in pages["anonymous"]
    assert "csrfmiddlewaretoken" not in board_of(pages["staff"])
