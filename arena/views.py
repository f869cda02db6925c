"""Pages for people: sign up, register contenders, upload outputs, see them listed. Logic lives in services."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import LoginView
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from arena import selectors, throttling
from arena.errors import InputError
from arena.forms import ApiTokenForm, ContenderForm, EmailVerificationForm, OutputUploadForm, SignUpForm
from arena.models import ApiToken, Dimension, PromptSet, VerifiedEmail
from arena.services.contenders import contender_register
from arena.services.email_verification import verification_confirm, verification_send
from arena.services.files import read_limited
from arena.services.outputs import output_counts_by_set, outputs_import
from arena.voting.identity import client_ip


def healthz(request: HttpRequest) -> HttpResponse:
    """Liveness for compose: the database answers."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return HttpResponse("ok", content_type="text/plain")


def home(request: HttpRequest) -> HttpResponse:
    context = {
        "contenders": selectors.contenders_public()[:20],
        "prompt_sets": PromptSet.objects.all(),
        "dimensions": Dimension.objects.filter(is_active=True),
    }
    return render(request, "arena/home.html", context)


def _throttled(request: HttpRequest, refusal: throttling.Throttled) -> HttpResponse:
    response = render(request, "registration/throttled.html", {"message": refusal.message}, status=429)
    response["Retry-After"] = str(refusal.retry_after)
    return response


@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    form = SignUpForm(request.POST or None)
    if request.method == "POST":
        refusal = throttling.signup_check(ip=client_ip(request))
        if refusal:
            return _throttled(request, refusal)
        if form.is_valid():
            user = form.save()
            throttling.signup_count(ip=client_ip(request))
            login(request, user)
            if user.email:
                _mail_link(request, user.email)
            return redirect("arena:my-contenders")
    status = 400 if form.errors else 200
    return render(request, "registration/signup.html", {"form": form}, status=status)


def _mail_link(request: HttpRequest, email: str) -> bool:
    """Mail a confirmation link; a mail server that is down is said on the page, never a 500."""
    link_for = lambda token: request.build_absolute_uri(reverse("verify-email-confirm", args=[token]))  # noqa: E731
    try:
        verification_send(user=request.user, email=email, link_for=link_for)
    except InputError as exc:
        messages.warning(request, exc.message)
        return False
    messages.info(request, f"We mailed a link to {email}: follow it to confirm the address.")
    return True


@login_required
@require_http_methods(["GET", "POST"])
def verify_email(request: HttpRequest) -> HttpResponse:
    """Show whether the account's email is verified; POST mails a (new) confirmation link."""
    form = EmailVerificationForm(request.POST or None, initial={"email": request.user.email})
    posted = request.method == "POST" and form.is_valid()
    if posted and _mail_link(request, form.cleaned_data["email"]):
        return redirect("verify-email")
    verified = VerifiedEmail.objects.filter(user=request.user).first()
    status = 400 if form.errors else 503 if posted else 200  # 503: the mail server refused
    return render(
        request, "registration/verify_email.html", {"form": form, "verified": verified}, status=status
    )


def verify_email_confirm(request: HttpRequest, token: str) -> HttpResponse:
    try:
        verified = verification_confirm(token=token)
    except InputError as exc:
        return render(
            request, "registration/verify_email_done.html", {"error": exc.message}, status=exc.status
        )
    return render(request, "registration/verify_email_done.html", {"verified": verified})


class SignInView(LoginView):
    """Django's sign-in, throttled per account and per address (arena.throttling): 429 while locked out."""

    def post(self, request, *args, **kwargs):
        username, ip = request.POST.get("username", ""), client_ip(request)
        refusal = throttling.signin_check(username=username, ip=ip)
        if refusal:
            return _throttled(request, refusal)
        response = super().post(request, *args, **kwargs)
        if request.user.is_authenticated:
            throttling.signin_succeeded(username=username)
        else:
            throttling.signin_failed(username=username, ip=ip)
            response.status_code = 400
        return response


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
        "identity_leaks": selectors.identity_leaks_of(contender) if request.user.is_staff else None,
    }
    return render(request, "arena/contender_detail.html", context)


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
        except InputError as exc:
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
            )
        except InputError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, f"Imported {result.created} outputs for {result.prompt_set.name}.")
            return redirect("arena:contender-detail", slug=contender.slug)
    status = 400 if form.errors else 200
    return render(
        request, "arena/contender_upload.html", {"form": form, "contender": contender}, status=status
    )


@login_required
@require_http_methods(["GET", "POST"])
def api_tokens(request: HttpRequest) -> HttpResponse:
    form = ApiTokenForm(request.POST or None)
    new_token = None
    if request.method == "POST" and form.is_valid():
        _, new_token = ApiToken.issue(user=request.user, name=form.cleaned_data["name"])
        form = ApiTokenForm()
    tokens = request.user.api_tokens.all()
    return render(request, "arena/api_tokens.html", {"form": form, "tokens": tokens, "new_token": new_token})
