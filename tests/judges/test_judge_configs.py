"""Judge configs: versions on every change to what the judge is asked, key references, validation."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest
from django.db import IntegrityError

from arena.errors import Invalid
from arena.models import Source, Verdict
from judges.models import FinalVerdict, JudgeConfig
from judges.prompting import DEFAULT_TEMPLATE, DEFAULT_TEMPLATE_VERSION
from judges.services.configs import JudgeConfigData, judge_config_update
from tests.judges.conftest import make_arena, make_judge, run_inline, start_campaign

pytestmark = pytest.mark.django_db


def data_of(config: JudgeConfig, **changes) -> JudgeConfigData:
    fields = {f.name for f in dataclasses.fields(JudgeConfigData)}
    values = {name: getattr(config, name) for name in fields if name != "dimensions"}
    values["dimensions"] = list(config.dimensions.values_list("slug", flat=True))
    return JudgeConfigData(**{**values, **changes})


def test_a_new_config_gets_its_own_judge_source_and_version_1():
    config = make_judge("gpt", base_url="http://127.0.0.1:9/v1")
    assert config.source.kind == Source.Kind.JUDGE and config.source.key == "judge-gpt"
    assert config.current_version.number == 1
    assert config.current_version.template_label == DEFAULT_TEMPLATE_VERSION
    assert config.current_version.dimensions[0][0] == "overall"


def test_editing_the_template_creates_a_new_version_and_pricing_does_not():
    config = make_judge("gpt")
    first = config.current_version
    same = judge_config_update(
        config=config, data=data_of(config, price_input_per_mtok=Decimal("9"), concurrency_limit=3)
    )
    assert same.pk == first.pk
    custom = DEFAULT_TEMPLATE.replace("Compare two answers", "Compare the two answers carefully")
    second = judge_config_update(config=config, data=data_of(config, template=custom))
    assert second.number == 2 and second.template == custom and second.template_label.startswith("custom-")
    assert judge_config_update(config=config, data=data_of(config, temperature=0.7)).number == 3
    first.refresh_from_db()
    assert first.template == DEFAULT_TEMPLATE  # versions are never rewritten


def test_verdicts_keep_the_version_they_came_from(stub):
    prompt_set, contenders = make_arena(n_prompts=2, slugs=("alpha", "bravo"))
    config = make_judge("fair", base_url=stub.base_url)
    run_inline(start_campaign(prompt_set, contenders, "fair"))
    v1 = config.current_version
    edited = DEFAULT_TEMPLATE + "\nBe brief."
    v2 = judge_config_update(config=config, data=data_of(config, template=edited))
    run_inline(start_campaign(prompt_set, contenders, "fair"))
    assert len(stub.requests) == 8  # a new version judges again (its own judgments, its own prompt)
    assert Verdict.objects.filter(source=config.source).count() == 2  # still one per battle for this judge
    for verdict in Verdict.objects.filter(source=config.source):
        assert verdict.judge_origin.config_version == v1
    assert FinalVerdict.objects.filter(config_version=v2, verdict__isnull=True).count() == 2


def test_the_key_is_referenced_by_name_and_a_key_in_its_place_is_refused():
    config = make_judge("gpt", api_key_env="OPENAI_API_KEY")
    assert config.api_key_reference == "env:OPENAI_API_KEY"
    with pytest.raises(Invalid, match="not an environment variable name"):
        judge_config_update(config=config, data=data_of(config, api_key_env="sk-proj-abc123-DEF"))
    with pytest.raises(Invalid, match="not both"):
        judge_config_update(config=config, data=data_of(config, api_key_file="/run/secrets/key"))


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        (
            {"template": "Judge {answer_a} vs {answer_b}"},
            "template",
            "missing required placeholder {question}",
        ),
        ({"template": DEFAULT_TEMPLATE + "{answer_c}"}, "template", "unknown placeholder {answer_c}"),
        ({"provider": "anthropic"}, "provider", "no provider named 'anthropic'"),
        ({"provider": "lexical", "model": "bleu", "sees_reference": True}, "model", "not a variant"),
        ({"provider": "lexical", "model": "token_f1"}, "sees_reference", "reference answer"),
        ({"dimensions": ["overall", "vibes"]}, "dimensions", "unknown dimensions: vibes"),
        ({"base_url": "localhost:11434/v1"}, "model", "must start with http"),
    ],
)
def test_a_bad_config_is_refused_with_the_field_and_the_reason(changes, field, message):
    config = make_judge("gpt")
    with pytest.raises(Invalid) as caught:
        judge_config_update(config=config, data=data_of(config, **changes))
    assert caught.value.field == field and message in caught.value.message


def test_the_database_refuses_a_key_reference_that_is_both_a_variable_and_a_file():
    config = make_judge("gpt")
    with pytest.raises(IntegrityError):
        JudgeConfig.objects.filter(pk=config.pk).update(api_key_env="A", api_key_file="/b")
