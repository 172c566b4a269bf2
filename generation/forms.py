from django import forms
from django.utils.translation import gettext_lazy as _

from generation.selectors import styles_active


class NewMakeoverForm(forms.Form):
    photo = forms.FileField(label=_("Desk photo"), help_text=_("JPEG, PNG or WebP, up to 15 MB."))
    style = forms.ModelChoiceField(queryset=styles_active(), required=False, label=_("Style"), empty_label=None)
    tone = forms.ChoiceField(
        label=_("Colour tone"),
        choices=[("neutral", _("Neutral")), ("warm", _("Warm")), ("cool", _("Cool"))],
        initial="neutral",
        required=False,
    )
    budget_min = forms.IntegerField(label=_("Budget from (₩)"), required=False, min_value=0, max_value=100_000_000)
    budget_max = forms.IntegerField(label=_("Budget up to (₩)"), required=False, min_value=0, max_value=100_000_000)

    def clean(self):
        cleaned = super().clean()
        low, high = cleaned.get("budget_min"), cleaned.get("budget_max")
        if low is not None and high is not None and low > high:
            self.add_error("budget_max", _("The upper budget must be at least the lower one."))
        return cleaned

    def preferences(self) -> dict:
        data = self.cleaned_data
        preferences = {"tone": data.get("tone") or "neutral"}
        for key in ("budget_min", "budget_max"):
            if data.get(key) is not None:
                preferences[key] = data[key]
        return preferences

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["style"].queryset = styles_active()
