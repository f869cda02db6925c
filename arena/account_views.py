"""Account pages: sign-up and sign-in (throttled, see arena.throttling) and email verification."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import LoginView
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from arena import errors, throttling
from arena.error_responses import error_page, status_for
from arena.forms import EmailVerificationForm, SignUpForm
from arena.models import VerifiedEmail
from arena.services.email_verification import verification_confirm, verification_send
from arena.voting import client_ip


def _throttled(request: HttpRequest, refusal: throttling.ThrottleRefusal) -> HttpResponse:
    return error_page(request, errors.Throttled(refusal.message, retry_after=refusal.retry_after))


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


def _mail_link(request: HttpRequest, email: str) -> int:
    """Mail a confirmation link: 0 when sent, else the refusal's status (taken address 400, too many mails
    429, mail server down 503), said on the page, never a 500."""
    link_for = lambda token: request.build_absolute_uri(reverse("verify-email-confirm", args=[token]))  # noqa: E731
    try:
        verification_send(user=request.user, email=email, link_for=link_for)
    except errors.DomainError as exc:
        messages.warning(request, exc.message)
        return status_for(exc)
    messages.info(request, f"We mailed a link to {email}: follow it to confirm the address.")
    return 0


@login_required
@require_http_methods(["GET", "POST"])
def verify_email(request: HttpRequest) -> HttpResponse:
    """Show whether the account's email is verified; POST mails a (new) confirmation link."""
    form = EmailVerificationForm(request.POST or None, initial={"email": request.user.email})
    posted = request.method == "POST" and form.is_valid()
    refused = _mail_link(request, form.cleaned_data["email"]) if posted else 0
    if posted and not refused:
        return redirect("verify-email")
    verified = VerifiedEmail.objects.filter(user=request.user).first()
    status = 400 if form.errors else refused or 200
    return render(
        request, "registration/verify_email.html", {"form": form, "verified": verified}, status=status
    )


def verify_email_confirm(request: HttpRequest, token: str) -> HttpResponse:
    try:
        verified = verification_confirm(token=token)
    except errors.DomainError as exc:
        return render(
            request, "registration/verify_email_done.html", {"error": exc.message}, status=status_for(exc)
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
