"""The one-photo studio profile's pages (/studio/one-photo/): validate → call a service or selector →
render. Everything is the owner's only; other people's ids are 404."""

from __future__ import annotations

import uuid

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from generation import media
from generation import selectors as job_selectors
from generation import services as job_services
from generation.images import ImageRejected
from generation.models import GenerationJob
from gpu_worker.contract.one_photo_profile import KIND, OnePhotoError
from studio import messages as words
from studio import one_photo as service
from studio.views import photo_thumbnail_response

PHOTO_ACCEPT = "image/*,.heic,.heif"
# What a refused photo answers (the API answers the same).
REJECTED_STATUS = {"too_large": 413, "unsupported_format": 415}
# Failures that the same photo will only repeat: the page offers a new photo instead of "try again".
PHOTO_ERRORS = (OnePhotoError.NO_PERSON, OnePhotoError.SEVERAL_PEOPLE, OnePhotoError.NO_FACE)


class OnePhotoForm(forms.Form):
    photo = forms.FileField(
        label=gettext_lazy("Your photo"),
        required=False,  # no photo is one message, in the service's words
        allow_empty_file=True,  # an empty file is the service's "empty" refusal
        widget=forms.ClearableFileInput(attrs={"accept": PHOTO_ACCEPT}),
    )
    tone = forms.ChoiceField(
        label=gettext_lazy("Tone"),
        choices=[(code, service.TONE_NAMES[code]) for code in ("auto", "warm", "cool")],
        initial="auto",
        widget=forms.RadioSelect,
        error_messages={k: gettext_lazy("Pick auto, warm or cool.") for k in ("required", "invalid_choice")},
    )
    background = forms.ChoiceField(
        label=gettext_lazy("Background"),
        choices=list(service.BACKGROUND_NAMES.items()),
        initial=service.DEFAULT_BACKGROUND,
        widget=forms.RadioSelect,
        error_messages={k: gettext_lazy("Pick one of the backgrounds.") for k in ("required", "invalid_choice")},
    )
    consent = forms.BooleanField(
        label=gettext_lazy("This is a photo of me, or I have the right to use it."), required=False
    )
    # A double click or a resent form makes one profile.
    submission_id = forms.UUIDField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["submission_id"].initial = uuid.uuid4()

    def clean(self):
        data = super().clean()
        if not self.files.get("photo") and "photo" not in self.errors:
            self.add_error("photo", service.no_photo_message())
        if not data.get("consent"):
            self.add_error("consent", service.consent_message())
        return data


def background_options(form: OnePhotoForm) -> list[dict]:
    """The background radios with their swatch colours, for the page."""
    return [
        {"radio": radio, "colour": service.BACKGROUND_SWATCHES[radio.data["value"]]} for radio in form["background"]
    ]


@login_required
@require_GET
def one_photo_list(request):
    profiles = list(service.one_photo_profiles_of(owner=request.user))
    context = {
        "profiles": profiles,
        "quota": job_services.quota_of(owner=request.user, kind=KIND),
        "retention": service.retention_text(),
    }
    return render(request, "studio/one_photo_list.html", context)


@login_required
def one_photo_new(request):
    form = OnePhotoForm(request.POST or None, request.FILES or None)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            data = form.cleaned_data
            try:
                profile = service.one_photo_profile_create(
                    owner=request.user,
                    file=data["photo"],
                    tone=data["tone"],
                    background=data["background"],
                    consent=data["consent"],
                    submission_id=data.get("submission_id"),
                )
            except ImageRejected as exc:
                form.add_error("photo", words.file_rejected(exc.code))
                status = REJECTED_STATUS.get(exc.code, 400)
            except job_services.QuotaExceeded as exc:
                form.add_error(None, service.quota_message(exc.limit))
                status = 429
            else:
                return redirect("studio:one_photo", profile_id=profile.pk)
    context = {
        "form": form,
        "backgrounds": background_options(form),
        "photo_accept": PHOTO_ACCEPT,
        "quota": job_services.quota_of(owner=request.user, kind=KIND),
        "retention": service.retention_text(),
        "ai_notice": service.ai_notice(),
        "max_mb": _max_mb(),
    }
    return render(request, "studio/one_photo_new.html", context, status=status)


def _max_mb() -> int:
    return settings.UPLOAD_MAX_BYTES // (1024 * 1024)


@login_required
@require_GET
def one_photo_detail(request, profile_id):
    profile = service.one_photo_profile_get(owner=request.user, profile_id=profile_id)
    service.one_photo_profile_touch(profile=profile)
    job = profile.job
    result = service.one_photo_result(profile)
    context = {
        "profile": profile,
        "job": job,
        "state": job_selectors.job_state(job=job),
        "result": result,
        "tone": service.tone_summary(result),
        "has_image": job.status == GenerationJob.Status.SUCCEEDED and service.one_photo_image_key(profile),
        "photo_error": job.error_code in PHOTO_ERRORS,
        "background_name": service.background_label(profile.background),
        "background_colour": service.BACKGROUND_SWATCHES.get(profile.background, "#ddd"),
        "tone_requested_name": service.tone_label(profile.tone_requested),
        "shared": service.photo_shared_with(profile),
        "expires_at": service.expires_at(profile),
        "quota": job_services.quota_of(owner=request.user, kind=KIND),
        "submission_id": uuid.uuid4(),
        "ai_notice": service.ai_notice(),
    }
    return render(request, "studio/one_photo_detail.html", context)


@login_required
@require_GET
def one_photo_image(request, profile_id):
    """The picture, to its owner only (private, no-store); `?download=1` saves it as a file."""
    profile = service.one_photo_profile_get(owner=request.user, profile_id=profile_id)
    download = request.GET.get("download") == "1"
    if download:
        service.one_photo_profile_touch(profile=profile)
    return image_response(profile, download=download)


@login_required
@require_GET
def one_photo_thumb(request, profile_id):
    """A small JPEG of the picture for the list (made once, kept with the job, deleted with it)."""
    profile = service.one_photo_profile_get(owner=request.user, profile_id=profile_id)
    if profile.job.status != GenerationJob.Status.SUCCEEDED:
        raise Http404("No picture yet.")
    return media.serve_job_image(profile.job, "thumb")


@login_required
@require_GET
def one_photo_photo(request, profile_id):
    """The photo it was made from, small (a person's photo: private, no-store)."""
    profile = service.one_photo_profile_get(owner=request.user, profile_id=profile_id)
    if profile.job.upload is None:
        raise Http404("No photo.")
    return photo_thumbnail_response(profile.job)  # anything with an `upload`


def image_response(profile, *, download: bool):
    if profile.job.status != GenerationJob.Status.SUCCEEDED or not service.one_photo_image_key(profile):
        raise Http404("No picture yet.")
    response = media.serve_job_image(profile.job, service.RESULT_ROLE, download=download)
    response["Cache-Control"] = "private, no-store"  # someone's face: gone from the browser once deleted
    if download and response.get("Content-Disposition"):
        extension = service.one_photo_image_key(profile).rsplit(".", 1)[-1]
        response["Content-Disposition"] = (
            f'attachment; filename="ontop-profile-{timezone.localtime(profile.created_at):%Y%m%d-%H%M}.{extension}"'
        )
    return response


@login_required
@require_POST
def one_photo_again(request, profile_id):
    """Another one: the same photo and settings, a new seed."""
    profile = service.one_photo_profile_get(owner=request.user, profile_id=profile_id)
    try:
        submission_id = uuid.UUID(request.POST.get("submission_id", ""))
    except ValueError:
        submission_id = None
    try:
        again = service.one_photo_profile_again(profile=profile, submission_id=submission_id)
    except job_services.QuotaExceeded as exc:
        messages.error(request, service.quota_message(exc.limit))
    except service.PhotoGone:
        messages.error(request, service.photo_gone_message())
    else:
        return redirect("studio:one_photo", profile_id=again.pk)
    return redirect("studio:one_photo", profile_id=profile.pk)


@login_required
@require_POST
def one_photo_favourite(request, profile_id):
    profile = service.one_photo_profile_get(owner=request.user, profile_id=profile_id)
    favourite = request.POST.get("favourite") == "1"
    service.one_photo_profile_favourite(profile=profile, favourite=favourite)
    messages.success(request, _("Added to your favourites.") if favourite else _("Removed from your favourites."))
    return redirect("studio:one_photo", profile_id=profile.pk)


@login_required
@require_POST
def one_photo_delete(request, profile_id):
    profile = service.one_photo_profile_get(owner=request.user, profile_id=profile_id)
    shared = service.photo_shared_with(profile)
    service.one_photo_profile_delete(profile=profile)
    if shared:
        messages.success(
            request, _("The picture was deleted. Your photo is kept for your other profiles made from it.")
        )
    else:
        messages.success(request, _("The picture and your photo were deleted."))
    return redirect("studio:one_photo_list")
