from dataclasses import asdict

from django.urls import reverse
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from generation import selectors, services
from generation.images import ImageRejected
from generation.models import GenerationJob
from shop import selectors as shop_selectors
from shop.api import RecommendationOutput


class StyleOutput(serializers.Serializer):
    slug = serializers.CharField()
    name_en = serializers.CharField()
    name_ko = serializers.CharField()
    description_en = serializers.CharField()
    description_ko = serializers.CharField()


class JobCreateInput(serializers.Serializer):
    photo = serializers.FileField()
    style = serializers.SlugField(required=False, max_length=50)


class JobStateOutput(serializers.Serializer):
    status = serializers.CharField()
    stage = serializers.CharField()
    percent = serializers.FloatField()
    step = serializers.IntegerField()
    total_steps = serializers.IntegerField()
    queue_position = serializers.IntegerField(allow_null=True)
    error_code = serializers.CharField()
    error_message = serializers.CharField()


class JobOutput(serializers.Serializer):
    id = serializers.UUIDField()
    kind = serializers.CharField()
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    state = JobStateOutput()
    images = serializers.DictField(child=serializers.CharField())
    items = RecommendationOutput(many=True)


def _job_output(request, job: GenerationJob) -> dict:
    roles = ["input"] + [o["role"] for o in (job.result or {}).get("outputs", []) if job.status == "succeeded"]
    return {
        "id": job.id,
        "kind": job.kind,
        "created_at": job.created_at,
        "finished_at": job.finished_at,
        "state": asdict(selectors.job_state(job=job)),
        "items": shop_selectors.job_recommendations(job=job),
        "images": {
            role: request.build_absolute_uri(reverse("generation:job_image", args=[job.id, role]))
            for role in dict.fromkeys(roles)
        },
    }


class StyleListApi(APIView):
    @extend_schema(responses={200: StyleOutput(many=True)}, tags=["generation"])
    def get(self, request):
        return Response(StyleOutput(selectors.styles_active(), many=True).data)


class JobListCreateApi(APIView):
    parser_classes = [MultiPartParser]

    @extend_schema(responses={200: JobOutput(many=True)}, tags=["generation"])
    def get(self, request):
        jobs = selectors.jobs_of(owner=request.user)[:50]
        return Response(
            JobOutput([_job_output(request, j) for j in jobs], many=True, context={"request": request}).data
        )

    @extend_schema(request=JobCreateInput, responses={201: JobOutput}, tags=["generation"])
    def post(self, request):
        data = JobCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        style = None
        if slug := data.validated_data.get("style"):
            style = selectors.styles_active().filter(slug=slug).first()
            if style is None:
                return Response({"code": "unknown_style", "message": "No such style."}, status=400)
        try:
            upload = services.upload_create(owner=request.user, file=data.validated_data["photo"])
        except ImageRejected as exc:
            code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE if exc.code == "too_large" else status.HTTP_400_BAD_REQUEST
            return Response({"code": exc.code, "message": exc.message}, status=code)
        job = services.job_create(owner=request.user, upload=upload, style=style)
        return Response(JobOutput(_job_output(request, job), context={"request": request}).data, status=201)


class JobDetailApi(APIView):
    @extend_schema(responses={200: JobOutput}, tags=["generation"])
    def get(self, request, job_id):
        job = selectors.job_get(owner=request.user, job_id=job_id)
        return Response(JobOutput(_job_output(request, job), context={"request": request}).data)
