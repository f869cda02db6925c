"""Pages for people: register contenders, upload outputs, see them listed (accounts: arena.account_views)."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from arena import selectors
from arena.blindness import may_see_blind
from arena.errors import DomainError
from arena.forms import ApiTokenForm, ContenderForm, OutputUploadForm
from arena.home import activity_recent, scope_get, tasks_open
from arena.services.contenders import contender_register
from arena.services.files import read_limited
from arena.services.output_export import CONTENT_TYPES, output_chunks, output_format_parse, outputs_filename
from arena.services.outputs import output_counts_by_set, outputs_import
from arena.services.prompt_sets import contender_coverage
from arena.services.tokens import token_issue, token_revoke
from arena.staff import is_staff


def healthz(request: HttpRequest) -> HttpResponse:
    """Liveness for compose: the database answers."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return HttpResponse("ok", content_type="text/plain")


def home(request: HttpRequest) -> HttpResponse:
    context = {"scope": scope_get(), "tasks": tasks_open(), "activity": activity_recent()}
    return render(request, "arena/home.html", context)


def contender_list(request: HttpRequest) -> HttpResponse:
    return render(request, "arena/contender_list.html", {"contenders": selectors.contenders_public()})


def contender_detail(request: HttpRequest, slug: str) -> HttpResponse:
    contender = selectors.contender_visible_or_404(request.user, slug)
    context = {
        "contender": contender,
        "can_manage": selectors.can_manage(request.user, contender),
        "output_sets": output_counts_by_set(contender=contender),
        "n_outputs": contender.outputs.count(),
        # Staff review answers that name a model or vendor: they are never served to people.
        "identity_leaks": selectors.identity_leaks_of(contender) if is_staff(request.user) else None,
    }
    return render(request, "arena/contender_detail.html", context)


@require_GET
def contender_outputs_export(request: HttpRequest, slug: str) -> HttpResponse | StreamingHttpResponse:
    """The contender's outputs as a download (``format`` alpaca_eval or jsonl, optional ``prompt_set``)."""
    contender = selectors.contender_visible_or_404(request.user, slug)
    fmt, prompt_set = output_format_parse(request.GET)
    return outputs_download(contender, fmt, prompt_set, sees_blind=outputs_see_blind(request.user, contender))


def outputs_see_blind(user, contender) -> bool:
    """The submitter and staff see every output of the contender; others only the ones not blind."""
    return selectors.can_manage(user, contender) or may_see_blind(user)


def outputs_download(contender, fmt: str, prompt_set: str, *, sees_blind: bool) -> StreamingHttpResponse:
    """A streamed attachment of the contender's outputs (shared with the API)."""
    chunks = output_chunks(contender, fmt=fmt, prompt_set=prompt_set, sees_blind=sees_blind)
    response = StreamingHttpResponse(chunks, content_type=CONTENT_TYPES[fmt])
    response["Content-Disposition"] = f'attachment; filename="{outputs_filename(contender, fmt, prompt_set)}"'
    response["Cache-Control"] = "private, no-store"
    return response


@login_required
def my_contenders(request: HttpRequest) -> HttpResponse:
    return render(request, "arena/my_contenders.html", {"contenders": selectors.contenders_of(request.user)})


@login_required
@require_http_methods(["GET", "POST"])
def contender_create(request: HttpRequest) -> HttpResponse:
    form = ContenderForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            contender = contender_register(submitted_by=request.user, **form.cleaned_data)
        except DomainError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            messages.success(
                request, f"{contender.name} is registered and awaits review. Upload its outputs next."
            )
            return redirect("arena:contender-upload", slug=contender.slug)
    status = 400 if form.errors else 200
    return render(request, "arena/contender_form.html", {"form": form}, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def contender_upload(request: HttpRequest, slug: str) -> HttpResponse:
    contender = selectors.contender_managed_or_404(request.user, slug)
    form = OutputUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            result = outputs_import(
                contender=contender,
                prompt_set=form.cleaned_data["prompt_set"],
                data=read_limited(upload),
                filename=upload.name,
                fmt=form.cleaned_data["format"] or None,
                html_later=True,
            )
        except DomainError as exc:
            for line in exc.message.splitlines():  # a summary, then one problem a line
                form.add_error(None, line)
        else:
            messages.success(request, f"Imported {result.created} outputs for {result.prompt_set.name}.")
            return redirect("arena:contender-detail", slug=contender.slug)
    status = 400 if form.errors else 200
    context = {"form": form, "contender": contender, "coverage": contender_coverage(contender)}
    return render(request, "arena/contender_upload.html", context, status=status)


@never_cache  # the page shows a new token once: no cache, proxy or back button may keep it
@login_required
@require_http_methods(["GET", "POST"])
def api_tokens(request: HttpRequest) -> HttpResponse:
    form = ApiTokenForm(request.POST or None)
    new_token = None
    if request.method == "POST" and form.is_valid():
        _, new_token = token_issue(user=request.user, **form.cleaned_data)
        form = ApiTokenForm()
    now = timezone.now()
    tokens = [(row, row.state_at(now)) for row in request.user.api_tokens.all()]
    status = 400 if form.errors else 200
    context = {"form": form, "tokens": tokens, "new_token": new_token}
    return render(request, "arena/api_tokens.html", context, status=status)


@never_cache
@login_required
@require_POST
def api_token_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    if token_revoke(user=request.user, token_id=pk):
        messages.success(request, "The token is revoked: requests using it now get 401.")
    return redirect("arena:api-tokens")


class PasswordResetView(auth_views.PasswordResetView):
    """Django's reset by e-mail, or a page saying it is not configured (no mail backend can deliver)."""

    def get_context_data(self, **kwargs):
        return {**super().get_context_data(**kwargs), "mail_configured": _mail_configured()}

    def post(self, request, *args, **kwargs):
        if not _mail_configured():
            return self.render_to_response(self.get_context_data(), status=503)
        return super().post(request, *args, **kwargs)


def _mail_configured() -> bool:
    # settings.py picks the dummy backend when no mail server is set and DEBUG is off: nothing would arrive.
    return not settings.EMAIL_BACKEND.endswith("dummy.EmailBackend")
