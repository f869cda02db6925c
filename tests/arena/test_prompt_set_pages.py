"""Prompt sets are public documents: pages, downloads, API and export_prompts, so a submitter can find,
download and answer the prompts without reading the database."""

from __future__ import annotations

import io
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command

from arena.models import Contender, Output, PromptSet
from tests.support import factories


@pytest.fixture
def answered_set(db, prompt_set):
    """demo-set (3 prompts): approved "full" answered all, approved "half" one, pending "secret" all."""
    full = factories.make_contender("full")
    factories.make_outputs(full, prompt_set, template="FULL-ANSWER {n}")
    half = factories.make_contender("half")
    factories.make_outputs(half, prompt_set)
    Output.objects.filter(contender=half).exclude(prompt__external_id="p1").delete()
    secret = factories.make_contender("secret", status=Contender.Status.PENDING)
    factories.make_outputs(secret, prompt_set)
    return prompt_set


def lines(response) -> list[dict]:
    body = b"".join(response.streaming_content).decode()
    return [json.loads(line) for line in body.splitlines()]


def test_the_list_links_every_set_and_its_downloads(client, answered_set):
    factories.make_prompt_set("other-set", n_prompts=2)

    html = client.get("/prompt-sets/").content.decode()

    for slug, n in (("demo-set", 3), ("other-set", 2)):
        row = html.split(f'data-prompt-set="{slug}"', 1)[1].split("</tr>", 1)[0]
        assert f'href="/prompt-sets/{slug}/"' in row and f"/prompt-sets/{slug}/prompts.jsonl" in row
        assert f"/prompt-sets/{slug}/outputs-template.jsonl" in row and f'<td class="num">{n}</td>' in row


def test_the_page_shows_prompts_categories_and_who_answered_how_many(client, answered_set):
    html = client.get("/prompt-sets/demo-set/").content.decode()

    for prompt in answered_set.prompts.all():
        assert f'data-prompt="{prompt.external_id}"' in html and prompt.text in html
    assert '<td>general</td><td class="num">3</td>' in html
    answered = html.split('data-testid="answered"', 1)[1].split("</table>", 1)[0]
    assert 'data-contender="full"' in answered and "3 of 3" in answered
    assert 'data-contender="half"' in answered and "1 of 3" in answered
    assert "secret" not in html  # a pending contender is not public
    assert "FULL-ANSWER" not in html  # answers never appear with names here
    assert "answer 1" not in html  # references stay hidden unless the set shows them


def test_references_show_only_when_the_set_says_so(client, answered_set):
    PromptSet.objects.filter(pk=answered_set.pk).update(show_references=True)

    html = client.get("/prompt-sets/demo-set/").content.decode()
    records = lines(client.get("/prompt-sets/demo-set/prompts.jsonl"))

    assert "Reference answer" in html and "answer 1" in html
    assert [r["reference"] for r in records] == [
        p.reference_answer for p in answered_set.prompts.order_by("id")
    ]


def test_prompts_download_round_trips_through_import_prompts(client, answered_set, tmp_path):
    response = client.get("/prompt-sets/demo-set/prompts.jsonl")
    records = lines(client.get("/prompt-sets/demo-set/prompts.jsonl"))

    assert 'filename="demo-set-prompts.jsonl"' in response["Content-Disposition"]
    assert [(r["id"], r["text"], r["category"]) for r in records] == list(
        answered_set.prompts.order_by("id").values_list("external_id", "text", "category")
    )
    assert all("reference" not in r for r in records)
    path = tmp_path / "prompts.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    call_command("import_prompts", str(path), prompt_set="copy-set", stdout=io.StringIO())
    assert PromptSet.objects.get(slug="copy-set").prompts.count() == len(records)


def test_the_outputs_template_has_one_empty_output_per_prompt(client, answered_set):
    records = lines(client.get("/prompt-sets/demo-set/outputs-template.jsonl"))

    prompts = list(answered_set.prompts.order_by("id"))
    assert [r["prompt_id"] for r in records] == [p.external_id for p in prompts]
    assert [r["prompt"] for r in records] == [p.text for p in prompts]
    assert all(r["output"] == "" for r in records)


def test_the_template_filled_in_uploads_and_unfilled_is_refused_line_by_line(
    alice_client, alice, answered_set
):
    mine = factories.make_contender("mine", status=Contender.Status.PENDING, user=alice)
    template = lines(alice_client.get("/prompt-sets/demo-set/outputs-template.jsonl"))
    unfilled = "".join(json.dumps(r) + "\n" for r in template).encode()

    refused = alice_client.post(
        "/contenders/mine/upload/",
        {"prompt_set": "demo-set", "file": SimpleUploadedFile("t.jsonl", unfilled)},
    )
    html = refused.content.decode()
    assert refused.status_code == 400 and "3 problems, so nothing was imported" in html
    for line in (1, 2, 3):
        assert f"line {line}: the output for prompt &#x27;p{line}&#x27; is empty" in html
    assert mine.outputs.count() == 0

    filled = "".join(
        json.dumps(r | {"output": f"My answer {i}"}) + "\n" for i, r in enumerate(template)
    ).encode()
    accepted = alice_client.post(
        "/contenders/mine/upload/", {"prompt_set": "demo-set", "file": SimpleUploadedFile("t.jsonl", filled)}
    )
    assert accepted.status_code == 302 and mine.outputs.count() == 3


def test_an_unknown_set_is_a_404_that_points_to_the_list(client, db):
    for url in (
        "/prompt-sets/nope/",
        "/prompt-sets/nope/prompts.jsonl",
        "/prompt-sets/nope/outputs-template.jsonl",
    ):
        assert client.get(url).status_code == 404


def test_the_api_lists_sets_and_their_prompts(client, answered_set):
    sets = client.get("/api/prompt-sets").json()
    prompts = client.get("/api/prompt-sets/demo-set/prompts").json()

    assert {"slug": "demo-set", "name": answered_set.name, "description": "", "n_prompts": 3} in sets
    assert [p["id"] for p in prompts] == ["p1", "p2", "p3"] and all(p["reference"] is None for p in prompts)
    assert prompts[0]["text"] == answered_set.prompts.get(external_id="p1").text


def test_the_api_refuses_an_unknown_set_with_json(client, db):
    response = client.get("/api/prompt-sets/nope/prompts")

    assert response.status_code == 404 and response.json()["error"] == "No prompt set with slug 'nope'."


def test_export_prompts_writes_prompts_or_the_template(answered_set, tmp_path):
    out = io.StringIO()
    call_command("export_prompts", "demo-set", stdout=out)
    assert [json.loads(line)["id"] for line in out.getvalue().splitlines()] == ["p1", "p2", "p3"]

    path = tmp_path / "template.jsonl"
    call_command("export_prompts", "demo-set", "--template", "-o", str(path), stderr=io.StringIO())
    assert [json.loads(line)["output"] for line in path.read_text().splitlines()] == ["", "", ""]


def test_export_prompts_refuses_an_unknown_set_and_writes_no_file(db, tmp_path):
    path = tmp_path / "never.jsonl"

    with pytest.raises(CommandError, match="No prompt set with slug 'nope'"):
        call_command("export_prompts", "nope", "-o", str(path))
    assert not path.exists()


def test_the_upload_page_links_the_sets_and_shows_the_coverage(alice_client, alice, answered_set):
    mine = factories.make_contender("mine", status=Contender.Status.PENDING, user=alice)
    factories.make_outputs(mine, answered_set)
    Output.objects.filter(contender=mine, prompt__external_id="p3").delete()
    factories.make_prompt_set("other-set", n_prompts=2)

    html = alice_client.get("/contenders/mine/upload/").content.decode()

    coverage = html.split('data-testid="coverage"', 1)[1].split("</table>", 1)[0]
    assert "2 of 3 (incomplete)" in coverage and "0 of 2" in coverage
    assert (
        "/prompt-sets/demo-set/outputs-template.jsonl" in coverage
        and 'href="/prompt-sets/other-set/"' in coverage
    )


def test_the_admin_contender_list_shows_outputs_per_prompt_set(client, staff, answered_set):
    client.force_login(staff)

    html = client.get("/admin/arena/contender/").content.decode()

    assert "Outputs per prompt set" in html
    assert "demo-set: 3 of 3" in html and "demo-set: 1 of 3" in html
