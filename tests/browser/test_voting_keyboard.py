"""A newcomer votes in real Chromium with the keyboard alone; answers cannot run code; models stay hidden until the vote."""

import pytest

from arena.models import Assignment, Contender, Dimension, Output, Verdict
from arena.services.battles import people_source
from arena.services.style import style_counts
from tests.support import factories

pytestmark = pytest.mark.browser

OPEN_PANEL = '#vote-panel[data-vote-state="open"]'
REVEALED = '[data-testid="revealed"]'
XSS = """Here is my answer.

<script>window.pwned = 1; alert("script")</script>

<img src="x" onerror="window.pwned = 2; alert('img')">

[click me](javascript:window.pwned=3;alert('link')) and <a href="javascript:alert('raw')">raw link</a>

<svg onload="window.pwned = 4"></svg>

```html
<script>window.pwned = 5</script>
```
"""


@pytest.fixture(autouse=True)
def _limits(settings):
    factories.fresh_rate_limits(settings)


def _sign_in_with_keys(page, live_server, username: str) -> None:
    page.goto(f"{live_server.url}/accounts/login/?next=/vote/")
    page.focus("#id_username")
    page.keyboard.type(username)
    page.keyboard.press("Tab")
    page.keyboard.type(factories.PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_selector('[data-testid="intro"]')
    page.wait_for_load_state("load")  # vote.js (deferred) listens for the keys from here on


def _token(page) -> str:
    return page.get_attribute(OPEN_PANEL, "hx-post")


def _wait_for_a_new_battle(page, old_token: str) -> None:
    page.wait_for_function(
        "old => { const p = document.querySelector('#vote-panel[data-vote-state=open]'); return p && p.getAttribute('hx-post') !== old; }",
        arg=old_token,
    )


def test_a_newcomer_reads_the_guidelines_and_votes_twenty_battles_with_the_keyboard(
    live_server, page, transactional_db
):
    task, contenders = factories.make_voting_arena(n_contenders=4, n_prompts=6)
    task.prompt_set.vote_dimensions.set(Dimension.objects.filter(slug="correctness"))
    user = factories.make_user("newcomer")
    _sign_in_with_keys(page, live_server, "newcomer")
    assert "Prefer correct answers." in page.inner_text(".guidelines-full")
    page.keyboard.press("Enter")

    keys = ["1", "2", "ArrowLeft", "ArrowRight", "3", "4"]
    page.wait_for_selector(OPEN_PANEL)
    skipped = _token(page)
    page.keyboard.press("s")  # skip the first battle: recorded, not a vote
    _wait_for_a_new_battle(page, skipped)
    for n in range(20):
        token = _token(page)
        if n % 5 == 0:  # the optional correctness row: down, choose (moves back to overall), then vote
            page.keyboard.press("ArrowDown")
            page.keyboard.press("1")
        page.keyboard.press(keys[n % len(keys)])
        page.wait_for_selector(REVEALED)
        names = page.inner_text(REVEALED)
        assert any(c.name in names for c in contenders)
        assert page.locator("#vote-panel button:disabled").count() == 4
        assert page.inner_text("#name-left") and page.inner_text("#name-right")
        page.keyboard.press("Enter")
        _wait_for_a_new_battle(page, token)

    page.keyboard.press("g")
    assert page.locator("#guidelines").get_attribute("open") is not None
    assert (
        page.inner_text('[data-testid="total"]') == "20" and page.inner_text('[data-testid="today"]') == "20"
    )
    overall = Verdict.objects.filter(
        source=people_source(), dimension__slug="overall", voter_key=f"u:{user.pk}"
    )
    assert overall.count() == 20 and overall.filter(user=user).count() == 20
    assert Verdict.objects.filter(dimension__slug="correctness").count() == 4
    assert Assignment.objects.filter(state="skipped").count() == 1
    assert set(overall.values_list("outcome", flat=True)) == {"a", "b", "tie", "both_bad"}

    # ... and after a recompute, the people's leaderboard is made of those twenty votes.
    from leaderboard.services.recompute import leaderboards_recompute

    leaderboards_recompute(trigger="test")
    page.goto(f"{live_server.url}/leaderboard/?source=people&dimension=overall")
    shown = page.locator("main [data-testid=leaderboard-table] tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.contender)"
    )
    assert sorted(shown) == sorted(c.slug for c in contenders)
    assert "· 20 verdicts" in page.inner_text("main")


def _xss_arena():
    task, contenders = factories.make_voting_arena(n_contenders=2, n_prompts=1)
    for contender in contenders:
        Output.objects.filter(contender=contender).update(
            text=XSS + f"\n\nfrom {contender.pk}", **style_counts(XSS)
        )
    return task, contenders


def test_an_answer_with_script_img_onerror_and_javascript_links_is_inert(live_server, page, transactional_db):
    _xss_arena()
    factories.make_user("eve")
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    _sign_in_with_keys(page, live_server, "eve")
    page.keyboard.press("Enter")
    page.wait_for_selector(OPEN_PANEL)
    answer = page.locator('.answer[data-side="left"]')
    assert "<script>" in answer.inner_text() and "onerror" in answer.inner_text()  # shown as text
    assert (
        page.locator(".answer script, .answer img, .answer svg, .answer [onerror], .answer [onload]").count()
        == 0
    )
    assert page.locator('.answer a[href^="javascript"]').count() == 0
    page.get_by_text("click me").first.click()
    page.get_by_text("raw link").first.click()
    page.keyboard.press("1")
    page.wait_for_selector(REVEALED)
    page.wait_for_timeout(300)
    assert page.evaluate("typeof window.pwned") == "undefined"
    assert dialogs == []


def test_nothing_sent_before_the_vote_names_the_models(live_server, page, transactional_db):
    task, contenders = factories.make_voting_arena(n_contenders=2, n_prompts=2)
    factories.make_user("blind")
    bodies: list[str] = []
    page.on(
        "response",
        lambda r: (
            bodies.append(r.text())
            if r.status < 300 and "text" in (r.headers.get("content-type") or "")
            else None
        ),
    )
    _sign_in_with_keys(page, live_server, "blind")
    page.keyboard.press("Enter")
    page.wait_for_selector(OPEN_PANEL)
    before = page.content()
    secrets = [value for c in Contender.objects.all() for value in (c.name, c.slug)]
    for body in [before, *bodies]:
        assert not [s for s in secrets if s in body]
    assignment = Assignment.objects.get()
    assert _token(page) == f"/vote/b/{assignment.token}/" and len(assignment.token) >= 32  # random, not an id
    assert f"/{assignment.battle_id}/" not in before
    page.keyboard.press("2")
    page.wait_for_selector(REVEALED)
    assert any(c.name in page.inner_text(REVEALED) for c in contenders)
