"""Staff forms: judge configs and campaigns. Validation rules live in the services; forms only collect."""

from __future__ import annotations

from decimal import Decimal
from typing import cast

from django import forms

from arena.models import Contender, Dimension, PromptSet
from judges.models import JudgeConfig, JudgeTurns
from judges.prompting import DEFAULT_TEMPLATE
from judges.providers import available
from judges.services.campaigns import PLANS, CampaignSpec
from judges.services.configs import JudgeConfigData, judge_config_errors


class JudgeConfigForm(forms.Form):
    slug = forms.SlugField(max_length=80, help_text="Short unique id, used by the API and the CLI.")
    name = forms.CharField(max_length=200)
    provider = forms.ChoiceField(choices=[])
    model = forms.CharField(
        max_length=200, help_text="e.g. gpt-4o-mini, llama3.1:8b; lexical: token_f1 or contains."
    )
    base_url = forms.CharField(
        max_length=500, required=False, help_text="Up to and including /v1; empty means OpenAI."
    )
    api_key_env = forms.CharField(
        max_length=100, required=False, label="API key environment variable",
        help_text="The variable's name (e.g. OPENAI_API_KEY), never the key. Set it for the web server and workers.",
    )  # fmt: skip
    api_key_file = forms.CharField(
        max_length=500, required=False, label="…or API key file", help_text="e.g. /run/secrets/openai_key"
    )
    temperature = forms.FloatField(min_value=0, max_value=2, initial=0.0)
    max_tokens = forms.IntegerField(min_value=1, initial=512)
    dimensions = forms.ModelMultipleChoiceField(
        queryset=Dimension.objects.filter(is_active=True),
        to_field_name="slug",
        widget=forms.CheckboxSelectMultiple,
    )
    sees_reference = forms.BooleanField(required=False, label="Show the reference answer to the judge")
    judge_turns = forms.ChoiceField(
        choices=JudgeTurns.choices, initial=JudgeTurns.WHOLE, required=False, label="Multi-turn battles: judge",
        help_text="A conversation is always shown whole; this says which replies the verdict is about "
        "(left out: the whole conversation).",
    )  # fmt: skip
    template = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 14, "spellcheck": "false"}), initial=DEFAULT_TEMPLATE,
        help_text="Placeholders: {question} {answer_a} {answer_b} {rubric} {output_format}, optional {reference}. "
        "Editing it creates a new version.",
    )  # fmt: skip
    price_input_per_mtok = forms.DecimalField(
        min_value=0, initial=Decimal(0), label="Price per 1M input tokens (USD)"
    )
    price_output_per_mtok = forms.DecimalField(
        min_value=0, initial=Decimal(0), label="Price per 1M output tokens (USD)"
    )
    concurrency_limit = forms.IntegerField(
        min_value=1, max_value=1000, initial=8, help_text="Calls in flight, across all workers."
    )
    timeout_seconds = forms.FloatField(min_value=0.1, initial=60.0)
    is_active = forms.BooleanField(required=False, initial=True)

    def __init__(self, *args, config: JudgeConfig | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["provider"]).choices = [(name, name) for name in available()]
        if config is not None:
            self.fields["slug"].disabled = True

    def to_data(self) -> JudgeConfigData:
        data = {k: v for k, v in self.cleaned_data.items() if k != "slug"}
        data["dimensions"] = [d.slug for d in data["dimensions"]]
        data["judge_turns"] = data.get("judge_turns") or JudgeTurns.WHOLE
        return JudgeConfigData(**data)

    def clean(self):
        cleaned = super().clean()
        if not self.errors:
            for name, problems in judge_config_errors(self.to_data()).items():
                self.add_error(name if name in self.fields else None, "; ".join(problems))
        return cleaned

    @staticmethod
    def initial_for(config: JudgeConfig) -> dict:
        initial = {
            name: getattr(config, name) for name in JudgeConfigForm.base_fields if name != "dimensions"
        }
        initial["dimensions"] = list(config.dimensions.values_list("slug", flat=True))
        return initial


class CampaignForm(forms.Form):
    KIND_CHOICES = [("judge", "Judge battles"), ("generate", "Generate missing outputs from endpoints")]

    kind = forms.ChoiceField(choices=KIND_CHOICES, initial="judge", widget=forms.RadioSelect)
    name = forms.CharField(max_length=200, required=False)
    prompt_set = forms.ModelChoiceField(queryset=PromptSet.objects.all(), to_field_name="slug")
    contenders = forms.ModelMultipleChoiceField(
        queryset=Contender.objects.exclude(status=Contender.Status.REJECTED), to_field_name="slug",
        widget=forms.CheckboxSelectMultiple,
    )  # fmt: skip
    judges = forms.ModelMultipleChoiceField(
        queryset=JudgeConfig.objects.filter(is_active=True), to_field_name="slug",
        widget=forms.CheckboxSelectMultiple, required=False,
    )  # fmt: skip
    plan = forms.ChoiceField(choices=[(p, p) for p in PLANS], initial="all-pairs")
    baseline = forms.ModelChoiceField(
        queryset=Contender.objects.all(),
        to_field_name="slug",
        required=False,
        help_text="For the baseline plan.",
    )
    k = forms.IntegerField(
        min_value=1,
        initial=1,
        help_text="random-k: opponents per contender and prompt; adaptive: number of pairs.",
    )
    seed = forms.IntegerField(initial=0)

    def spec(self) -> CampaignSpec:
        data = self.cleaned_data
        return CampaignSpec(
            contenders=[c.slug for c in data["contenders"]],
            prompt_set=data["prompt_set"].slug,
            judges=[j.slug for j in data["judges"]],
            plan=data["plan"],
            baseline=data["baseline"].slug if data["baseline"] else "",
            k=data["k"],
            seed=data["seed"],
            name=data["name"],
        )
