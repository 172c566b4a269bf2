"""Mobile API of the one-photo studio profile (/api/studio/one-photo-profiles/). Errors are JSON
{code, message[, fields]} in the request's language, as in the rest of the studio's API (its
serializers and helpers are reused from studio/api.py); other people's ids are 404.

Order of checks when creating: input (400, consent included) → today's profiles (429, before the
photo is read) → the photo (400 / 413 / 415)."""

from __future__ import annotations

from django.conf import settings
from django.urls import reverse
from django.utils.translation import gettext_lazy
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response

from generation import selectors as job_selectors
from generation import services as job_services
from generation.api import JobStateOutput, QuotaOutput, job_state_output, quota_output, quota_response
from generation.images import ImageRejected
from generation.models import GenerationJob
from gpu_worker.contract.one_photo_profile import BACKGROUNDS, KIND
from gpu_worker.contract.tone import TONE_CHOICES, TONES
from ontop.api import StrictUUIDField
from ontop.parsers import JSONParser
from studio import messages as words
from studio import one_photo as service
from studio.api import (
    NOT_FOUND,
    PAGE_PARAMETERS,
    TAGS,
    UNAUTHENTICATED,
    AnyAcceptMixin,
    StudioApiView,
    StudioErrorOutput,
    StudioInput,
    StudioInvalidOutput,
    StudioPagination,
    StudioQuotaExceededOutput,
    _bool_field,
    _error,
    studio_schema,
)
from studio.models import OnePhotoProfile
from studio.one_photo_views import REJECTED_STATUS, image_response

# ---- input ---------------------------------------------------------------------------------------


class OnePhotoCreateInput(StudioInput):
    photo = serializers.FileField(
        allow_empty_file=True,  # an empty file is the photo's own 400 ("empty"), like the other refusals
        error_messages={
            key: gettext_lazy("Choose a photo of yourself.") for key in ("required", "invalid", "null", "no_name")
        },
        help_text=f"One photo of just you (JPEG, PNG, WebP or HEIC, at most {settings.UPLOAD_MAX_BYTES // 2**20} MB). "
        "It is stored normalised, without its metadata, and kept while a profile made from it exists.",
    )
    tone = serializers.ChoiceField(
        choices=list(TONE_CHOICES),
        required=False,
        default="auto",
        error_messages={key: gettext_lazy("Pick auto, warm or cool.") for key in ("invalid_choice", "null")},
        help_text="auto (decided from the photo's skin), warm or cool.",
    )
    background = serializers.ChoiceField(
        choices=list(BACKGROUNDS),
        required=False,
        default=service.DEFAULT_BACKGROUND,
        error_messages={key: gettext_lazy("Pick one of the backgrounds.") for key in ("invalid_choice", "null")},
        help_text="The studio backdrop.",
    )
    consent = serializers.BooleanField(
        error_messages={
            key: gettext_lazy("Please confirm that this is a photo of you, or that you have the right to use it.")
            for key in ("required", "invalid", "null")
        },
        help_text="Must be true: this is a photo of me, or I have the right to use it (a person's face).",
    )
    submission_id = StrictUUIDField(
        required=False,
        help_text="Optional idempotency key: send the same id again (a retry, a double tap) and get the same "
        "profile back instead of a second one.",
    )

    def validate_consent(self, value):
        if not value:
            raise exceptions.ValidationError(service.consent_message())
        return value


class OnePhotoUpdateInput(StudioInput):
    favourite = _bool_field("Mark it as a favourite, or not.")


class OnePhotoAgainInput(StudioInput):
    submission_id = StrictUUIDField(required=False, help_text="Send the same id again and get the same new profile.")


# ---- output --------------------------------------------------------------------------------------


class OnePhotoResultOutput(serializers.Serializer):
    tone = serializers.ChoiceField(choices=list(TONES), help_text="The tone it was painted in.")
    tone_label = serializers.CharField()
    tone_requested = serializers.ChoiceField(choices=list(TONE_CHOICES))
    tone_confidence = serializers.FloatField(
        allow_null=True, help_text="auto only: how sure the decision was (0-1); null when the tone was chosen."
    )
    tone_summary = serializers.CharField(
        help_text='For example "Tone: warm (auto, 82% sure)", in the request\'s language.'
    )
    seed = serializers.IntegerField()
    width = serializers.IntegerField()
    height = serializers.IntegerField()


class OnePhotoProfileOutput(serializers.Serializer):
    id = serializers.UUIDField(help_text="The profile's id (its job's id).")
    state = JobStateOutput(help_text="Live progress while it is painted; error_code / error_message when it failed.")
    tone_requested = serializers.ChoiceField(choices=list(TONE_CHOICES))
    tone_requested_label = serializers.CharField()
    background = serializers.ChoiceField(choices=list(BACKGROUNDS))
    background_label = serializers.CharField()
    favourite = serializers.BooleanField()
    consent_at = serializers.DateTimeField()
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    last_used_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField(help_text="Deleted then with its files unless used again before.")
    photo_shared_with = serializers.IntegerField(
        help_text="Other profiles made from the same photo: the photo is deleted with the last of them."
    )
    status_url = serializers.URLField(help_text="Poll this (this profile) for progress.")
    image_url = serializers.URLField(
        allow_null=True, help_text="The picture (AI-generated), once it succeeded; add ?download=1 to save it."
    )
    result = OnePhotoResultOutput(allow_null=True, help_text="What the picture was painted with, once it succeeded.")
    ai_notice = serializers.CharField(help_text="Show this with the picture.")


class OnePhotoProfilePageOutput(serializers.Serializer):
    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = OnePhotoProfileOutput(many=True)


INVALID_OR_PHOTO = OpenApiResponse(
    StudioInvalidOutput,
    description="invalid (with `fields`): no photo, consent not true, an unknown tone or background, an unknown "
    "field; or the photo cannot be used: empty, not_an_image, too_small, too_many_pixels. Nothing was stored.",
)
TOO_LARGE = OpenApiResponse(StudioErrorOutput, description="too_large: the photo is over the size limit.")
UNSUPPORTED = OpenApiResponse(
    StudioErrorOutput,
    description="unsupported_media_type: the body is not multipart/form-data; or unsupported_format: the photo is "
    "not a JPEG, PNG, WebP or HEIC.",
)
QUOTA = OpenApiResponse(
    StudioQuotaExceededOutput, description="quota_exceeded: today's studio profiles are used up (see Retry-After)."
)


def _url(request, name: str, *args) -> str:
    return request.build_absolute_uri(reverse(name, args=args))


def profile_output(request, profile: OnePhotoProfile) -> dict:
    job = profile.job
    result = service.one_photo_result(profile)
    summary = service.tone_summary(result)
    has_image = job.status == GenerationJob.Status.SUCCEEDED and service.one_photo_image_key(profile) is not None
    return {
        "id": profile.pk,
        "state": job_state_output(job),
        "tone_requested": profile.tone_requested,
        "tone_requested_label": service.tone_label(profile.tone_requested),
        "background": profile.background,
        "background_label": service.background_label(profile.background),
        "favourite": profile.favourite,
        "consent_at": profile.consent_at,
        "created_at": profile.created_at,
        "finished_at": job.finished_at,
        "last_used_at": profile.last_used_at,
        "expires_at": service.expires_at(profile),
        "photo_shared_with": service.photo_shared_with(profile),
        "status_url": _url(request, "api:studio_one_photo_profile", profile.pk),
        "image_url": _url(request, "api:studio_one_photo_profile_image", profile.pk) if has_image else None,
        "result": None
        if result is None or summary is None
        else {
            "tone": result.tone,
            "tone_label": service.tone_label(result.tone),
            "tone_requested": result.tone_requested,
            "tone_confidence": summary.confidence,
            "tone_summary": summary.text,
            "seed": result.seed,
            "width": result.width,
            "height": result.height,
        },
        "ai_notice": service.ai_notice(),
    }


def _respond(request, profile_id, status_code: int = status.HTTP_200_OK, headers=None) -> Response:
    # Read back through the selector: exactly what a later GET returns.
    profile = service.one_photo_profile_get(owner=request.user, profile_id=profile_id)
    return Response(OnePhotoProfileOutput(profile_output(request, profile)).data, status=status_code, headers=headers)


# ---- views ---------------------------------------------------------------------------------------


class OnePhotoProfileListCreateApi(StudioApiView):
    parser_classes = [MultiPartParser]

    @studio_schema(
        parameters=PAGE_PARAMETERS,
        responses={200: OnePhotoProfilePageOutput},
        operation_id="studio_one_photo_profiles_list",
        description="My one-photo studio profiles, newest first.",
    )
    def get(self, request):
        paginator = StudioPagination()
        page = paginator.paginate_queryset(service.one_photo_profiles_of(owner=request.user), request, view=self)
        job_selectors.job_states_preload(profile.job for profile in page)
        results = OnePhotoProfileOutput([profile_output(request, p) for p in page], many=True).data
        return paginator.get_paginated_response(results)

    @extend_schema(
        request={"multipart/form-data": OnePhotoCreateInput},
        responses={
            201: OnePhotoProfileOutput,
            400: INVALID_OR_PHOTO,
            401: UNAUTHENTICATED,
            413: TOO_LARGE,
            415: UNSUPPORTED,
            429: QUOTA,
        },
        tags=TAGS,
        operation_id="studio_one_photo_profiles_create",
        description="Upload one photo of yourself and start painting its studio profile picture (no training). "
        "Poll status_url until state.status is succeeded (then fetch image_url), failed or cancelled.",
    )
    def post(self, request):
        data = OnePhotoCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        try:
            profile = service.one_photo_profile_create(
                owner=request.user,
                file=values["photo"],
                tone=values["tone"],
                background=values["background"],
                consent=values["consent"],
                submission_id=values.get("submission_id"),
            )
        except ImageRejected as exc:
            return _error(exc.code, words.file_rejected(exc.code), REJECTED_STATUS.get(exc.code, 400))
        except job_services.QuotaExceeded as exc:
            return quota_response(service.quota_message(exc.limit), owner=request.user, kind=KIND)
        body_status = status.HTTP_201_CREATED
        return _respond(request, profile.pk, body_status, headers={"Location": _url(request, _DETAIL, profile.pk)})


_DETAIL = "api:studio_one_photo_profile"


class OnePhotoProfileDetailApi(StudioApiView):
    parser_classes = [JSONParser]

    @studio_schema(responses={200: OnePhotoProfileOutput, 404: NOT_FOUND})
    def get(self, request, profile_id):
        profile = service.one_photo_profile_get(owner=request.user, profile_id=profile_id)
        service.one_photo_profile_touch(profile=profile)
        return Response(OnePhotoProfileOutput(profile_output(request, profile)).data)

    @studio_schema(
        request=OnePhotoUpdateInput,
        responses={200: OnePhotoProfileOutput, 400: OpenApiResponse(StudioInvalidOutput), 404: NOT_FOUND},
        description="Mark it as a favourite, or not.",
    )
    def patch(self, request, profile_id):
        profile = service.one_photo_profile_get(owner=request.user, profile_id=profile_id)
        data = OnePhotoUpdateInput(data=request.data)
        data.is_valid(raise_exception=True)
        service.one_photo_profile_favourite(profile=profile, favourite=data.validated_data["favourite"])
        return _respond(request, profile.pk)

    @studio_schema(
        responses={204: None, 404: NOT_FOUND},
        description="Delete it for real: the picture and its files, and the photo unless another of your profiles "
        "was made from it. A picture being painted is stopped first. It still counts towards today's profiles.",
    )
    def delete(self, request, profile_id):
        service.one_photo_profile_delete(
            profile=service.one_photo_profile_get(owner=request.user, profile_id=profile_id)
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class OnePhotoProfileAgainApi(StudioApiView):
    parser_classes = [JSONParser]

    @studio_schema(
        request=OnePhotoAgainInput,
        responses={
            202: OnePhotoProfileOutput,
            400: OpenApiResponse(StudioInvalidOutput),
            404: NOT_FOUND,
            409: OpenApiResponse(StudioErrorOutput, description="photo_gone: the photo is no longer stored."),
            429: QUOTA,
        },
        description="Another one: a new profile from the same photo, tone and background with a new seed. "
        "Poll the new profile's status_url.",
    )
    def post(self, request, profile_id):
        profile = service.one_photo_profile_get(owner=request.user, profile_id=profile_id)
        data = OnePhotoAgainInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            again = service.one_photo_profile_again(
                profile=profile, submission_id=data.validated_data.get("submission_id")
            )
        except service.PhotoGone:
            return _error("photo_gone", service.photo_gone_message(), status.HTTP_409_CONFLICT)
        except job_services.QuotaExceeded as exc:
            return quota_response(service.quota_message(exc.limit), owner=request.user, kind=KIND)
        return _respond(
            request, again.pk, status.HTTP_202_ACCEPTED, headers={"Location": _url(request, _DETAIL, again.pk)}
        )


class OnePhotoProfileImageApi(AnyAcceptMixin, StudioApiView):
    @studio_schema(
        parameters=[OpenApiParameter("download", int, description="1: as an attachment with a file name.")],
        responses={(200, "image/*"): OpenApiTypes.BINARY, 404: NOT_FOUND},
        description="The picture (AI-generated), once it succeeded. Owner only; never cached (private, no-store).",
    )
    def get(self, request, profile_id):
        profile = service.one_photo_profile_get(owner=request.user, profile_id=profile_id)
        download = request.query_params.get("download") == "1"
        if download:
            service.one_photo_profile_touch(profile=profile)
        return image_response(profile, download=download)


class OnePhotoQuotaApi(StudioApiView):
    @studio_schema(responses={200: QuotaOutput}, description="Today's one-photo studio profiles (per person).")
    def get(self, request):
        return Response(quota_output(owner=request.user, kind=KIND))
