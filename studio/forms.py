"""The studio's website forms. The API checks the same rules with its own serializers (studio/api.py)."""

from __future__ import annotations

import uuid

from django import forms
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from gpu_worker.contract.subject_photo_check import MAX_PHOTOS
from studio import messages
from studio.models import NAME_MAX_LENGTH, SubjectKind

NAME_ERRORS = {
    "required": _("Give it a name."),
    "max_length": _("A name has at most %(limit_value)d characters (it has %(show_value)d)."),
}
PHOTO_ACCEPT = "image/*,.heic,.heif"


class SubjectForm(forms.Form):
    kind = forms.ChoiceField(
        label=_("Who is it?"),
        choices=SubjectKind.choices,
        initial=SubjectKind.PERSON,
        widget=forms.RadioSelect,
        error_messages={
            "required": _("Pick who the photos are of."),
            "invalid_choice": _("Pick who the photos are of."),
        },
    )
    name = forms.CharField(label=_("Name"), max_length=NAME_MAX_LENGTH, error_messages=NAME_ERRORS)
    consent = forms.BooleanField(
        label=_("These are photos of me, or I have the right to use them."),
        required=False,
    )
    keep_photos = forms.BooleanField(
        label=_("Keep my photos"),
        required=False,
        help_text=_("Keep the photos after training, to train again later without uploading them again."),
    )
    # A double click or a resent form makes one subject (studio.services.subject_create).
    submission_id = forms.UUIDField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["submission_id"].initial = uuid.uuid4()

    def clean(self):
        data = super().clean()
        if data.get("kind") == SubjectKind.PERSON and not data.get("consent"):
            self.add_error("consent", messages.consent_required())
        return data


class SubjectEditForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=NAME_MAX_LENGTH, error_messages=NAME_ERRORS)
    keep_photos = forms.BooleanField(label=_("Keep my photos"), required=False)


class ModelRenameForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=NAME_MAX_LENGTH, error_messages=NAME_ERRORS)


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several files. An empty or unusable file is not a form error: the service reports it by its
    name and keeps the others (studio.services.subject_photos_add)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", MultipleFileInput(attrs={"accept": PHOTO_ACCEPT}))
        kwargs.setdefault("allow_empty_file", True)
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        single = super().clean
        files = data if isinstance(data, list | tuple) else [data] if data else []
        return [single(file, initial) for file in files]


class PhotosForm(forms.Form):
    photos = MultipleFileField(label=_("Photos"), required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["photos"].help_text = gettext(
            "JPEG, PNG, WebP or HEIC, from your camera roll. Up to %(max)s photos."
        ) % {"max": MAX_PHOTOS}

    def clean_photos(self):
        files = self.cleaned_data.get("photos") or []
        if not files:
            raise forms.ValidationError(messages.no_files())
        return files


class TrainForm(forms.Form):
    submission_id = forms.UUIDField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["submission_id"].initial = uuid.uuid4()
