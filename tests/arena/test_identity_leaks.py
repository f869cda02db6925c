"""Identity leaks: answers naming their model or vendor are flagged when stored, never served to people, still
judged, and shown to staff."""

from __future__ import annotations

import importlib
import json
from types import SimpleNamespace

import pytest
from django.apps import apps

from arena.models import Assignment, Output
from arena.services.identity_leaks import identity_leak_find
from arena.services.outputs import outputs_import
from judges.models import Generation
from judges.services.generation import generation_run, generation_start
from tests.judges.conftest import make_arena, make_judge, run_inline, start_campaign
from tests.support import factories
from tests.support.openai_stub import OpenAIStub

pytestmark = pytest.mark.django_db
ZEPHYR = SimpleNamespace(name="Zephyr Seven", slug="zephyr-7", organization="Acme Labs")


@pytest.mark.parametrize(
    ("text", "found"),
    [
        (
            "As an AI language model developed by OpenAI, I cannot browse.",
            "As an AI language model developed by OpenAI",
        ),
        ("as a large language model trained by Google, I", "as a large language model trained by Google"),
        ("I am Claude, made to help.", "I am Claude"),
        ("Hello! I'm an AI assistant called Gemini.", "I'm an AI assistant called Gemini"),
        ("I was trained by Anthropic.", "I was trained by Anthropic"),
        ("Zephyr Seven here: the answer is 4.", "Zephyr Seven"),  # the contender's own name
        ("Ask zephyr-7 again.", "zephyr-7"),  # its slug
        ("At ACME LABS we think so.", "ACME LABS"),  # its organization, any case
        ("The capital of France is Paris.", ""),
        ("I am happy to help Google users with Maps.", ""),
        ("Llamas live in the Andes; I am glad you asked.", ""),
    ],
)
def test_phrases_naming_a_model_or_vendor_are_found(text, found):
    assert identity_leak_find(contender=ZEPHYR, text=text) == found


def test_the_names_are_configurable(settings):
    settings.ARENA_IDENTITY_LEAK_NAMES = ["Zorblax"]
    assert identity_leak_find(contender=ZEPHYR, text="I am Zorblax.") == "I am Zorblax"
    assert identity_leak_find(contender=ZEPHYR, text="I am Claude.") == ""


def _upload(contender, prompt_set, answers: list[str]) -> None:
    lines = [json.dumps({"prompt_id": f"p{i}", "output": a}) for i, a in enumerate(answers, start=1)]
    outputs_import(
        contender=contender, prompt_set=prompt_set, data="\n".join(lines).encode(), filename="o.jsonl"
    )


def test_uploaded_outputs_are_flagged_when_stored(db):
    prompt_set = factories.make_prompt_set("leaks", n_prompts=2)
    contender = factories.make_contender("model-x", name="Model X")
    _upload(contender, prompt_set, ["As an AI developed by OpenAI, yes.", "Plain answer."])
    flags = dict(Output.objects.values_list("prompt__external_id", "identity_leak"))
    assert flags == {"p1": "As an AI developed by OpenAI", "p2": ""}


def test_generated_outputs_are_flagged_when_stored(db):
    prompt_set, _ = make_arena(n_prompts=1, slugs=("alpha",))
    with OpenAIStub(script="echo") as stub:
        # The stub's echo answer starts with "[<model>]": name the model like the contender to leak it.
        factories.make_contender("echoer", endpoint_url=stub.base_url, endpoint_model="echoer")
        campaign = generation_start(contender_slugs=["echoer"], prompt_set_slug=prompt_set.slug)
        for pk in Generation.objects.filter(campaign=campaign).values_list("pk", flat=True):
            assert generation_run(generation_id=pk).outcome == "done"
    assert Output.objects.get(contender__slug="echoer").identity_leak.lower() == "echoer"


def _leaky_arena():
    """Two contenders, three prompts; beta's answer to p2 says who made it."""
    task, (alpha, beta) = factories.make_voting_arena(n_contenders=2, n_prompts=3)
    leaked = Output.objects.get(contender=beta, prompt__external_id="p2")
    Output.objects.filter(pk=leaked.pk).update(identity_leak="I am Claude")
    return task, alpha, beta, leaked


def test_battles_with_a_leaked_answer_are_never_served_to_people(db):
    task, _, _, leaked = _leaky_arena()
    served = []
    for n in range(3):
        user = factories.make_annotator_user(f"voter{n}")
        while (assignment := factories.serve_to(task, user)) is not None:
            served.append(assignment.battle)
            Assignment.objects.filter(pk=assignment.pk).update(
                state="skipped", answered_at=assignment.served_at
            )
    assert len(served) == 3 * 2  # three voters, each served the two clean prompts
    assert all(leaked.pk not in (b.output_a_id, b.output_b_id) for b in served)


def test_gold_and_judge_inconsistent_battles_with_a_leak_are_not_served_either(db, settings):
    from arena.models import Dimension, Source
    from arena.services.battles import battle_get_or_create, source_get_or_create
    from arena.services.verdicts import verdict_record
    from arena.voting.staff import gold_add

    settings.ARENA_VOTE_INCONSISTENT_FIRST = True
    task, alpha, _, leaked = _leaky_arena()
    other = Output.objects.get(contender=alpha, prompt=leaked.prompt)
    battle, _ = battle_get_or_create(output_a=other, output_b=leaked)
    judge = source_get_or_create(kind=Source.Kind.JUDGE, key="j", name="J")
    verdict_record(battle=battle, dimension=Dimension.objects.get(slug="overall"), source=judge, outcome="tie",
                   inconsistent=True)  # fmt: skip
    gold_add(task=task, battle=battle, expected="a")
    task.gold_rate = 1.0
    task.save()
    assignment = factories.serve_to(task, factories.make_annotator_user("voter"))
    assert assignment is not None and assignment.battle_id != battle.pk


def test_battles_with_a_leaked_answer_stay_judgeable(db):
    from judges.models import Judgment

    prompt_set, contenders = make_arena(n_prompts=2, slugs=("alpha", "bravo"))
    Output.objects.filter(contender__slug="bravo").update(identity_leak="I am Claude")
    judge = make_judge("lex", provider="lexical", model="token_f1", sees_reference=True)
    campaign = start_campaign(prompt_set, contenders, judge.slug)
    assert set(run_inline(campaign)) == {"done"}
    judged = Judgment.objects.filter(campaign=campaign, status="done")
    assert judged.count() == 2 * 2  # two prompts, both answer orders, every battle with a leaked answer


def test_staff_see_the_flag_on_the_contender_page_and_others_do_not(client, alice, staff):
    prompt_set = factories.make_prompt_set("leaks", n_prompts=2)
    contender = factories.make_contender("model-x", name="Model X", user=alice)
    _upload(contender, prompt_set, ["As an AI developed by OpenAI, yes.", "Plain answer."])
    client.force_login(alice)
    assert "identity-leaks" not in client.get("/contenders/model-x/").content.decode()
    client.force_login(staff)
    html = client.get("/contenders/model-x/").content.decode()
    assert 'data-testid="identity-leak-count">1<' in html and "As an AI developed by OpenAI" in html
    admin = client.get("/admin/arena/output/?leak=yes").content.decode()
    assert "As an AI developed by OpenAI" in admin and "1 output" in admin


def test_outputs_stored_before_the_check_are_flagged_by_the_migration(db):
    prompt_set = factories.make_prompt_set("old", n_prompts=1)
    contender = factories.make_contender("old-model")
    Output.objects.create(contender=contender, prompt=prompt_set.prompts.get(), text="I am ChatGPT, hi.")
    importlib.import_module("arena.migrations.0006_integrity_and_security").identity_leaks_flagged(apps, None)
    assert Output.objects.get().identity_leak == "I am ChatGPT"


def test_more_patterns_come_from_a_file_and_a_bad_one_stops_start_up(tmp_path, settings):
    import os
    import subprocess
    import sys
    from pathlib import Path

    settings.ARENA_IDENTITY_LEAK_PATTERNS = [r"\bbuilt at (?:the )?acme research lab\b"]
    assert identity_leak_find(contender=ZEPHYR, text="I was built at the ACME research lab.") == (
        "built at the ACME research lab"
    )

    patterns = tmp_path / "patterns.txt"
    patterns.write_text("# vendors of our own\n\\bfine pattern\\b\n(unclosed\n")
    env = {**os.environ, "ARENA_IDENTITY_LEAK_PATTERNS_FILE": str(patterns), "ARENA_VAR_DIR": str(tmp_path),
           "DJANGO_SETTINGS_MODULE": "arena.settings"}  # fmt: skip
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"], cwd=Path(__file__).resolve().parents[2],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode != 0
    assert f"{patterns}, line 3: '(unclosed' is not a regular expression" in result.stderr
