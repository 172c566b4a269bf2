"""The diary's website forms. The API validates the same rules with its own serializers (diary/api.py)."""

from __future__ import annotations

import datetime
import uuid

from django import forms
from django.utils import timezone
from django.utils.text import format_lazy
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from diary.models import MOOD_EMOJI, Mood, Orientation
from diary.selectors import FIRST_YEAR
from generation.selectors import styles_active
from gpu_worker.contract.picture_diary import KIND, MAX_TEXT_CHARS


def mood_choices() -> list[tuple[str, str]]:
    """Evaluated when the form renders, so the labels are in the reader's language."""
    return [(code, f"{MOOD_EMOJI[code]} {label}".strip()) for code, label in Mood.choices]


class DiaryTextField(forms.CharField):
    """Counts characters the way people see them: a browser sends a line break as two characters."""

    def to_python(self, value):
        value = super().to_python(value)
        return value.replace("\r\n", "\n").replace("\r", "\n") if value else value


def validate_diary_date(value: datetime.date) -> None:
    if value > timezone.localdate():
        raise forms.ValidationError(_("That day hasn't come yet. Pick today or an earlier day."))
    if value.year < FIRST_YEAR:
        raise forms.ValidationError(_("Pick a day from %(year)s or later.") % {"year": FIRST_YEAR}, code="too_early")


class StyleChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, style):
        return style.name_ko if (get_language() or "").startswith("ko") else style.name_en


class EntryFields(forms.Form):
    entry_date = forms.DateField(
        label=_("Date"),
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        validators=[validate_diary_date],
        error_messages={"invalid": _("Enter a real date, like 2026-11-03.")},
    )
    text = DiaryTextField(
        label=_("What happened today?"),
        max_length=MAX_TEXT_CHARS,
        widget=forms.Textarea(attrs={"rows": 8, "maxlength": MAX_TEXT_CHARS}),
        help_text=format_lazy(_("Korean or English, up to {max} characters."), max=f"{MAX_TEXT_CHARS:,}"),
        error_messages={
            "required": _("Write a few words about your day."),
            "max_length": _("A diary entry has at most %(limit_value)d characters (it has %(show_value)d)."),
        },
    )
    mood = forms.ChoiceField(
        label=_("Mood"),
        choices=mood_choices,
        required=False,
        widget=forms.RadioSelect,
        error_messages={"invalid_choice": _("Pick one of the moods.")},
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["entry_date"].widget.attrs["max"] = timezone.localdate().isoformat()

    def clean_mood(self):
        return self.cleaned_data.get("mood") or ""


STYLE_ERRORS = {"required": _("Pick an art style."), "invalid_choice": _("Pick one of the art styles.")}
ORIENTATION_ERRORS = {"invalid_choice": _("Pick landscape or portrait.")}


class PaintFields(forms.Form):
    style = StyleChoiceField(
        queryset=styles_active(kind=KIND),
        label=_("Art style"),
        empty_label=None,
        widget=forms.RadioSelect,
        error_messages=STYLE_ERRORS,
    )
    orientation = forms.ChoiceField(
        label=_("Picture shape"),
        choices=Orientation.choices,
        initial=Orientation.LANDSCAPE,
        widget=forms.RadioSelect,
        error_messages=ORIENTATION_ERRORS,
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        styles = styles_active(kind=KIND)
        self.fields["style"].queryset = styles
        if not self.is_bound and "style" not in self.initial:
            self.initial["style"] = styles.first()


class NewEntryForm(EntryFields, PaintFields):
    # A fresh id per form: submitting the same form twice (double click, retry) makes one entry.
    submission_id = forms.UUIDField(widget=forms.HiddenInput, required=False)

    field_order = ["entry_date", "text", "mood", "style", "orientation"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["submission_id"].initial = uuid.uuid4()
        if not self.is_bound and "entry_date" not in self.initial:
            self.initial["entry_date"] = timezone.localdate()


class EditEntryForm(EntryFields):
    pass


class RepaintForm(forms.Form):
    """Another style and/or shape for the next picture; an absent field keeps the entry's."""

    style = StyleChoiceField(
        queryset=styles_active(kind=KIND),
        label=_("Art style"),
        required=False,
        empty_label=None,  # the entry's style is preselected: no blank "--------" choice
        error_messages=STYLE_ERRORS,
    )
    orientation = forms.ChoiceField(
        label=_("Picture shape"),
        choices=Orientation.choices,
        required=False,
        widget=forms.RadioSelect,
        error_messages=ORIENTATION_ERRORS,
    )
    # One id per page: a double tap on "another picture" makes one picture and spends one.
    submission_id = forms.UUIDField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["style"].queryset = styles_active(kind=KIND)
