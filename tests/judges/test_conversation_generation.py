"""Generating a contender's answers to a multi-turn prompt set from its endpoint: the conversation is sent
turn by turn through the real client (each later user turn after the model's own previous reply) and stored
as one output with a reply per turn; a failure at any turn stores nothing."""

from __future__ import annotations

import pytest

from arena.models import Contender, Output
from judges.models import Generation
from judges.services.generation import generation_run, generation_start
from tests.support.conversations import import_mt_bench
from tests.support.openai_stub import OpenAIStub, answer_generator

pytestmark = pytest.mark.django_db


def _endpoint_contender(base_url: str) -> Contender:
    return Contender.objects.create(
        slug="local", name="Local", status="approved", endpoint_url=base_url, endpoint_model="local-model"
    )


def _run(campaign) -> list[str]:
    ids = Generation.objects.filter(campaign=campaign, status="pending").values_list("pk", flat=True)
    return [generation_run(generation_id=pk).outcome for pk in list(ids)]


def test_each_later_turn_is_sent_after_the_models_own_reply_and_every_reply_is_stored():
    prompt_set, _ = import_mt_bench(models=())
    prompt_set.prompts.filter(external_id="102").update(system_message="Show your working.")
    with OpenAIStub(script="echo") as stub:
        local = _endpoint_contender(stub.base_url)
        campaign = generation_start(contender_slugs=["local"], prompt_set_slug=prompt_set.slug)
        assert campaign.est_calls == 6  # three prompts, two turns each
        assert _run(campaign) == ["done"] * 3
        bodies = [r.body["messages"] for r in stub.requests]
    assert len(bodies) == 6
    for prompt in prompt_set.prompts.all():
        output = Output.objects.get(contender=local, prompt=prompt)
        assert len(output.replies) == 2
        system = [{"role": "system", "content": prompt.system_message}] if prompt.system_message else []
        first_call = [*system, {"role": "user", "content": prompt.text}]
        second_call = [*first_call, {"role": "assistant", "content": output.text},
                       {"role": "user", "content": prompt.later_turns[0]}]  # fmt: skip
        assert first_call in bodies and second_call in bodies
        assert output.text.startswith("[local-model] answer to: " + prompt.text[:30])
        # The stub echoes every user turn it was sent: the second reply answered the whole conversation.
        assert output.later_replies[0].startswith("[local-model] answer to: " + prompt.text[:30])
        assert prompt.later_turns[0][:30] in output.later_replies[0]


def test_an_empty_reply_at_the_second_turn_fails_the_generation_and_stores_nothing():
    prompt_set, _ = import_mt_bench(models=())
    echo = answer_generator()

    def silent_at_turn_two(body):
        users = [m for m in body["messages"] if m["role"] == "user"]
        return " " if len(users) == 2 else echo(body)

    with OpenAIStub(script=silent_at_turn_two) as stub:
        local = _endpoint_contender(stub.base_url)
        campaign = generation_start(contender_slugs=["local"], prompt_set_slug=prompt_set.slug)
        assert _run(campaign) == ["failed"] * 3
        assert len(stub.requests) == 6
    assert not Output.objects.filter(contender=local).exists()
    errors = set(Generation.objects.values_list("error", flat=True))
    assert all("returned an empty answer" in e and "(turn 2 of 2)" in e for e in errors), errors
