"""Raw verdicts out (command, page download, API): records, round trip into `rate`, voter hashes, blind
answers for staff only, streaming, and clear errors for bad parameters."""

import csv
import io
import json
from html import unescape
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.http import StreamingHttpResponse

from arena.models import ApiToken, Verdict
from leaderboard.models import Snapshot
from leaderboard.services.battle_export import voter_hash
from tests.leaderboard.arena_data import arena_make, verdicts_add
from tests.support import factories

PAGE = "/leaderboard/battles/export/"
API = "/api/leaderboard/battles"


def export(*args: str) -> str:
    out = StringIO()
    call_command("export_battles", *args, stdout=out)
    return out.getvalue()


def lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line]


def body(response) -> str:
    assert isinstance(response, StreamingHttpResponse)  # streamed, never built whole
    return b"".join(response.streaming_content).decode()


def test_fastchat_export_rates_back_to_the_stored_leaderboard(rated_arena, tmp_path):
    path = tmp_path / "people.json"
    export("--format", "fastchat", "--source", "people", "--dimension", "overall", "--output", str(path))
    out = StringIO()

    call_command("rate", str(path), "--format", "fastchat", "--json", stdout=out, stderr=StringIO())

    rated = {row["model"]: row["rating"] for row in json.loads(out.getvalue())}
    snapshot = Snapshot.objects.get(
        run=rated_arena.run, dimension__slug="overall", category="", source_key="people"
    )
    stored = dict(snapshot.rows.values_list("contender__slug", "rating"))
    assert set(rated) == set(stored) == {"alpha", "beta", "gamma", "delta"}  # pending omega left out
    for slug, rating in stored.items():
        assert rated[slug] == pytest.approx(rating, abs=1e-6)


def test_fastchat_export_is_one_json_list_of_arena_battles(rated_arena):
    battles = json.loads(export("--format", "fastchat", "--source", "judge-gpt", "--dimension", "overall"))

    counted = Verdict.objects.filter(source__key="judge-gpt", dimension__slug="overall", excluded=False)
    assert (
        len(battles) == counted.exclude(contender_a__slug="omega").exclude(contender_b__slug="omega").count()
    )
    first = battles[0]
    assert first["winner"] in {"model_a", "model_b", "tie", "tie (bothbad)"}
    assert first["conversation_a"][0]["role"] == "user" and first["conversation_a"][1]["role"] == "assistant"
    assert first["judge"] == "judge-gpt" and isinstance(first["tstamp"], float)


def test_jsonl_records_hold_every_field_and_voters_only_as_salted_hashes(rated_arena):
    records = lines(export("--source", "people", "--dimension", "helpfulness"))

    verdict = Verdict.objects.select_related("battle__output_a", "battle__prompt").get(pk=records[0]["id"])
    record = records[0]
    assert record["prompt"] == verdict.battle.prompt.text
    assert record["answer_a"] == verdict.battle.output_a.text and record["answers_withheld"] is False
    assert record["outcome"] == verdict.outcome and record["dimension"] == "helpfulness"
    assert record["source"] == "people" and record["judge_version"] is None
    assert record["voter"] == voter_hash("people", verdict.voter_key)
    assert verdict.voter_key not in json.dumps(records)  # "s:voter0" appears nowhere
    assert len({r["voter"] for r in records}) == 2  # two voters per battle, grouped by their hash


def test_voter_hash_depends_on_the_secret_key(settings):
    first = voter_hash("people", "u:7")
    settings.SECRET_KEY = "another-secret-key-for-this-test-0123456789"

    assert voter_hash("people", "u:7") != first
    assert voter_hash("judge-gpt", "") is None


def test_csv_export_has_a_header_and_a_row_per_verdict(rated_arena):
    rows = list(csv.DictReader(io.StringIO(export("--format", "csv", "--source", "judge-llama"))))

    expected = Verdict.objects.filter(source__key="judge-llama", excluded=False, dimension__is_active=True)
    expected = expected.exclude(contender_a__slug="omega").exclude(contender_b__slug="omega")
    assert len(rows) == expected.count()
    assert {"prompt", "answer_a", "answer_b", "voter", "judge_version", "time"} <= set(rows[0])


def test_since_keeps_later_verdicts_only(rated_arena):
    everything = lines(export("--source", "people"))
    Verdict.objects.filter(pk=everything[0]["id"]).update(created="2020-01-01T00:00:00Z")
    Verdict.objects.exclude(pk=everything[0]["id"]).update(created="2024-06-01T00:00:00Z")

    recent = lines(export("--source", "people", "--since", "2024-01-01"))

    assert len(recent) == len(everything) - 1
    assert everything[0]["id"] not in {r["id"] for r in recent}


@pytest.fixture
def open_task_arena(db):
    """An arena whose battles an open annotation task still serves: every answer is blind."""
    arena = arena_make(("alpha", "beta", "gamma"), n_prompts=2)
    verdicts_add(arena.battles, seed=1)
    factories.make_voting_task(arena.prompt_set, arena.contenders)
    return arena


def test_blind_answers_go_to_staff_only_on_the_page_and_the_api(client, open_task_arena):
    staff = factories.make_user("boss", is_staff=True)
    _, staff_token = ApiToken.issue(user=staff, name="t")
    _, user_token = ApiToken.issue(user=factories.make_user("viewer"), name="t")

    visitor = lines(body(client.get(PAGE)))
    api_user = lines(body(client.get(API, headers={"Authorization": f"Bearer {user_token}"})))
    api_staff = lines(body(client.get(API, headers={"Authorization": f"Bearer {staff_token}"})))
    client.force_login(staff)
    page_staff = lines(body(client.get(PAGE)))

    for withheld in (visitor, api_user):
        assert withheld and all(r["answer_a"] is None and r["answers_withheld"] for r in withheld)
    for full in (api_staff, page_staff):
        assert len(full) == len(visitor) and all(r["answer_a"] and not r["answers_withheld"] for r in full)
    answers = set(open_task_arena.battles[0].output_a.__class__.objects.values_list("text", flat=True))
    assert not any(answer in json.dumps(visitor) for answer in answers)


def test_command_public_withholds_blind_answers(open_task_arena):
    assert all(r["answers_withheld"] for r in lines(export("--public")))
    assert not any(r["answers_withheld"] for r in lines(export()))


def test_page_download_is_an_attachment_named_after_the_filter(client, rated_arena):
    response = client.get(PAGE, {"format": "csv", "source": "people", "dimension": "overall"})

    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"] == 'attachment; filename="battles-people-overall.csv"'
    assert body(response).startswith("id,time,source")


def test_api_takes_repeated_sources(client, rated_arena):
    records = lines(body(client.get(API, {"source": ["judge-gpt", "judge-llama"], "dimension": "overall"})))

    assert {r["source"] for r in records} == {"judge-gpt", "judge-llama"}


BAD = [
    ({"format": "xml"}, "format", "Unknown format 'xml'"),
    ({"source": "nobody"}, "source", "Unknown source 'nobody'"),
    ({"dimension": "taste"}, "dimension", "Unknown dimension 'taste'"),
    ({"since": "last tuesday"}, "since", "since='last tuesday' is not a date"),
    ({"since": "2026-02-30"}, "since", "is not a date or time"),
]


@pytest.mark.parametrize(("params", "field", "message"), BAD)
def test_bad_parameters_are_clear_errors_everywhere(client, rated_arena, params, field, message):
    before = Verdict.objects.count()

    page = client.get(PAGE, params)
    api = client.get(API, params)
    args = [f"--{'format' if k == 'format' else k}={v}" for k, v in params.items()]
    with pytest.raises((CommandError, SystemExit)):
        call_command("export_battles", *args, stdout=StringIO(), stderr=StringIO())

    assert page.status_code == 400 and message in unescape(page.content.decode())
    assert api.status_code == 400 and message in api.json()["error"] and api.json()["field"] == field
    assert Verdict.objects.count() == before


def test_command_error_names_the_problem_and_writes_no_file(rated_arena, tmp_path):
    target = tmp_path / "out.jsonl"

    with pytest.raises(CommandError, match="Unknown source 'nobody'.*Nothing was exported"):
        call_command("export_battles", "--source", "nobody", "--output", str(target))
    with pytest.raises(CommandError, match="does not exist"):
        call_command("export_battles", "--output", str(tmp_path / "missing" / "out.jsonl"))

    assert list(tmp_path.iterdir()) == []


def test_the_leaderboard_links_its_raw_battles_and_judges_means_every_llm_judge(client, rated_arena):
    html = client.get("/leaderboard/", {"source": "judges"}).content.decode()
    link = unescape(html.split('data-testid="battles-export"')[0].rsplit('href="', 1)[1].split('"')[0])

    response = client.get(link)
    assert response.status_code == 200, (link, unescape(response.content.decode())[-600:])
    battles = json.loads(body(response))

    assert link.startswith(PAGE) and "source=judges" in link
    assert {b["source"] for b in battles} == {"judge-gpt", "judge-llama"}


def test_llm_judge_verdicts_carry_their_config_version(db):
    from judges.models import JudgeConfig
    from tests.judges.conftest import make_arena, make_judge, run_inline, start_campaign
    from tests.support.openai_stub import OpenAIStub

    with OpenAIStub(script="prefer-marker") as stub:
        prompt_set, contenders = make_arena(n_prompts=2, slugs=("alpha", "bravo"))
        make_judge("fair", base_url=stub.base_url)
        assert run_inline(start_campaign(prompt_set, contenders, "fair")) == ["done"] * 4
    config = JudgeConfig.objects.get(slug="fair")

    records = lines(export("--source", config.source.key))

    assert len(records) == 2
    assert {r["judge_version"] for r in records} == {config.current_version.number}
    assert all(r["voter"] is None and r["source_kind"] == "judge" for r in records)


def test_a_failure_part_way_leaves_no_file(rated_arena, tmp_path, monkeypatch):
    def failing(export, *, sees_blind):
        yield '{"id": 1}\n'
        raise RuntimeError("the database went away")

    monkeypatch.setattr("leaderboard.management.commands.export_battles.export_chunks", failing)

    with pytest.raises(RuntimeError, match="went away"):
        call_command("export_battles", "--output", str(tmp_path / "out.jsonl"))
    assert list(tmp_path.iterdir()) == []


def test_jsonl_and_csv_hold_the_same_documented_fields(rated_arena):
    from leaderboard.services.battle_export import CSV_COLUMNS

    record = lines(export("--source", "people"))[0]
    header = export("--format", "csv", "--source", "people").splitlines()[0]

    assert tuple(record) == CSV_COLUMNS == tuple(header.split(","))
