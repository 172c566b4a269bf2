from __future__ import annotations

import math

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import AuthenticationForm, UserCreationForm
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from ontop.accounts.addresses import client_address
from ontop.accounts.services import login_failed, login_lock_remaining, login_succeeded


class SignUpForm(UserCreationForm):
    email = forms.EmailField(label=_("Email"), help_text=_("We only use it for your account."))

    class Meta(UserCreationForm.Meta):
        model = get_user_model()
        fields = ("username", "email")

    def clean_email(self) -> str:
        email = get_user_model().objects.normalize_email(self.cleaned_data["email"])
        if get_user_model().objects.filter(email__iexact=email).exists():
            raise forms.ValidationError(_("An account with this email already exists."))
        return email


def lockout_message(seconds: int) -> str:
    """ "Too many failed attempts ..." with the wait in whole minutes, in the active language."""
    minutes = max(1, math.ceil(seconds / 60))
    return ngettext(
        "Too many failed attempts. Please wait %(minutes)d minute and try again.",
        "Too many failed attempts. Please wait %(minutes)d minutes and try again.",
        minutes,
    ) % {"minutes": minutes}


class LockoutMixin:
    """Refuses logins for a while after repeated failures (see services: login lockout).

    Locks are per (username, client address) and per client address, so failures elsewhere never
    lock a person out of the browser they use.
    """

    def clean(self):
        username = self.cleaned_data.get("username") or ""
        address = client_address(self.request) if self.request is not None else ""
        if username and (remaining := login_lock_remaining(username=username, address=address)):
            raise forms.ValidationError(lockout_message(remaining), code="login_locked")
        try:
            cleaned = super().clean()
        except forms.ValidationError as exc:
            # A right password refused for another reason (the admin's "not staff") is no guess.
            if username and exc.code == "invalid_login" and getattr(self, "user_cache", None) is None:
                login_failed(username=username, address=address)
            raise
        # Only a real success clears the count: an empty password leaves the form invalid without
        # raising here, and must not reset the failures in between guesses.
        if getattr(self, "user_cache", None) is not None:
            login_succeeded(username=username, address=address)
        return cleaned


class LockoutAuthenticationForm(LockoutMixin, AuthenticationForm):
    """The site's login form."""

    # Our own words: Django's Korean for this reads badly ("사용자 이름와/과 ..."), and the API says it
    # like this too.
    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": _("Please enter a correct username and password. Both fields may be case-sensitive."),
    }


class LockoutAdminAuthenticationForm(LockoutMixin, AdminAuthenticationForm):
    """The admin's login form: the same lockout, as it is the first place guessers try."""
