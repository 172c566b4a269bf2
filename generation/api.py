"""The job engine's API pieces every product shares: styles, uploads, job images, error helpers.
Errors are JSON {code, message}; other people's ids are 404."""

from dataclasses import asdict

from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from generation import media, selectors, services
from generation.images import ImageRejected
from generation.models import GenerationJob
from ontop.api import ImageNegotiation, StrictSerializer, error_response


def rejected_response(exc: ImageRejected) -> Response:
    code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE if exc.code == "too_large" else status.HTTP_400_BAD_REQUEST
    return error_response(exc.code, str(exc.message), code)


def quota_response(message: str, *, owner, kind: str) -> Response:
    quota = services.quota_of(owner=owner, kind=kind)
    seconds = max(1, int((quota.resets_at - timezone.now()).total_seconds()))
    return Response(
        {"code": "quota_exceeded", "message": message, "limit": quota.limit, "resets_at": quota.resets_at},
        status=status.HTTP_429_TOO_MANY_REQUESTS,
        headers={"Retry-After": str(seconds)},
    )


class StyleOutput(serializers.Serializer):
    slug = serializers.CharField()
    name_en = serializers.CharField()
    name_ko = serializers.CharField()
    description_en = serializers.CharField()
    description_ko = serializers.CharField()
    scopes = serializers.ListField(child=serializers.CharField())
    preview_url = serializers.SerializerMethodField()

    def get_preview_url(self, style) -> str | None:
        if not style.preview_image:
            return None
        return self.context["request"].build_absolute_uri(reverse("generation:style_preview", args=[style.slug]))


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
    queue_position = serializers.IntegerField(
        allow_null=True,
        help_text="While queued: how many jobs are ahead of yours in its GPU queue (0: yours is next). Null otherwise.",
    )
    eta_seconds = serializers.IntegerField(
        allow_null=True,
        help_text="Seconds until the picture is ready, when there is enough to go on: while queued from the "
        "queue position and recent jobs' durations, while starting from recent jobs, then from the progress.",
    )
    error_code = serializers.CharField()
    error_message = serializers.CharField()
    loss = serializers.FloatField(allow_null=True, help_text="Training only: the current loss (a moving average).")
    has_preview = serializers.BooleanField(help_text="Training only: a checkpoint preview can be fetched.")
    attempt = serializers.IntegerField(help_text="1, or more when the job resumed after its GPU worker stopped.")


class QuotaOutput(serializers.Serializer):
    limit = serializers.IntegerField(allow_null=True, help_text="None: no daily limit for this kind.")
    used = serializers.IntegerField()
    remaining = serializers.IntegerField()
    resets_at = serializers.DateTimeField()


def quota_output(*, owner, kind: str) -> dict:
    quota = services.quota_of(owner=owner, kind=kind)
    return {"limit": quota.limit, "used": quota.used, "remaining": quota.remaining, "resets_at": quota.resets_at}


def job_state_output(job: GenerationJob) -> dict:
    return asdict(selectors.job_state(job=job))


def job_image_urls(
    request, job: GenerationJob, *, url_name: str = "api:job_image", extra_roles: tuple[str, ...] = ()
) -> dict[str, str]:
    """API URLs (token auth) for a job's images: the website's image URLs need a browser session."""
    roles = [*extra_roles, "thumb", *selectors.job_output_roles(job=job)]
    return {role: request.build_absolute_uri(reverse(url_name, args=[job.id, role])) for role in dict.fromkeys(roles)}


def style_or_400(slug: str | None, *, kind: str):
    if not slug:
        return None
    style = selectors.styles_active(kind=kind).filter(slug=slug).first()
    if style is None:
        raise exceptions.ValidationError({"style": [_("There is no such style. Pick one from the list.")]})
    return style


class StyleListApi(APIView):
    # The styles are public: the home page shows them before anyone signs up.
    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(
        parameters=[OpenApiParameter("kind", str, description="only the styles of this product, e.g. desk_makeover")],
        responses={200: StyleOutput(many=True)},
        tags=["styles"],
    )
    def get(self, request):
        styles = selectors.styles_active(kind=request.query_params.get("kind") or None)
        return Response(StyleOutput(styles, many=True, context={"request": request}).data)


class UploadInput(StrictSerializer):
    photo = serializers.FileField(help_text="A JPEG, PNG, WebP or HEIC photo.")


class UploadCreateApi(APIView):
    parser_classes = [MultiPartParser]

    @extend_schema(
        request=UploadInput,
        responses={201: UploadOutput, 400: OpenApiResponse(), 413: OpenApiResponse()},
        tags=["uploads"],
    )
    def post(self, request):
        data = UploadInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            upload = services.upload_create(owner=request.user, file=data.validated_data["photo"])
        except ImageRejected as exc:
            return rejected_response(exc)
        return Response(UploadOutput(upload).data, status=status.HTTP_201_CREATED)


class JobImageApi(APIView):
    """An image of one of your jobs: input, thumb, result, mask, ... (`?download=1` to save it)."""

    content_negotiation_class = ImageNegotiation

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "size",
                str,
                enum=["preview"],
                description="preview: at most 1280 px on the long side (JPEG); omitted: the original file.",
            ),
            OpenApiParameter("download", str, enum=["1"], description="1: the original file, as an attachment."),
            OpenApiParameter(
                "format",
                str,
                enum=["png"],
                description="png: a result's lossless PNG (never resized; 404 for input and thumb, and for "
                "results that have none).",
            ),
        ],
        responses={(200, "image/*"): OpenApiTypes.BINARY, 404: OpenApiResponse()},
        tags=["jobs"],
    )
    def get(self, request, job_id, role: str):
        job = selectors.job_get(owner=request.user, job_id=job_id)
        return media.serve_job_image(
            job,
            role,
            download=request.query_params.get("download") == "1",
            size=media.requested_size(request.query_params.get("size")),
            image_format=media.requested_format(request.query_params.get("format")),
        )
