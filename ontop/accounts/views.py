from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.utils.translation import gettext as _

from ontop.accounts.addresses import client_address
from ontop.accounts.forms import LockoutAuthenticationForm, SignUpForm
from ontop.accounts.services import (
    api_tokens_revoke_all,
    login_succeeded,
    password_reset_request_allowed,
    user_create,
)


def signup(request):
    if request.user.is_authenticated:
        return redirect("home")
    form = SignUpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = user_create(
                username=form.cleaned_data["username"],
                email=form.cleaned_data["email"],
                password=form.cleaned_data["password1"],
            )
        except ValidationError as exc:  # lost a race for the username or email: shown as the form's error
            for field, errors in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            messages.success(request, _("Welcome to OnTop! Your account is ready."))
            return redirect("home")
    return render(request, "accounts/signup.html", {"form": form})


class LoginView(auth_views.LoginView):
    template_name = "accounts/login.html"
    authentication_form = LockoutAuthenticationForm


def logged_out(request):
    """Where logging out lands: says so plainly, with a way back in."""
    if request.user.is_authenticated:
        return redirect("home")
    return render(request, "accounts/logged_out.html")


class PasswordChangeView(auth_views.PasswordChangeView):
    """Changing the password keeps this browser signed in and signs out everything else, API clients too."""

    template_name = "accounts/password_change.html"
    success_url = reverse_lazy("accounts:password_change_done")

    def form_valid(self, form):
        response = super().form_valid(form)
        api_tokens_revoke_all(user=form.user)
        return response


class PasswordResetView(auth_views.PasswordResetView):
    """ "Forgot password": e-mails a one-time link, in the language of the page it was asked from.

    The answer is the same whether or not the address has an account. Each client address may ask
    a few times an hour; each e-mail address receives a few messages an hour at most.
    """

    template_name = "accounts/password_reset_form.html"
    email_template_name = "accounts/password_reset_email.txt"
    subject_template_name = "accounts/password_reset_subject.txt"
    success_url = reverse_lazy("accounts:password_reset_done")

    @property
    def extra_email_context(self) -> dict:  # type: ignore[override]
        return {"valid_hours": settings.PASSWORD_RESET_TIMEOUT // 3600}

    def form_valid(self, form):
        may_ask, may_send = password_reset_request_allowed(
            email=form.cleaned_data["email"], address=client_address(self.request)
        )
        if not may_ask:
            form.add_error(None, _("Too many requests from your network. Please try again in an hour."))
            return self.form_invalid(form)
        if not may_send:
            return redirect(self.get_success_url())
        return super().form_valid(form)


class PasswordResetDoneView(auth_views.PasswordResetDoneView):
    template_name = "accounts/password_reset_done.html"


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    """The link from the e-mail: a new password signs out every session and API client of the account."""

    template_name = "accounts/password_reset_confirm.html"
    success_url = reverse_lazy("accounts:password_reset_complete")

    def form_valid(self, form):
        response = super().form_valid(form)
        api_tokens_revoke_all(user=form.user)
        # Someone who forgot their password has often just locked themselves out by guessing.
        login_succeeded(username=form.user.get_username(), address=client_address(self.request))
        return response


class PasswordResetCompleteView(auth_views.PasswordResetCompleteView):
    template_name = "accounts/password_reset_complete.html"
