"""Mobile API for makeovers. Errors are JSON {code, message}; other people's ids are 404."""

from dataclasses import asdict

from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.pagination import PageNumberPagination
from rest_framework.parsers import JSONParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from generation import media, selectors, services
from generation.images import ImageRejected
from generation.models import GenerationJob, Upload
from ontop.api import StrictSerializer, StrictUUIDField
from shop import selectors as shop_selectors
from shop.api import RecommendationOutput


def _rejected(exc: ImageRejected) -> Response:
    code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE if exc.code == "too_large" else status.HTTP_400_BAD_REQUEST
    return Response({"code": exc.code, "message": exc.message}, status=code)


def _quota_response(exc: services.QuotaExceeded, owner) -> Response:
    quota = services.quota_of(owner=owner)
    seconds = max(1, int((quota.resets_at - timezone.now()).total_seconds()))
    return Response(
        {"code": "quota_exceeded", "message": exc.message, "limit": quota.limit, "resets_at": quota.resets_at},
        status=status.HTTP_429_TOO_MANY_REQUESTS,
        headers={"Retry-After": str(seconds)},
    )


class StyleOutput(serializers.Serializer):
    slug = serializers.CharField()
    name_en = serializers.CharField()
    name_ko = serializers.CharField()
    description_en = serializers.CharField()
    description_ko = serializers.CharField()
    preview_url = serializers.SerializerMethodField()

    def get_preview_url(self, style) -> str | None:
        if not style.preview_image:
            return None
        return self.context["request"].build_absolute_uri(reverse("generation:style_preview", args=[style.slug]))


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


class UploadOutput(serializers.Serializer):
    id = serializers.UUIDField()
    width = serializers.IntegerField()
    height = serializers.IntegerField()
    created_at = serializers.DateTimeField()


class JobStateOutput(serializers.Serializer):
    status = serializers.CharField()
    status_label = serializers.CharField()
    stage = serializers.CharField()
    stage_label = serializers.CharField()
    percent = serializers.FloatField()
    step = serializers.IntegerField()
    total_steps = serializers.IntegerField()
    queue_position = serializers.IntegerField(allow_null=True)
    eta_seconds = serializers.IntegerField(allow_null=True)
    error_code = serializers.CharField()
    error_message = serializers.CharField()


class JobOutput(serializers.Serializer):
    id = serializers.UUIDField()
    kind = serializers.CharField()
    style = serializers.CharField(allow_null=True)
    upload_id = serializers.UUIDField()
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    state = JobStateOutput()
    images = serializers.DictField(child=serializers.CharField())
    items = RecommendationOutput(many=True)


class QuotaOutput(serializers.Serializer):
    limit = serializers.IntegerField()
    used = serializers.IntegerField()
    remaining = serializers.IntegerField()
    resets_at = serializers.DateTimeField()


class RestyleInput(StrictSerializer):
    style = serializers.SlugField(max_length=50)


def _job_output(request, job: GenerationJob) -> dict:
    roles = ["input", "thumb"]
    if job.status == GenerationJob.Status.SUCCEEDED:
        roles += [o["role"] for o in (job.result or {}).get("outputs", [])]
    return {
        "id": job.id,
        "kind": job.kind,
        "style": job.style.slug if job.style else None,
        "upload_id": job.upload_id,
        "created_at": job.created_at,
        "finished_at": job.finished_at,
        "state": asdict(selectors.job_state(job=job)),
        "items": shop_selectors.job_recommendations(job=job),
        # API URLs (token auth): the website's image URLs need a browser session.
        "images": {
            role: request.build_absolute_uri(reverse("api:makeover_image", args=[job.id, role]))
            for role in dict.fromkeys(roles)
        },
    }


def _style_or_400(slug: str | None):
    if not slug:
        return None
    style = selectors.styles_active().filter(slug=slug).first()
    if style is None:
        raise exceptions.ValidationError({"style": "No such style."})
    return style


class MakeoverPagination(PageNumberPagination):
    page_size = 20
    max_page_size = 50
    page_size_query_param = "page_size"


class StyleListApi(APIView):
    @extend_schema(responses={200: StyleOutput(many=True)}, tags=["generation"])
    def get(self, request):
        return Response(StyleOutput(selectors.styles_active(), many=True, context={"request": request}).data)


class UploadCreateApi(APIView):
    parser_classes = [MultiPartParser]

    class Input(StrictSerializer):
        photo = serializers.FileField()

    @extend_schema(
        request=Input,
        responses={201: UploadOutput, 400: OpenApiResponse(), 413: OpenApiResponse()},
        tags=["generation"],
    )
    def post(self, request):
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            upload = services.upload_create(owner=request.user, file=data.validated_data["photo"])
        except ImageRejected as exc:
            return _rejected(exc)
        return Response(UploadOutput(upload).data, status=status.HTTP_201_CREATED)


class MakeoverListCreateApi(APIView):
    parser_classes = [JSONParser, MultiPartParser]

    @extend_schema(responses={200: JobOutput(many=True)}, tags=["generation"])
    def get(self, request):
        paginator = MakeoverPagination()
        page = paginator.paginate_queryset(selectors.jobs_of(owner=request.user), request, view=self)
        body = JobOutput([_job_output(request, job) for job in page], many=True, context={"request": request}).data
        return paginator.get_paginated_response(body)

    @extend_schema(
        request=MakeoverCreateInput,
        responses={201: JobOutput, 400: OpenApiResponse(), 413: OpenApiResponse(), 429: OpenApiResponse()},
        tags=["generation"],
    )
    def post(self, request):
        data = MakeoverCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        style = _style_or_400(values.get("style"))
        if values.get("upload_id"):
            upload = get_object_or_404(Upload, pk=values["upload_id"], owner=request.user)
        else:
            try:
                upload = services.upload_create(owner=request.user, file=values["photo"])
            except ImageRejected as exc:
                return _rejected(exc)
        try:
            job = services.job_create(
                owner=request.user,
                upload=upload,
                style=style,
                preferences=dict(values.get("preferences") or {"tone": "neutral"}),
                submission_id=values.get("submission_id"),
            )
        except services.QuotaExceeded as exc:
            return _quota_response(exc, request.user)
        return Response(JobOutput(_job_output(request, job), context={"request": request}).data, status=201)


class MakeoverDetailApi(APIView):
    @extend_schema(responses={200: JobOutput}, tags=["generation"])
    def get(self, request, job_id):
        job = selectors.job_get(owner=request.user, job_id=job_id)
        return Response(JobOutput(_job_output(request, job), context={"request": request}).data)

    @extend_schema(responses={204: None}, tags=["generation"])
    def delete(self, request, job_id):
        services.job_delete(job=selectors.job_get(owner=request.user, job_id=job_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


def _again(request, job: GenerationJob, style=None) -> Response:
    """A new job from an existing one's photo: a variation (new seed), or another style."""
    try:
        again = services.job_variation(owner=request.user, job=job, style=style)
    except services.QuotaExceeded as exc:
        return _quota_response(exc, request.user)
    return Response(JobOutput(_job_output(request, again), context={"request": request}).data, status=201)


class MakeoverVariationApi(APIView):
    @extend_schema(request=None, responses={201: JobOutput, 429: OpenApiResponse()}, tags=["generation"])
    def post(self, request, job_id):
        return _again(request, selectors.job_get(owner=request.user, job_id=job_id))


class MakeoverRestyleApi(APIView):
    @extend_schema(request=RestyleInput, responses={201: JobOutput, 429: OpenApiResponse()}, tags=["generation"])
    def post(self, request, job_id):
        job = selectors.job_get(owner=request.user, job_id=job_id)  # another person's id is a 404 before a 400
        data = RestyleInput(data=request.data)
        data.is_valid(raise_exception=True)
        return _again(request, job, style=_style_or_400(data.validated_data["style"]))


class MakeoverCancelApi(APIView):
    @extend_schema(request=None, responses={200: JobOutput, 409: OpenApiResponse()}, tags=["generation"])
    def post(self, request, job_id):
        job = selectors.job_get(owner=request.user, job_id=job_id)
        if not services.job_cancel(job=job):
            return Response({"code": "already_finished", "message": "This makeover has already finished."}, status=409)
        job.refresh_from_db()
        return Response(JobOutput(_job_output(request, job), context={"request": request}).data)


class QuotaApi(APIView):
    @extend_schema(responses={200: QuotaOutput}, tags=["generation"])
    def get(self, request):
        quota = services.quota_of(owner=request.user)
        return Response(
            {"limit": quota.limit, "used": quota.used, "remaining": quota.remaining, "resets_at": quota.resets_at}
        )


class MakeoverImageApi(APIView):
    """An image of one of your makeovers: input, thumb, result or mask (`?download=1` to save it)."""

    @extend_schema(responses={(200, "image/*"): OpenApiTypes.BINARY, 404: OpenApiResponse()}, tags=["generation"])
    def get(self, request, job_id, role: str):
        job = selectors.job_get(owner=request.user, job_id=job_id)
        return media.serve_job_image(job, role, download=request.query_params.get("download") == "1")
