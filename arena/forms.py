from django import forms
from django.contrib.auth.forms import UserCreationForm

from arena.models import PromptSet
from arena.services.tokens import DEFAULT_LIFETIME_DAYS, TOKEN_LIFETIMES_DAYS


class SignUpForm(UserCreationForm):
    email = forms.EmailField(
        required=False,
        help_text="Optional: we mail a link to confirm it (some arenas count votes only then).",
    )

    class Meta(UserCreationForm.Meta):
        fields = ("username", "email")


class EmailVerificationForm(forms.Form):
    email = forms.EmailField()


class ContenderForm(forms.Form):
    slug = forms.SlugField(max_length=100, help_text="Short unique id, e.g. my-model-7b.")
    name = forms.CharField(max_length=200)
    organization = forms.CharField(max_length=200, required=False)
    license = forms.CharField(max_length=100, required=False)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)
    endpoint_url = forms.URLField(
        required=False, assume_scheme="https", label="OpenAI-compatible endpoint (optional)"
    )
    endpoint_model = forms.CharField(max_length=200, required=False)

    # Which secret (if any) an endpoint receives is staff's decision; a submitted key name or file path is refused.
    REFUSED_FIELDS = (
        "endpoint_api_key_env",
        "endpoint_api_key_file",
        "api_key_env",
        "api_key_file",
        "api_key",
    )

    def clean(self):
        cleaned = super().clean()
        named = [f for f in self.REFUSED_FIELDS if f in self.data]
        if named:
            raise forms.ValidationError(
                f"Submitters give an endpoint URL and model only; {', '.join(named)} cannot be set here. "
                "Staff choose which key (if any) the endpoint receives after review."
            )
        return cleaned


class OutputUploadForm(forms.Form):
    FORMAT_CHOICES = [
        ("", "Detect from the file"),
        ("jsonl", "JSONL (prompt_id/prompt, output: a string, or a list with one reply per turn)"),
        ("alpaca_eval", "AlpacaEval JSON (single-turn)"),
        ("mt_bench", "MT-Bench answers (question_id, model_id, choices[0].turns)"),
        ("messages", "OpenAI messages (prompt_id, messages: the whole conversation)"),
    ]

    prompt_set = forms.ModelChoiceField(queryset=PromptSet.objects.all(), to_field_name="slug")
    format = forms.ChoiceField(choices=FORMAT_CHOICES, required=False)
    file = forms.FileField()


class ApiTokenForm(forms.Form):
    name = forms.CharField(max_length=100, initial="my token")
    expires_in_days = forms.TypedChoiceField(
        label="Expires after",
        choices=[(days, f"{days} days") for days in TOKEN_LIFETIMES_DAYS],
        coerce=int,
        initial=DEFAULT_LIFETIME_DAYS,
        required=False,
        empty_value=DEFAULT_LIFETIME_DAYS,
    )
