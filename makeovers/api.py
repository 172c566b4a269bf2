"""Mobile API for desk makeovers. Errors are JSON {code, message}; other people's ids are 404."""

from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.pagination import PageNumberPagination
from rest_framework.parsers import JSONParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from generation import media
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
from gpu_worker.contract.desk_makeover import KIND, DeskPreferences
from makeovers import selectors, services
from makeovers.views import quota_message
from ontop.api import StrictSerializer, StrictUUIDField
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
            raise serializers.ValidationError({"budget_max": "The upper budget must be at least the lower one."})
        known = set(shop_selectors.categories().values_list("slug", flat=True))
        for key in ("include_categories", "avoid_categories"):
            unknown = set(attrs.get(key, ())) - known
            if unknown:
                raise serializers.ValidationError({key: f"Unknown categories: {', '.join(sorted(unknown))}."})
        return attrs


class MakeoverCreateInput(StrictSerializer):
    upload_id = StrictUUIDField(required=False)
    photo = serializers.FileField(required=False)
    style = serializers.SlugField(required=False, max_length=50)
    preferences = PreferencesInput(required=False)
    submission_id = StrictUUIDField(required=False, help_text="Send the same id again and get the same job.")

    def validate(self, attrs):
        if bool(attrs.get("upload_id")) == bool(attrs.get("photo")):
            raise serializers.ValidationError("Send either upload_id or photo.")
        return attrs


class MakeoverOutput(serializers.Serializer):
    id = serializers.UUIDField()
    kind = serializers.CharField()
    style = serializers.CharField(allow_null=True)
    upload_id = serializers.UUIDField()
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    state = JobStateOutput()
    images = serializers.DictField(child=serializers.CharField())
    items = RecommendationOutput(many=True)


class MakeoverPageOutput(serializers.Serializer):
    """What the list really returns: DRF's page envelope around the makeovers."""

    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = MakeoverOutput(many=True)


class RestyleInput(StrictSerializer):
    style = serializers.SlugField(max_length=50)


def _makeover_output(request, job: GenerationJob) -> dict:
    return {
        "id": job.id,
        "kind": job.kind,
        "style": job.style.slug if job.style else None,
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
        page = paginator.paginate_queryset(selectors.makeovers_of(owner=request.user), request, view=self)
        body = MakeoverOutput(
            [_makeover_output(request, job) for job in page], many=True, context={"request": request}
        ).data
        return paginator.get_paginated_response(body)

    @extend_schema(
        request=MakeoverCreateInput,
        responses={201: MakeoverOutput, 400: OpenApiResponse(), 413: OpenApiResponse(), 429: OpenApiResponse()},
        tags=["makeovers"],
    )
    def post(self, request):
        data = MakeoverCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        style = style_or_400(values.get("style"), kind=KIND)
        if values.get("upload_id"):
            upload = get_object_or_404(Upload, pk=values["upload_id"], owner=request.user)
        else:
            try:
                upload = job_services.upload_create(owner=request.user, file=values["photo"])
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
            return _quota_exceeded(request)
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
    @extend_schema(request=None, responses={201: MakeoverOutput, 429: OpenApiResponse()}, tags=["makeovers"])
    def post(self, request, job_id):
        return _again(request, selectors.makeover_get(owner=request.user, job_id=job_id))


class MakeoverRestyleApi(APIView):
    @extend_schema(request=RestyleInput, responses={201: MakeoverOutput, 429: OpenApiResponse()}, tags=["makeovers"])
    def post(self, request, job_id):
        job = selectors.makeover_get(owner=request.user, job_id=job_id)  # another person's id is a 404 before a 400
        data = RestyleInput(data=request.data)
        data.is_valid(raise_exception=True)
        return _again(request, job, style=style_or_400(data.validated_data["style"], kind=KIND))


class MakeoverCancelApi(APIView):
    @extend_schema(request=None, responses={200: MakeoverOutput, 409: OpenApiResponse()}, tags=["makeovers"])
    def post(self, request, job_id):
        job = selectors.makeover_get(owner=request.user, job_id=job_id)
        if not job_services.job_cancel(job=job):
            return Response({"code": "already_finished", "message": "This makeover has already finished."}, status=409)
        job.refresh_from_db()
        return _respond(request, job)


class QuotaApi(APIView):
    @extend_schema(responses={200: QuotaOutput}, tags=["makeovers"])
    def get(self, request):
        return Response(quota_output(owner=request.user, kind=KIND))


class MakeoverImageApi(APIView):
    """An image of one of your makeovers: input, thumb, result or mask (`?download=1` to save it)."""

    @extend_schema(responses={(200, "image/*"): OpenApiTypes.BINARY, 404: OpenApiResponse()}, tags=["makeovers"])
    def get(self, request, job_id, role: str):
        job = selectors.makeover_get(owner=request.user, job_id=job_id)
        return media.serve_job_image(job, role, download=request.query_params.get("download") == "1")
