"""Creating and editing judge configs; every change to what a judge is asked makes a new version."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction

from arena.errors import Invalid
from arena.models import Dimension, Source
from arena.services.battles import source_get_or_create
from judges.models import JudgeConfig, JudgeConfigVersion, JudgeTurns
from judges.prompting import (
    DEFAULT_TEMPLATE,
    DEFAULT_TEMPLATE_VERSION,
    template_fingerprint,
    validate_template,
)
from judges.providers import UnknownProviderError, get_provider
from judges.providers.openai_compat import normalise_base_url

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass
class JudgeConfigData:
    """Everything staff can set on a config; `dimensions` are Dimension slugs."""

    name: str
    provider: str
    model: str
    dimensions: list[str]
    base_url: str = ""
    api_key_env: str = ""
    api_key_file: str = ""
    temperature: float = 0.0
    max_tokens: int = 512
    template: str = DEFAULT_TEMPLATE
    sees_reference: bool = False
    judge_turns: str = JudgeTurns.WHOLE
    price_input_per_mtok: Decimal = Decimal(0)
    price_output_per_mtok: Decimal = Decimal(0)
    concurrency_limit: int = 8
    timeout_seconds: float = 60.0
    is_active: bool = True


def judge_config_errors(data: JudgeConfigData) -> dict[str, list[str]]:
    """Every problem with `data`, by field name; empty means it can be saved."""
    errors: dict[str, list[str]] = {}
    try:
        provider = get_provider(data.provider)
    except UnknownProviderError as exc:
        errors["provider"] = [exc.message]
    else:
        problems = provider.config_errors(model=data.model, base_url=data.base_url)
        if problems:
            errors["model"] = problems
        if provider.offline and not data.sees_reference:
            errors["sees_reference"] = [
                f"{data.provider} judges compare answers with the reference answer; tick it"
            ]
    if data.judge_turns not in JudgeTurns.values:
        errors["judge_turns"] = [f"{data.judge_turns!r} is not one of {', '.join(JudgeTurns.values)}"]
    template_problems = validate_template(data.template)
    if template_problems:
        errors["template"] = template_problems
    if data.api_key_env and data.api_key_file:
        errors["api_key_file"] = ["give the key as an environment variable name or a file path, not both"]
    if data.api_key_env and not _ENV_NAME.fullmatch(data.api_key_env):
        errors["api_key_env"] = [
            f"{data.api_key_env!r} is not an environment variable name (letters, digits, _); "
            "enter the variable's name, never the key itself"
        ]
    missing = set(data.dimensions) - set(
        Dimension.objects.filter(slug__in=data.dimensions).values_list("slug", flat=True)
    )
    if not data.dimensions or missing:
        errors["dimensions"] = [
            f"unknown dimensions: {', '.join(sorted(missing))}"
            if missing
            else "choose at least one dimension"
        ]
    return errors


def judge_config_create(*, slug: str, data: JudgeConfigData) -> JudgeConfig:
    _raise_first(judge_config_errors(data))
    if JudgeConfig.objects.filter(slug=slug).exists():
        raise Invalid(f"A judge config with slug {slug!r} already exists; pick another.", field="slug")
    with transaction.atomic():
        source = source_get_or_create(kind=Source.Kind.JUDGE, key=f"judge-{slug}", name=f"Judge: {data.name}")
        config = JudgeConfig(slug=slug, source=source)
        _apply(config, data)
        judge_config_version_current(config=config)
    return config


def judge_config_update(*, config: JudgeConfig, data: JudgeConfigData) -> JudgeConfigVersion:
    """Save edits; returns the current version (a new one when a verdict-shaping field changed)."""
    _raise_first(judge_config_errors(data))
    with transaction.atomic():
        _apply(config, data)
        return judge_config_version_current(config=config)


def judge_config_version_current(*, config: JudgeConfig) -> JudgeConfigVersion:
    """The version matching the config as it is now: the current one, a previous identical one, or new.

    Rubrics are read afresh, so a Dimension edit also yields a new version at the next campaign.
    The config row is locked, so two editors cannot both create "version n+1".
    """
    with transaction.atomic():
        locked = JudgeConfig.objects.select_for_update().get(pk=config.pk)
        snapshot = _snapshot(locked)
        version = locked.versions.filter(fingerprint=snapshot["fingerprint"]).first()
        if version is None:
            number = (locked.versions.order_by("-number").values_list("number", flat=True).first() or 0) + 1
            version = JudgeConfigVersion.objects.create(config=locked, number=number, **snapshot)
        if locked.current_version_id != version.pk:
            JudgeConfig.objects.filter(pk=locked.pk).update(current_version=version)
    config.current_version = version
    return version


def _apply(config: JudgeConfig, data: JudgeConfigData) -> None:
    for name in (
        "name", "provider", "model", "api_key_env", "api_key_file", "temperature", "max_tokens",
        "template", "sees_reference", "judge_turns", "price_input_per_mtok", "price_output_per_mtok",
        "concurrency_limit", "timeout_seconds", "is_active",
    ):  # fmt: skip
        setattr(config, name, getattr(data, name))
    config.base_url = data.base_url.strip()
    config.save()
    config.dimensions.set(Dimension.objects.filter(slug__in=data.dimensions))


def _snapshot(config: JudgeConfig) -> dict:
    dims = [[d.slug, d.rubric] for d in config.dimensions.order_by("position", "slug")]
    content = {
        "provider": config.provider,
        "model": config.model,
        "base_url": normalise_base_url(config.base_url) if config.base_url else "",
        "temperature": config.temperature,
        "max_tokens": config.max_tokens,
        "template": config.template,
        "dimensions": dims,
        "sees_reference": config.sees_reference,
        "judge_turns": config.judge_turns,
    }
    digest = dict(content, template=template_fingerprint(config.template))
    if config.judge_turns == JudgeTurns.WHOLE:
        del digest[
            "judge_turns"
        ]  # the default: versions made before the setting existed keep their fingerprint
    fingerprint = hashlib.sha256(json.dumps(digest, sort_keys=True).encode()).hexdigest()
    label = DEFAULT_TEMPLATE_VERSION if config.template == DEFAULT_TEMPLATE else f"custom-{fingerprint[:8]}"
    return {**content, "fingerprint": fingerprint, "template_label": label}


def _raise_first(errors: dict[str, list[str]]) -> None:
    if errors:
        name, problems = next(iter(errors.items()))
        raise Invalid(f"Judge config field {name!r}: {'; '.join(problems)}.", field=name)


def judge_config_get(*, slug: str) -> JudgeConfig:
    config = JudgeConfig.objects.filter(slug=slug).first()
    if config is None:
        known = ", ".join(JudgeConfig.objects.values_list("slug", flat=True)) or "none yet"
        raise Invalid(f"No judge config {slug!r} (known: {known}).", field="judges")
    return config
