"""A person signs in, registers a contender, uploads its outputs and sees them listed: in real Chromium."""

import pytest

from arena.models import Contender
from tests.support import factories

pytestmark = pytest.mark.browser


def test_sign_in_register_upload_and_see_outputs(live_server, page, tmp_path, transactional_db):
    factories.make_user("carol")
    prompt_set = factories.make_prompt_set("browser-set", n_prompts=3)
    outputs = tmp_path / "outputs.jsonl"
    outputs.write_text(
        '{"prompt_id": "p1", "output": "one"}\n{"prompt_id": "p2", "output": "two"}\n{"prompt": "Question number 3?", "output": "three"}\n'
    )

    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", "carol")
    page.fill("#id_password", factories.PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url("**/me/contenders/")

    page.click("text=Register a contender")
    page.fill("#id_slug", "carol-7b")
    page.fill("#id_name", "Carol 7B")
    page.fill("#id_organization", "Carol Labs")
    page.click("main button[type=submit]")
    page.wait_for_url("**/contenders/carol-7b/upload/")

    page.select_option("#id_prompt_set", prompt_set.slug)
    page.set_input_files("#id_file", str(outputs))
    page.click("main button[type=submit]")
    page.wait_for_url("**/contenders/carol-7b/")
    assert page.inner_text("[data-testid=output-count]") == "3"
    assert page.inner_text("[data-testid=status]") == "Pending review"
    assert "Imported 3 outputs" in page.inner_text(".messages")

    page.goto(f"{live_server.url}/me/contenders/")
    row = page.locator("tr", has_text="Carol 7B")
    assert "3" in row.inner_text() and "Pending" in row.inner_text()
    assert Contender.objects.get(slug="carol-7b").outputs.count() == 3


def test_a_bad_upload_shows_the_line_and_reason(live_server, page, tmp_path, transactional_db):
    user = factories.make_user("dave")
    factories.make_prompt_set("browser-set", n_prompts=2)
    factories.make_contender("dave-1b", status="pending", user=user)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt_id": "p1", "output": "ok"}\n{"prompt_id": "p9", "output": "?"}\n')
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", "dave")
    page.fill("#id_password", factories.PASSWORD)
    page.click("main button[type=submit]")
    page.goto(f"{live_server.url}/contenders/dave-1b/upload/")
    page.select_option("#id_prompt_set", "browser-set")
    page.set_input_files("#id_file", str(bad))
    page.click("main button[type=submit]")
    assert "line 2: unknown prompt id 'p9'" in page.inner_text(".errors")
    assert Contender.objects.get(slug="dave-1b").outputs.count() == 0
