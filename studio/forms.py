"""The studio's website forms. The API checks the same rules with its own serializers (studio/api.py)."""

from __future__ import annotations

import uuid

from django import forms
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from gpu_worker.contract.portrait import MAX_INSTRUCTION_CHARS, PACK_MAX, PACK_MIN
from gpu_worker.contract.subject_photo_check import MAX_PHOTOS
from studio import messages
from studio.models import NAME_MAX_LENGTH, SubjectKind, ToneChoice

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


class PackForm(forms.Form):
    """A pack of portraits of one subject. The choices are the subject's: the concepts for its kind, the
    concept's poses (people only), the concept's tones; the service checks them all again."""

    concept = forms.ChoiceField(
        label=_("Concept"),
        widget=forms.RadioSelect,
        error_messages={
            "required": _("Pick one of the concepts offered for this model."),
            "invalid_choice": _("Pick one of the concepts offered for this model."),
        },
    )
    pose = forms.ChoiceField(
        label=_("Pose"),
        required=False,
        widget=forms.RadioSelect,
        error_messages={"invalid_choice": _("Pick one of the poses offered for this concept.")},
    )
    tone = forms.ChoiceField(
        label=_("Tone"),
        choices=ToneChoice.choices,
        initial=ToneChoice.AUTO,
        widget=forms.RadioSelect,
        error_messages={
            "required": _("Pick one of the tones offered for this concept."),
            "invalid_choice": _("Pick one of the tones offered for this concept."),
        },
    )
    instruction = forms.CharField(
        label=_("Your words"),
        required=False,
        strip=False,  # the service strips it and counts what is left
        widget=forms.Textarea(attrs={"rows": 3, "maxlength": MAX_INSTRUCTION_CHARS}),
        help_text=_("What should the picture show? Korean or English."),
    )
    size = forms.IntegerField(
        label=_("Pictures in the pack"),
        required=False,
        widget=forms.NumberInput(attrs={"min": PACK_MIN, "max": PACK_MAX}),
        error_messages={"invalid": messages.PACK_SIZE},
    )
    submission_id = forms.UUIDField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args, subject, concepts, poses, **kwargs):
        super().__init__(*args, **kwargs)
        self.subject = subject
        self.concepts = {concept.slug: concept for concept in concepts}
        self.poses = {pose.slug: pose for pose in poses}
        self.fields["concept"].choices = [(slug, slug) for slug in self.concepts]
        self.fields["pose"].choices = [("", _("Left to the model")), *((slug, slug) for slug in self.poses)]
        self.fields["submission_id"].initial = uuid.uuid4()
        if subject.is_pet:
            del self.fields["pose"]
        else:
            del self.fields["instruction"]
        first = next(iter(self.concepts.values()), None)
        if first is not None:
            self.fields["concept"].initial = first.slug
            self.fields["size"].initial = first.pack_size

    def clean_instruction(self):
        text = self.cleaned_data.get("instruction") or ""
        if len(text.strip()) > MAX_INSTRUCTION_CHARS:
            raise forms.ValidationError(messages.pack_invalid("instruction_too_long"))
        return text

    def clean_size(self):
        size = self.cleaned_data.get("size")
        if size is not None and not PACK_MIN <= size <= PACK_MAX:
            raise forms.ValidationError(messages.pack_invalid("size_out_of_range"))
        return size

    @property
    def concept_obj(self):
        return self.concepts.get(self.cleaned_data.get("concept") or "")

    @property
    def pose_obj(self):
        return self.poses.get(self.cleaned_data.get("pose") or "")


class PackMoreForm(forms.Form):
    submission_id = forms.UUIDField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["submission_id"].initial = uuid.uuid4()
