from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import AuthenticationForm, UserCreationForm
from django.utils.translation import gettext_lazy as _


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


class LockoutAuthenticationForm(AuthenticationForm):
    """After LOGIN_LOCKOUT_ATTEMPTS failures an account is locked for LOGIN_LOCKOUT_SECONDS."""

    def clean(self):
        from ontop.accounts.services import login_failed, login_locked, login_succeeded

        username = self.cleaned_data.get("username") or ""
        if username and login_locked(username=username):
            raise forms.ValidationError(
                _("Too many failed attempts. Please wait 15 minutes and try again."), code="locked"
            )
        try:
            cleaned = super().clean()
        except forms.ValidationError:
            if username:
                login_failed(username=username)
            raise
        login_succeeded(username=username)
        return cleaned
