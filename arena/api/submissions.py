"""Submitting models through the API: contenders, prompt sets, output uploads."""

from __future__ import annotations

from ninja import Field, File, Form, Router, Schema, Status
from ninja.files import UploadedFile
from pydantic import ConfigDict, model_validator

from arena import selectors
from arena.api.auth import optional_token_auth, token_auth, user_of
from arena.api.errors import ErrorOut
from arena.forms import ContenderForm
from arena.models import Contender
from arena.services.contenders import contender_register
from arena.services.files import read_limited
from arena.services.output_export import output_format_parse
from arena.services.output_formats import output_format_check
from arena.services.outputs import output_counts_by_set, outputs_import
from arena.services.prompt_sets import prompt_record, prompt_sets_listed, prompts_ordered
from arena.services.prompts import prompt_set_get
from arena.views import outputs_download, outputs_see_blind

router = Router(tags=["submissions"])


class PromptOut(Schema):
    """`text` is the first user turn; a multi-turn prompt also lists every user turn in `turns`."""

    id: str
    category: str
    language: str
    text: str
    turns: list[str] | None = None
    system: str | None = None
    reference: str | None = None


class ContenderIn(Schema):
    """A submitter gives an endpoint's URL and model, never a key name or file: unknown fields are refused
    (422), so `endpoint_api_key_env` and the like cannot slip in. Staff pick the key after review."""

    model_config = ConfigDict(extra="forbid")

    # Limits are the model's column lengths, declared here so the OpenAPI document states them.
    slug: str = Field(min_length=1, max_length=100, pattern=r"^[-a-zA-Z0-9_]+$")
    name: str = Field(min_length=1, max_length=200)
    organization: str = Field("", max_length=200)
    license: str = Field("", max_length=100)
    description: str = Field("", max_length=20_000)
    endpoint_url: str = Field("", max_length=200)
    endpoint_model: str = Field("", max_length=200)

    @model_validator(mode="before")
    @classmethod
    def _no_key_reference(cls, data):
        named = [f for f in ContenderForm.REFUSED_FIELDS if isinstance(data, dict) and f in data]
        if named:
            raise ValueError(
                f"submitters give an endpoint URL and model only; {', '.join(named)} cannot be set. "
                "Staff choose which key (if any) the endpoint receives after review"
            )
        return data


class OutputSetOut(Schema):
    slug: str
    name: str
    n_prompts: int
    n_outputs: int


class ContenderOut(Schema):
    slug: str
    name: str
    organization: str
    license: str
    description: str
    status: str
    n_outputs: int
    prompt_sets: list[OutputSetOut]


class PromptSetOut(Schema):
    slug: str
    name: str
    description: str
    n_prompts: int


class UploadOut(Schema):
    contender: str
    prompt_set: str
    created: int


def _contender_out(contender: Contender) -> dict:
    return {
        "slug": contender.slug,
        "name": contender.name,
        "organization": contender.organization,
        "license": contender.license,
        "description": contender.description,
        "status": contender.status,
        "n_outputs": contender.outputs.count(),
        "prompt_sets": output_counts_by_set(contender=contender),
    }


ERRORS = {400: ErrorOut, 401: ErrorOut, 404: ErrorOut, 413: ErrorOut, 422: ErrorOut}


@router.get("/contenders", response={200: list[ContenderOut], **ERRORS}, summary="Approved contenders")
def list_contenders(request):
    return [_contender_out(c) for c in selectors.contenders_public()]


@router.get(
    "/me/contenders",
    response={200: list[ContenderOut], **ERRORS},
    auth=token_auth,
    summary="My contenders, any status",
)
def my_contenders(request):
    return [_contender_out(c) for c in selectors.contenders_of(request.auth)]


@router.post(
    "/contenders",
    response={201: ContenderOut, **ERRORS},
    auth=token_auth,
    summary="Register a contender (pending review)",
)
def create_contender(request, payload: ContenderIn):
    contender = contender_register(submitted_by=request.auth, **payload.dict())
    return Status(201, _contender_out(contender))


@router.get(
    "/contenders/{slug}",
    response={200: ContenderOut, **ERRORS},
    auth=optional_token_auth,
    summary="One contender (approved; yours in any status with your token)",
)
def get_contender(request, slug: str):
    return _contender_out(selectors.contender_visible_or_404(request.auth, slug))


@router.post(
    "/contenders/{slug}/outputs",
    response={201: UploadOut, **ERRORS},
    auth=token_auth,
    summary="Upload outputs (multipart: file, prompt_set, optional format jsonl|alpaca_eval|mt_bench|messages)",
)
def upload_outputs(
    request,
    slug: str,
    file: File[UploadedFile],
    prompt_set: str = Form(..., max_length=100),
    format: str = Form("", max_length=20),
):
    contender = selectors.contender_managed_or_404(request.auth, slug)
    if format:
        output_format_check(format)  # before the file is read: an unknown format is refused as it is
    result = outputs_import(
        contender=contender,
        prompt_set=prompt_set_get(slug=prompt_set),
        data=read_limited(file),
        filename=file.name or "upload",
        fmt=format or None,
        html_later=True,
    )
    return Status(
        201, {"contender": contender.slug, "prompt_set": result.prompt_set.slug, "created": result.created}
    )


@router.get(
    "/contenders/{slug}/outputs",
    response={200: None, **ERRORS},
    summary="Download outputs (format alpaca_eval or jsonl; optional prompt_set), streamed",
)
def download_outputs(request, slug: str, format: str = "jsonl", prompt_set: str = ""):
    """Every output to the submitter and staff; to others, of an approved contender, the outputs no open
    annotation task may still serve."""
    user = user_of(request)
    contender = selectors.contender_visible_or_404(user, slug)
    fmt, prompt_set = output_format_parse({"format": format, "prompt_set": prompt_set})
    return outputs_download(contender, fmt, prompt_set, sees_blind=outputs_see_blind(user, contender))


@router.get("/prompt-sets", response={200: list[PromptSetOut], **ERRORS}, summary="Prompt sets")
def list_prompt_sets(request):
    return [
        {"slug": p.slug, "name": p.name, "description": p.description, "n_prompts": p.n_prompts}
        for p in prompt_sets_listed()
    ]


@router.get(
    "/prompt-sets/{slug}/prompts",
    response={200: list[PromptOut], **ERRORS},
    summary="A prompt set's prompts (reference answers only when the set shows them)",
)
def list_prompts(request, slug: str):
    prompt_set = prompt_set_get(slug=slug)
    return [
        {**prompt_record(p, with_reference=prompt_set.show_references), "text": p.text}
        for p in prompts_ordered(prompt_set)
    ]
