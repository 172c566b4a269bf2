"""Mobile API for desk makeovers. Errors are JSON {code, message}; other people's ids are 404."""

from dataclasses import asdict

from django.shortcuts import get_object_or_404
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.pagination import PageNumberPagination
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from generation import media
from generation import selectors as job_selectors
from generation import services as job_services
from generation.api import (
    JobStateOutput,
    QuotaOutput,
    job_image_urls,
    job_state_output,
    quota_output,
    quota_response,
    rejected_response,
    style_or_400,
)
from generation.images import ImageRejected
from generation.models import GenerationJob, Upload
from gpu_worker.contract import ContractError
from gpu_worker.contract.desk_makeover import KIND, RESULT_PNG_ROLE, DeskParams, DeskPreferences
from makeovers import selectors, services
from makeovers.views import quota_message
from ontop.api import ImageNegotiation, JSONParser, StrictSerializer, StrictUUIDField, error_response
from shop import selectors as shop_selectors
from shop.api import RecommendationOutput


class PreferencesInput(StrictSerializer):
    tone = serializers.ChoiceField(choices=["neutral", "warm", "cool"], required=False, default="neutral")
    budget_min = serializers.IntegerField(required=False, min_value=0, max_value=100_000_000)
    budget_max = serializers.IntegerField(required=False, min_value=0, max_value=100_000_000)
    include_categories = serializers.ListField(
        child=serializers.SlugField(max_length=50), required=False, max_length=10
    )
    avoid_categories = serializers.ListField(child=serializers.SlugField(max_length=50), required=False, max_length=10)

    def validate(self, attrs):
        if attrs.get("budget_min", 0) > attrs.get("budget_max", 10**9):
            raise serializers.ValidationError({"budget_max": [_("The upper budget must be at least the lower one.")]})
        both = set(attrs.get("include_categories", ())) & set(attrs.get("avoid_categories", ()))
        if both:
            message = _("A category cannot be both wanted and avoided: %(categories)s.") % {
                "categories": ", ".join(sorted(both))
            }
            raise serializers.ValidationError({"avoid_categories": [message]})
        known = set(shop_selectors.categories().values_list("slug", flat=True))
        for key in ("include_categories", "avoid_categories"):
            unknown = set(attrs.get(key, ())) - known
            if unknown:
                message = _("Unknown categories: %(categories)s.") % {"categories": ", ".join(sorted(unknown))}
                raise serializers.ValidationError({key: [message]})
        return attrs


class MakeoverCreateInput(StrictSerializer):
    """A makeover of a photo you uploaded first (POST /api/uploads/), as JSON."""

    upload_id = StrictUUIDField(help_text="The id of one of your uploads.")
    style = serializers.SlugField(required=False, max_length=50, help_text="A style's slug (GET /api/styles/).")
    preferences = PreferencesInput(required=False)
    submission_id = StrictUUIDField(required=False, help_text="Send the same id again and get the same job.")


class MakeoverPhotoCreateInput(StrictSerializer):
    """A makeover with the photo in the same request, as multipart/form-data (preferences: use JSON)."""

    photo = serializers.FileField(help_text="A JPEG, PNG, WebP or HEIC photo of your desk.")
    style = serializers.SlugField(required=False, max_length=50, help_text="A style's slug (GET /api/styles/).")
    submission_id = StrictUUIDField(required=False, help_text="Send the same id again and get the same job.")


class PreferencesOutput(serializers.Serializer):
    tone = serializers.ChoiceField(choices=["neutral", "warm", "cool"])
    budget_min = serializers.IntegerField(allow_null=True, help_text="KRW per item; null: no lower bound.")
    budget_max = serializers.IntegerField(allow_null=True, help_text="KRW per item; null: no upper bound.")
    include_categories = serializers.ListField(child=serializers.CharField())
    avoid_categories = serializers.ListField(child=serializers.CharField())


class MakeoverOutput(serializers.Serializer):
    id = serializers.UUIDField()
    kind = serializers.CharField()
    style = serializers.CharField(allow_null=True, help_text="The style's slug; null: no style.")
    style_name = serializers.CharField(allow_null=True, help_text="The style's name in the request's language.")
    preferences = PreferencesOutput(
        allow_null=True, help_text="The preferences this makeover was made with (null: a spec we cannot read)."
    )
    upload_id = serializers.UUIDField()
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    state = JobStateOutput()
    images = serializers.DictField(child=serializers.CharField())
    items = RecommendationOutput(many=True)


class MakeoverPageOutput(serializers.Serializer):
    """A page of your makeovers, newest first (`page`, `page_size` up to 50)."""

    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = MakeoverOutput(many=True)


class RestyleInput(StrictSerializer):
    style = serializers.SlugField(max_length=50)


def _style_name(style) -> str | None:
    if style is None:
        return None
    return style.name_ko if get_language() == "ko" and style.name_ko else style.name_en


def _preferences(job: GenerationJob) -> dict | None:
    try:
        params: DeskParams = job_selectors.job_params(job=job)
    except ContractError:  # a spec this contract cannot read: the makeover still shows, not a 500
        return None
    return asdict(params.preferences)


def _makeover_output(request, job: GenerationJob) -> dict:
    return {
        "id": job.id,
        "kind": job.kind,
        "style": job.style.slug if job.style else None,
        "style_name": _style_name(job.style),
        "preferences": _preferences(job),
        "upload_id": job.upload_id,
        "created_at": job.created_at,
        "finished_at": job.finished_at,
        "state": job_state_output(job),
        "items": shop_selectors.job_recommendations(job=job),
        "images": job_image_urls(request, job, url_name="api:makeover_image", extra_roles=("input",)),
    }


def _respond(request, job: GenerationJob, status_code: int = 200) -> Response:
    return Response(
        MakeoverOutput(_makeover_output(request, job), context={"request": request}).data, status=status_code
    )


def _quota_exceeded(request) -> Response:
    limit = job_services.quota_of(owner=request.user, kind=KIND).limit
    return quota_response(quota_message(limit), owner=request.user, kind=KIND)


class MakeoverPagination(PageNumberPagination):
    page_size = 20
    max_page_size = 50
    page_size_query_param = "page_size"


class MakeoverListCreateApi(APIView):
    parser_classes = [JSONParser, MultiPartParser]

    @extend_schema(
        parameters=[
            OpenApiParameter("page", int, description="page number, from 1"),
            OpenApiParameter("page_size", int, description="makeovers per page, at most 50"),
        ],
        responses={200: MakeoverPageOutput},
        operation_id="makeovers_list",
        tags=["makeovers"],
    )
    def get(self, request):
        paginator = MakeoverPagination()
        page = paginator.paginate_queryset(selectors.makeovers_listed(owner=request.user), request, view=self)
        job_selectors.job_states_preload(page)
        body = MakeoverOutput(
            [_makeover_output(request, job) for job in page], many=True, context={"request": request}
        ).data
        return paginator.get_paginated_response(body)

    @extend_schema(
        # One documented body: openapi-python-client 0.29 generates a broken function for an operation
        # with two request content types. The multipart form (MakeoverPhotoCreateInput) stays accepted
        # for older clients, as the description says.
        request={"application/json": MakeoverCreateInput},
        description="Make over a photo you uploaded (POST /api/uploads/ first). Older clients may instead send "
        "multipart/form-data with `photo`, `style` and `submission_id` (no preferences).",
        responses={
            201: MakeoverOutput,
            404: OpenApiResponse(description="not_found: no such upload of yours (upload_id)."),
            413: OpenApiResponse(description="too_large: the photo is too large."),
        },
        tags=["makeovers"],
    )
    def post(self, request):
        multipart = request.content_type.startswith("multipart/")
        data = (MakeoverPhotoCreateInput if multipart else MakeoverCreateInput)(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        style = style_or_400(values.get("style"), kind=KIND)
        resent = values.get("submission_id") and (
            job_selectors.jobs_of(owner=request.user, kind=KIND).filter(submission_id=values["submission_id"]).first()
        )
        if resent:  # the same submission again (a retry): its job back, and nothing new stored
            return _respond(request, resent, 201)
        if job_services.quota_of(owner=request.user, kind=KIND).remaining <= 0:
            # Checked before the photo is stored, so a request over quota leaves nothing behind (the
            # definitive check is in the service, under a lock).
            return _quota_exceeded(request)
        stored = None  # a photo this request stored: it goes again if the request makes nothing
        if values.get("upload_id"):
            upload = get_object_or_404(Upload, pk=values["upload_id"], owner=request.user)
        else:
            try:
                upload = stored = job_services.upload_create(owner=request.user, file=values["photo"])
            except ImageRejected as exc:
                return rejected_response(exc)
        preferences = values.get("preferences") or {}
        try:
            job = services.makeover_create(
                owner=request.user,
                upload=upload,
                style=style,
                preferences=DeskPreferences(
                    tone=preferences.get("tone", "neutral"),
                    budget_min=preferences.get("budget_min"),
                    budget_max=preferences.get("budget_max"),
                    include_categories=list(preferences.get("include_categories", [])),
                    avoid_categories=list(preferences.get("avoid_categories", [])),
                ),
                submission_id=values.get("submission_id"),
            )
        except job_services.QuotaExceeded:
            if stored is not None:
                job_services.upload_discard(upload=stored)
            return _quota_exceeded(request)
        except Exception:
            if stored is not None:
                job_services.upload_discard(upload=stored)
            raise
        if stored is not None and job.upload_id != stored.pk:  # the same submission won by a request beside it
            job_services.upload_discard(upload=stored)
        return _respond(request, job, 201)


class MakeoverDetailApi(APIView):
    @extend_schema(responses={200: MakeoverOutput}, tags=["makeovers"])
    def get(self, request, job_id):
        return _respond(request, selectors.makeover_get(owner=request.user, job_id=job_id))

    @extend_schema(responses={204: None}, tags=["makeovers"])
    def delete(self, request, job_id):
        job_services.job_delete(job=selectors.makeover_get(owner=request.user, job_id=job_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


def _again(request, job: GenerationJob, style=None) -> Response:
    """A new job from an existing one's photo: a variation (new seed), or another style."""
    try:
        again = services.makeover_variation(owner=request.user, job=job, style=style)
    except job_services.QuotaExceeded:
        return _quota_exceeded(request)
    return _respond(request, again, 201)


class MakeoverVariationApi(APIView):
    @extend_schema(request=None, responses={201: MakeoverOutput}, tags=["makeovers"])
    def post(self, request, job_id):
        return _again(request, selectors.makeover_get(owner=request.user, job_id=job_id))


class MakeoverRestyleApi(APIView):
    @extend_schema(request=RestyleInput, responses={201: MakeoverOutput}, tags=["makeovers"])
    def post(self, request, job_id):
        job = selectors.makeover_get(owner=request.user, job_id=job_id)  # another person's id is a 404 before a 400
        data = RestyleInput(data=request.data)
        data.is_valid(raise_exception=True)
        return _again(request, job, style=style_or_400(data.validated_data["style"], kind=KIND))


class MakeoverCancelApi(APIView):
    @extend_schema(
        request=None,
        responses={200: MakeoverOutput, 409: OpenApiResponse(description="already_finished: nothing to cancel.")},
        tags=["makeovers"],
    )
    def post(self, request, job_id):
        job = selectors.makeover_get(owner=request.user, job_id=job_id)
        if not job_services.job_cancel(job=job):
            return error_response("already_finished", _("This makeover has already finished."), 409)
        job.refresh_from_db()
        return _respond(request, job)


class QuotaApi(APIView):
    @extend_schema(responses={200: QuotaOutput}, tags=["makeovers"])
    def get(self, request):
        return Response(quota_output(owner=request.user, kind=KIND))


class MakeoverImageApi(APIView):
    """An image of one of your makeovers: input, thumb, result or mask (`?download=1` to save it)."""

    content_negotiation_class = ImageNegotiation

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "role",
                str,
                OpenApiParameter.PATH,
                enum=["input", "thumb", "result", "mask", RESULT_PNG_ROLE],
                description=(
                    "input: your photo; thumb: a small copy; result and mask: once it succeeded. "
                    f"{RESULT_PNG_ROLE}: the result as a lossless PNG (makeovers from before it existed have "
                    "none: their result is a PNG already)."
                ),
            ),
            OpenApiParameter(
                "size",
                str,
                enum=["preview"],
                description="preview: at most 1280 px on the long side (JPEG); omitted: the original file.",
            ),
            OpenApiParameter(
                "format",
                str,
                enum=["png"],
                description=(
                    "png: the lossless PNG of the result (large; for saving, with download=1). "
                    "Omitted: the stored file, a high-quality JPEG for makeovers made since PNG copies exist."
                ),
            ),
            OpenApiParameter("download", str, enum=["1"], description="1: the original file, as an attachment."),
        ],
        responses={(200, "image/*"): OpenApiTypes.BINARY},
        tags=["makeovers"],
    )
    def get(self, request, job_id, role: str):
        job = selectors.makeover_get(owner=request.user, job_id=job_id)
        return media.serve_job_image(
            job,
            role,
            download=request.query_params.get("download") == "1",
            size=media.requested_size(request.query_params.get("size")),
            image_format=media.requested_format(request.query_params.get("format")),
        )
