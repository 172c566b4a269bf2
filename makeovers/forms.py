import uuid

from django import forms
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from generation.models import Upload
from generation.selectors import styles_active
from gpu_worker.contract.desk_makeover import KIND, DeskPreferences
from shop.selectors import categories


class PreferencesForm(forms.Form):
    """What a person may tell us about the makeover they want (all optional)."""

    tone = forms.ChoiceField(
        label=_("Colour tone"),
        choices=[("neutral", _("Neutral")), ("warm", _("Warm")), ("cool", _("Cool"))],
        initial="neutral",
        required=False,
    )
    budget_min = forms.IntegerField(label=_("Budget from (₩)"), required=False, min_value=0, max_value=100_000_000)
    budget_max = forms.IntegerField(label=_("Budget up to (₩)"), required=False, min_value=0, max_value=100_000_000)
    include_categories = forms.MultipleChoiceField(
        label=_("More of"), required=False, widget=forms.CheckboxSelectMultiple
    )
    avoid_categories = forms.MultipleChoiceField(
        label=_("Less of"), required=False, widget=forms.CheckboxSelectMultiple
    )

    def __init__(self, *args, language: str = "en", **kwargs):
        super().__init__(*args, **kwargs)
        choices = [(c.slug, c.name_ko if language == "ko" else c.name_en) for c in categories()]
        self.fields["include_categories"].choices = choices
        self.fields["avoid_categories"].choices = choices

    def clean(self):
        cleaned = super().clean()
        low, high = cleaned.get("budget_min"), cleaned.get("budget_max")
        if low is not None and high is not None and low > high:
            self.add_error("budget_max", _("The upper budget must be at least the lower one."))
        both = set(cleaned.get("include_categories") or ()) & set(cleaned.get("avoid_categories") or ())
        if both:
            self.add_error("avoid_categories", _("A category cannot be both wanted and avoided."))
        return cleaned

    def preferences(self) -> DeskPreferences:
        data = self.cleaned_data
        return DeskPreferences(
            tone=data.get("tone") or "neutral",
            budget_min=data.get("budget_min"),
            budget_max=data.get("budget_max"),
            include_categories=list(data.get("include_categories") or ()),
            avoid_categories=list(data.get("avoid_categories") or ()),
        )


class NewMakeoverForm(PreferencesForm):
    # Not required by itself: after a form error the photo already stored is kept (`upload`).
    photo = forms.FileField(label=_("Desk photo"), help_text=_("JPEG, PNG, WebP or HEIC, up to 15 MB."), required=False)
    # The photo stored when this form was sent before with another mistake in it: a person fixes the
    # mistake without choosing the photo again. Only the person's own uploads are accepted.
    upload = forms.UUIDField(widget=forms.HiddenInput, required=False)
    style = forms.ModelChoiceField(
        queryset=styles_active(kind=KIND), required=False, label=_("Style"), empty_label=None
    )
    # A fresh id per form: submitting the same form twice (double click, retry) makes one job.
    submission_id = forms.UUIDField(widget=forms.HiddenInput, required=False)

    field_order = ["photo", "style", "tone", "budget_min", "budget_max", "include_categories", "avoid_categories"]

    def __init__(self, *args, owner=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.owner = owner
        self.kept_upload: Upload | None = None
        self.fields["style"].queryset = styles_active(kind=KIND)
        self.fields["submission_id"].initial = uuid.uuid4()

    def clean_upload(self):
        upload_id = self.cleaned_data.get("upload")
        if upload_id and self.owner is not None:
            self.kept_upload = Upload.objects.filter(owner=self.owner, pk=upload_id).first()
        return upload_id

    def clean(self):
        cleaned = super().clean()
        if not cleaned.get("photo") and self.kept_upload is None and "photo" not in self.errors:
            self.add_error("photo", _("Please choose a photo of your desk."))
        return cleaned


class LocalizedStyleChoice(forms.ModelChoiceField):
    """Style names in the reader's language (a style's __str__ is its English name, for admins)."""

    def label_from_instance(self, style) -> str:
        return style.name_ko if get_language() == "ko" else style.name_en


class RestyleForm(forms.Form):
    style = LocalizedStyleChoice(queryset=styles_active(kind=KIND), label=_("Style"), empty_label=None)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["style"].queryset = styles_active(kind=KIND)
