"""A contender's outputs out (page, API, command) as AlpacaEval JSON or JSON lines; blind answers only for
the contender's submitter and staff; clear errors for bad parameters."""

import json
from html import unescape
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.http import StreamingHttpResponse

from arena.models import ApiToken, Output, PromptSet
from arena.services.outputs import outputs_import
from tests.support import factories

pytestmark = pytest.mark.django_db


def page(slug: str) -> str:
    return f"/contenders/{slug}/outputs/export/"


def api(slug: str) -> str:
    return f"/api/contenders/{slug}/outputs"


def body(response) -> str:
    assert response.status_code == 200, response.content
    assert isinstance(response, StreamingHttpResponse)
    return b"".join(response.streaming_content).decode()


def lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line]


@pytest.fixture
def owner():
    return factories.make_user("owner")


@pytest.fixture
def model(owner):
    """An approved contender with three outputs in one set and two in another; no open task."""
    contender = factories.make_contender("my-model", user=owner)
    factories.make_outputs(contender, factories.make_prompt_set("set-one", n_prompts=3))
    factories.make_outputs(contender, factories.make_prompt_set("set-two", n_prompts=2))
    return contender


def test_jsonl_export_reimports_unchanged_into_another_contender(client, model):
    exported = body(client.get(page("my-model"), {"format": "jsonl", "prompt_set": "set-one"}))
    other = factories.make_contender("other-model")

    result = outputs_import(
        contender=other,
        prompt_set=PromptSet.objects.get(slug="set-one"),
        data=exported.encode(),
        filename="export.jsonl",
        fmt=None,
    )

    assert result.created == 3
    mine = dict(model.outputs.filter(prompt__prompt_set__slug="set-one").values_list("prompt_id", "text"))
    theirs = dict(other.outputs.values_list("prompt_id", "text"))
    assert theirs == mine


def test_alpaca_eval_export_is_one_list_with_instruction_output_generator(client, model):
    records = json.loads(body(client.get(page("my-model"), {"format": "alpaca_eval"})))

    assert len(records) == 5
    assert set(records[0]) == {"instruction", "output", "generator", "dataset"}
    assert {r["generator"] for r in records} == {"my-model"}
    texts = set(Output.objects.filter(contender=model).values_list("text", flat=True))
    assert {r["output"] for r in records} == texts


def test_api_and_command_give_the_same_file_as_the_page(client, model):
    from_page = body(client.get(page("my-model"), {"format": "alpaca_eval"}))
    from_api = body(client.get(api("my-model"), {"format": "alpaca_eval"}))
    out = StringIO()
    call_command("export_outputs", "--contender", "my-model", "--format", "alpaca_eval", stdout=out)

    assert from_page == from_api == out.getvalue()


@pytest.fixture
def blind_model(owner):
    """A contender whose answers in `vote-set` an open annotation task still serves."""
    task, contenders = factories.make_voting_arena(n_contenders=2)
    contender = contenders[0]
    contender.submitted_by = owner
    contender.save()
    factories.make_outputs(contender, factories.make_prompt_set("open-set", n_prompts=2))
    return contender


def test_blind_outputs_go_to_the_submitter_and_staff_only(client, owner, blind_model):
    slug = blind_model.slug
    staff = factories.make_user("boss", is_staff=True)
    _, staff_token = ApiToken.issue(user=staff, name="t")
    _, owner_token = ApiToken.issue(user=owner, name="t")
    _, other_token = ApiToken.issue(user=factories.make_user("someone"), name="t")

    visitor = lines(body(client.get(page(slug))))
    other = lines(body(client.get(api(slug), headers={"Authorization": f"Bearer {other_token}"})))
    by_owner = lines(body(client.get(api(slug), headers={"Authorization": f"Bearer {owner_token}"})))
    by_staff = lines(body(client.get(api(slug), headers={"Authorization": f"Bearer {staff_token}"})))
    client.force_login(owner)
    owner_page = lines(body(client.get(page(slug))))

    assert {r["prompt_set"] for r in visitor} == {"open-set"} and len(visitor) == 2
    assert other == visitor
    for full in (by_owner, by_staff, owner_page):
        assert len(full) == 5 and {r["prompt_set"] for r in full} == {"open-set", "vote-set"}


def test_a_pending_contenders_outputs_are_not_found_by_others(client, owner):
    pending = factories.make_contender("secret-model", status="pending", user=owner)
    factories.make_outputs(pending, factories.make_prompt_set("p-set", n_prompts=1))

    assert client.get(page("secret-model")).status_code == 404
    assert client.get(api("secret-model")).status_code == 404
    client.force_login(owner)
    assert len(lines(body(client.get(page("secret-model"))))) == 1


@pytest.mark.parametrize(
    ("params", "status", "message"),
    [
        ({"format": "csv"}, 400, "Unknown format 'csv'"),
        ({"prompt_set": "nope"}, 404, "No prompt set with slug 'nope'"),
    ],
)
def test_bad_parameters_are_clear_errors(client, model, params, status, message):
    before = Output.objects.count()

    from_page = client.get(page("my-model"), params)
    from_api = client.get(api("my-model"), params)

    assert from_page.status_code == status and message in unescape(from_page.content.decode())
    assert from_api.status_code == status and message in from_api.json()["error"]
    assert Output.objects.count() == before


def test_command_errors_name_the_problem_and_write_nothing(model, tmp_path):
    target = tmp_path / "out.json"

    with pytest.raises(CommandError, match="No contender with slug 'nobody'"):
        call_command("export_outputs", "--contender", "nobody", "--output", str(target))
    with pytest.raises(CommandError, match="No prompt set with slug 'nope'.*Nothing was exported"):
        call_command(
            "export_outputs", "--contender", "my-model", "--prompt-set", "nope", "--output", str(target)
        )

    assert list(tmp_path.iterdir()) == []


def test_the_contender_page_links_both_downloads(client, model):
    html = client.get("/contenders/my-model/").content.decode()

    assert "outputs/export/?format=alpaca_eval" in html and "outputs/export/?format=jsonl" in html
