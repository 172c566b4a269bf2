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

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["style"].queryset = styles_active()
