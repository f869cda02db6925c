from django import forms
from django.contrib.auth.forms import UserCreationForm

from arena.models import PromptSet
from arena.services.tokens import DEFAULT_LIFETIME_DAYS, TOKEN_LIFETIMES_DAYS


class SignUpForm(UserCreationForm):
    class Meta(UserCreationForm.Meta):
        fields = ("username",)


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
    endpoint_api_key_env = forms.CharField(
        max_length=100,
        required=False,
        label="API key environment variable",
        help_text="The variable's name, never the key.",
    )


class OutputUploadForm(forms.Form):
    FORMAT_CHOICES = [
        ("", "Detect from the file"),
        ("jsonl", "JSONL (prompt_id/prompt, output)"),
        ("alpaca_eval", "AlpacaEval JSON"),
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
