"""The leaderboard's charts are built once per stored snapshot and rows shown, then served from the cache."""

from unittest import mock

from arena.models import Contender
from leaderboard import charts

INDEX = "/leaderboard/"


def figure_builds(client, *params: dict) -> tuple[int, list[str]]:
    """How many times the page built its figures over requests with ``params``, and each page's HTML."""
    pages = []
    with mock.patch.object(charts, "_figures", wraps=charts._figures) as built:
        for query in params:
            response = client.get(INDEX, query)
            assert response.status_code == 200
            pages.append(response.content.decode())
    return built.call_count, pages


def test_the_same_board_builds_its_charts_once_and_serves_the_same_figures(client, rated_arena):
    builds, (first, second) = figure_builds(client, {}, {})

    assert builds == 1
    scripts = [
        page[page.index('id="figure-forest"') : page.index('id="figure-profile"')] for page in (first, second)
    ]
    assert scripts[0] == scripts[1] and '"type": "heatmap"' in scripts[0]


def test_another_board_or_other_rows_get_their_own_charts(client, rated_arena):
    builds, _ = figure_builds(
        client, {}, {"dimension": "helpfulness"}, {"min_votes": "10000"}, {"source": "judge-gpt"}
    )

    # min_votes=10000 leaves no rows, hence no charts: three boards with rows, three builds.
    assert builds == 3


def test_a_renamed_contender_gets_fresh_charts(client, rated_arena):
    figure_builds(client, {})
    Contender.objects.filter(slug="alpha").update(name="Alpha Renamed")

    builds, (page,) = figure_builds(client, {})

    assert builds == 1
    forest = page[page.index('id="figure-forest"') :]
    assert "Alpha Renamed" in forest[: forest.index("</script>")]


def test_a_cached_board_builds_nothing_from_the_snapshots_matrices(client, rated_arena):
    client.get(INDEX)
    with mock.patch.object(charts, "matrix_for", side_effect=AssertionError("matrices read")):
        response = client.get(INDEX)

    assert response.status_code == 200
    assert 'id="figure-win-fraction"' in response.content.decode()
