"""Multi-turn prompt sets and outputs in: MT-Bench questions and answers, OpenAI `messages` lines and the
arena's own JSON lines with turns, through the command line, the upload page and the API; bad files are
refused whole with the file, line and reason, and change nothing."""

from __future__ import annotations

import io
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command

from arena.models import ApiToken, Contender, Output, Prompt, PromptSet
from tests.support import factories
from tests.support.conversations import DATA, QUESTIONS, answers_file, import_mt_bench


def _state():
    return (
        PromptSet.objects.count(),
        list(Prompt.objects.order_by("id").values_list("external_id", "text", "later_turns")),
        list(Output.objects.order_by("id").values_list("text", "later_replies")),
    )


def test_mt_bench_questions_import_as_two_turn_prompts(db):
    call_command("import_prompts", str(QUESTIONS), prompt_set="mt-mini", stdout=io.StringIO())
    prompts = {p.external_id: p for p in Prompt.objects.all()}
    assert sorted(prompts) == ["101", "102", "103"]
    math = prompts["102"]
    assert math.category == "math" and math.is_multi_turn
    assert math.user_turns == [
        "A shop sells pencils at 3 for 45 cents. What do 12 pencils cost?",
        "If the price rises by one third, what do 12 pencils cost then?",
    ]
    # MT-Bench's per-turn references are kept as one text, each turn's labelled.
    assert math.reference_answer.startswith("Turn 1:\n12 pencils are 4 groups of 3")
    assert "\n\nTurn 2:\nThe new price is 60 cents" in math.reference_answer
    assert prompts["101"].reference_answer == "" and prompts["101"].system_message == ""


@pytest.fixture
def mt_set(db):
    prompt_set = import_mt_bench(models=())[0]
    return prompt_set


@pytest.mark.parametrize("way", ["cli", "page", "api"])
def test_mt_bench_answers_import_one_reply_per_turn(mt_set, alice, client, tmp_path, way):
    contender = factories.make_contender("alpha-7b", status=Contender.Status.PENDING, user=alice)
    path = answers_file("alpha-7b")
    if way == "cli":
        call_command(
            "import_outputs", str(path), contender="alpha-7b", prompt_set="mt-mini", stdout=io.StringIO()
        )
    elif way == "page":
        client.force_login(alice)
        response = client.post(
            "/contenders/alpha-7b/upload/",
            {"prompt_set": "mt-mini", "format": "mt_bench", "file": SimpleUploadedFile(path.name, path.read_bytes())},
        )  # fmt: skip
        assert response.status_code == 302
    else:
        _, token = ApiToken.issue(user=alice, name="t")
        response = client.post(
            "/api/contenders/alpha-7b/outputs",
            {"prompt_set": "mt-mini", "file": SimpleUploadedFile(path.name, path.read_bytes())},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert response.status_code == 201 and response.json()["created"] == 3
    output = Output.objects.get(contender=contender, prompt__external_id="102")
    assert output.replies == [
        "Each pencil costs 15 cents, so 12 pencils cost 12 x 15 = 180 cents, or $1.80.",
        "One third more is 20 cents a pencil, so 12 pencils cost $2.40.",
    ]
    assert Output.objects.filter(contender=contender).count() == 3
    # Style counts read the whole conversation: both code blocks of question 103, every character of 101.
    invitation = Output.objects.get(contender=contender, prompt__external_id="101")
    assert invitation.n_chars == len("\n\n".join(invitation.replies)) and invitation.n_bold == 1


def test_messages_lines_import_prompts_with_a_system_message_and_outputs(db, tmp_path):
    call_command(
        "import_prompts", str(DATA / "messages_prompts.jsonl"), prompt_set="trips", stdout=io.StringIO()
    )
    trip = Prompt.objects.get(external_id="trip-1")
    assert trip.system_message == "You are a concise travel assistant."
    assert trip.user_turns == [
        "Suggest a one-day walking route in Lisbon.",
        "Make it suitable for a rainy day.",
    ]
    assert not Prompt.objects.get(external_id="greet-1").is_multi_turn
    contender = factories.make_contender("alpha-7b")
    call_command(
        "import_outputs", str(DATA / "messages_outputs.jsonl"), contender="alpha-7b", prompt_set="trips",
        format="messages", stdout=io.StringIO(),
    )  # fmt: skip
    output = Output.objects.get(contender=contender, prompt=trip)
    assert output.later_replies == [
        "Swap the castle for the tile museum and end in the covered Time Out market."
    ]
    assert Output.objects.get(contender=contender, prompt__external_id="greet-1").replies == ["Bonjour !"]


def test_the_arena_jsonl_with_turns_round_trips_through_the_downloads(client, db, tmp_path):
    prompt_set, (alpha, _) = import_mt_bench()
    prompts_path = tmp_path / "prompts.jsonl"
    prompts_path.write_bytes(client.get(f"/prompt-sets/{prompt_set.slug}/prompts.jsonl").getvalue())
    assert json.loads(prompts_path.read_text().splitlines()[0])["turns"][1].startswith("Now rewrite it")
    call_command("import_prompts", str(prompts_path), prompt_set="copy", stdout=io.StringIO())
    outputs_path = tmp_path / "outputs.jsonl"
    call_command("export_outputs", contender=alpha.slug, prompt_set=prompt_set.slug, output=str(outputs_path))
    twin = factories.make_contender("alpha-copy", name="Alpha copy")
    lines = [json.loads(line) | {"generator": None} for line in outputs_path.read_text().splitlines()]
    outputs_path.write_text(
        "\n".join(json.dumps({k: v for k, v in rec.items() if v is not None}) for rec in lines)
    )
    call_command(
        "import_outputs", str(outputs_path), contender=twin.slug, prompt_set="copy", stdout=io.StringIO()
    )
    copied = {o.prompt.external_id: o.replies for o in Output.objects.filter(contender=twin)}
    original = {o.prompt.external_id: o.replies for o in Output.objects.filter(contender=alpha)}
    assert copied == original and all(len(replies) == 2 for replies in copied.values())
    copies = {
        p.external_id: (p.user_turns, p.category) for p in Prompt.objects.filter(prompt_set__slug="copy")
    }
    assert copies == {p.external_id: (p.user_turns, p.category) for p in prompt_set.prompts.all()}


def test_an_alpaca_eval_export_of_conversations_is_refused_before_anything_is_written(db, tmp_path):
    prompt_set, (alpha, _) = import_mt_bench()
    target = tmp_path / "alpha.json"
    with pytest.raises(
        CommandError, match="'mt-mini' has multi-turn prompts, and AlpacaEval's format holds one"
    ):
        call_command("export_outputs", contender=alpha.slug, format="alpaca_eval", output=str(target))
    assert not target.exists()


def _messages(*pairs) -> list[dict]:
    return [{"role": role, "content": content} for role, content in pairs]


TURN_1 = "Write a two-sentence invitation to a neighbourhood book swap on Saturday morning."
TURN_2 = "Now rewrite it for a noticeboard, in capital letters, keeping the two sentences."
GOOD_OUTPUT = {"prompt_id": "102", "output": ["$1.80.", "$2.40."]}

# (case id, records; the first is always good, so a partial write would show, fragment of the message)
BAD_OUTPUTS = [
    ("one-reply-for-two-turns", [{"prompt_id": "101", "output": "Only one reply."}],
     "line 2: prompt '101' has 2 user turns but this record gives 1 reply; give one reply per turn"),
    ("three-replies", [{"prompt_id": "101", "output": ["a", "b", "c"]}],
     "line 2: prompt '101' has 2 user turns but this record gives 3 replies"),
    ("empty-reply", [{"prompt_id": "101", "output": ["fine", "  "]}], "line 2: reply 2 of field 'output' is empty"),
    ("not-alternating", [{"prompt_id": "101", "messages": _messages(("user", TURN_1), ("user", TURN_2), ("assistant", "x"))}],
     "line 2: message 2 should be the assistant's reply but is a user message"),
    ("ends-with-a-user-turn", [{"prompt_id": "101", "messages": _messages(("user", TURN_1), ("assistant", "x"), ("user", TURN_2))}],
     "line 2: the last message is a user turn without the assistant's reply"),
    ("other-user-turn", [{"prompt_id": "101", "messages": _messages(("user", TURN_1), ("assistant", "x"), ("user", "Something else?"), ("assistant", "y"))}],
     "line 2: user turn 2 is not prompt '101''s turn 2"),
    ("empty-message", [{"prompt_id": "101", "messages": _messages(("user", TURN_1), ("assistant", ""), ("user", TURN_2), ("assistant", "y"))}],
     "line 2: message 2 (assistant) is empty"),
    ("mt-bench-two-choices", [{"question_id": 101, "model_id": "gamma", "choices": [{"turns": ["a", "b"]}, {"turns": ["c", "d"]}]}],
     "line 2: field 'choices' must be a list of exactly one"),
]  # fmt: skip


@pytest.mark.parametrize(("case", "records", "fragment"), BAD_OUTPUTS, ids=[c[0] for c in BAD_OUTPUTS])
def test_bad_conversation_outputs_are_refused_and_change_nothing(mt_set, tmp_path, case, records, fragment):
    factories.make_contender("gamma")
    first = GOOD_OUTPUT
    if "messages" in records[0]:
        first = {"prompt_id": "102", "messages": _messages(*zip(["user", "assistant"] * 2, [
            Prompt.objects.get(external_id="102").text, "$1.80.", Prompt.objects.get(external_id="102").later_turns[0], "$2.40."
        ], strict=True))}  # fmt: skip
    elif "choices" in records[0]:
        first = {"question_id": 102, "model_id": "gamma", "choices": [{"turns": ["$1.80.", "$2.40."]}]}
    path = tmp_path / "answers.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in [first, *records]) + "\n")
    before = _state()
    with pytest.raises(CommandError) as error:
        call_command("import_outputs", str(path), contender="gamma", prompt_set="mt-mini")
    assert fragment in str(error.value)
    assert str(error.value).startswith(str(path))
    assert _state() == before


def test_an_alpaca_eval_answer_to_a_conversation_is_refused(mt_set, tmp_path):
    factories.make_contender("gamma")
    path = tmp_path / "alpaca.json"
    path.write_text(json.dumps([{"instruction": TURN_1, "output": "One reply.", "generator": "gamma"}]))
    before = _state()
    with pytest.raises(
        CommandError, match="record 1: prompt '101' has 2 user turns but this record gives 1 reply"
    ):
        call_command("import_outputs", str(path), contender="gamma", prompt_set="mt-mini")
    assert _state() == before


GOOD_PROMPT = {"question_id": 1, "category": "x", "turns": ["First?", "Second?"]}
BAD_PROMPTS = [
    ("empty-turn", {"question_id": 2, "turns": ["Fine?", " "]}, "line 2: turn 2 of field 'turns' is empty"),
    ("turns-not-a-list", {"question_id": 2, "turns": "Fine?"}, "line 2: field 'turns' must be a list of one turn or more"),
    ("no-turns", {"question_id": 2, "turns": []}, "line 2: field 'turns' must be a list of one turn or more (strings), got an empty list"),
    ("turn-not-text", {"question_id": 2, "turns": ["Fine?", 7]}, "line 2: turn 2 of field 'turns' must be a string, got int"),
]  # fmt: skip
BAD_MESSAGE_PROMPTS = [
    ("assistant-in-a-prompt", _messages(("user", "a"), ("assistant", "b"), ("user", "c")),
     "line 2: message 2 is an assistant message; a prompts file gives the user turns only"),
    ("system-not-first", _messages(("user", "a"), ("system", "b")), "line 2: message 2 is a system message; only the first"),
    ("unknown-role", _messages(("user", "a"), ("tool", "b")), "line 2: message 2 has role 'tool'"),
    ("system-only", _messages(("system", "a")), "line 2: 'messages' holds a system message only"),
    ("image-part", [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "http://x"}}]}],
     "line 2: the content of message 1 has a part that is not text"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("case", "lines", "fragment"),
    [(c, [GOOD_PROMPT, rec], f) for c, rec, f in BAD_PROMPTS]
    + [(c, [{"id": "1", "messages": _messages(("user", "ok"))}, {"id": "2", "messages": m}], f) for c, m, f in BAD_MESSAGE_PROMPTS]
    + [("text-and-turns", [{"id": "1", "text": "a"}, {"id": "2", "text": "b", "turns": ["b", "c"]}], "line 2: give either 'text' (one turn) or 'turns'")],
    ids=[c[0] for c in BAD_PROMPTS] + [c[0] for c in BAD_MESSAGE_PROMPTS] + ["text-and-turns"],
)  # fmt: skip
def test_bad_conversation_prompts_are_refused_and_change_nothing(db, tmp_path, case, lines, fragment):
    path = tmp_path / "prompts.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in lines) + "\n")
    with pytest.raises(CommandError) as error:
        call_command("import_prompts", str(path), prompt_set="bad")
    assert fragment in str(error.value)
    assert _state() == (0, [], [])


def test_an_explicit_format_wins_over_detection_and_names_what_is_missing(db, tmp_path):
    path = tmp_path / "prompts.jsonl"
    path.write_text(json.dumps({"id": "1", "text": "Hello?"}) + "\n")
    with pytest.raises(CommandError, match="line 1: missing field 'question_id'"):
        call_command("import_prompts", str(path), prompt_set="bad", format="mt_bench")
    assert _state() == (0, [], [])
    call_command("import_prompts", str(path), prompt_set="good", stdout=io.StringIO())
    assert Prompt.objects.get().user_turns == ["Hello?"]


def test_the_outputs_template_of_a_conversation_set_asks_one_reply_per_turn(client, mt_set, alice):
    template = client.get("/prompt-sets/mt-mini/outputs-template.jsonl").getvalue().decode()
    records = [json.loads(line) for line in template.splitlines()]
    assert all(len(r["turns"]) == 2 and r["output"] == ["", ""] for r in records)
    factories.make_contender("gamma", status=Contender.Status.PENDING, user=alice)
    client.force_login(alice)

    def upload(lines):
        data = "\n".join(json.dumps(r) for r in lines).encode()
        file = SimpleUploadedFile("filled.jsonl", data)
        return client.post("/contenders/gamma/upload/", {"prompt_set": "mt-mini", "file": file})

    refused = upload(records)
    assert (
        refused.status_code == 400
        and "line 1: reply 1 of field &#x27;output&#x27; is empty" in refused.content.decode()
    )
    assert not Output.objects.exists()
    filled = [r | {"output": [f"{r['prompt_id']} first", f"{r['prompt_id']} second"]} for r in records]
    assert upload(filled).status_code == 302
    assert Output.objects.get(prompt__external_id="103").replies == ["103 first", "103 second"]


def test_the_prompt_set_page_lists_every_turn_in_order(client, mt_set):
    html = client.get("/prompt-sets/mt-mini/").content.decode()
    row = html[html.index('data-prompt="101"') :].split("</tr>")[0]
    assert row.index("Write a two-sentence invitation") < row.index("Now rewrite it for a noticeboard")
    assert '<ol class="turns">' in row


def test_the_api_lists_a_conversations_turns_beside_its_first_turn(client, mt_set):
    prompts = {p["id"]: p for p in client.get("/api/prompt-sets/mt-mini/prompts").json()}
    first = Prompt.objects.get(external_id="101")
    assert prompts["101"]["text"] == first.text and prompts["101"]["turns"] == first.user_turns
