"""Mobile API of the profile studio. Errors are JSON {code, message[, fields]} in the request's
language; other people's ids are 404. Order of checks: ownership (404) → input (400) →
conflicts (409) → the daily trainings (429)."""

from __future__ import annotations

from dataclasses import asdict

from django.conf import settings
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404
from django.urls import reverse
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
)
from rest_framework import exceptions, serializers, status
from rest_framework.pagination import PageNumberPagination
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from generation import selectors as job_selectors
from generation import services as job_services
from generation.api import JobStateOutput, QuotaOutput, quota_output, quota_response
from gpu_worker.contract.portrait import KIND as PORTRAIT_KIND
from gpu_worker.contract.portrait import MAX_INSTRUCTION_CHARS, PACK_MAX, PACK_MIN, POSE_KEYPOINTS
from gpu_worker.contract.subject_photo_check import MAX_PHOTOS
from gpu_worker.contract.subject_training import KIND as TRAINING_KIND
from ontop.api import (
    AnyAcceptMixin,
    ErrorOutput,
    InvalidOutput,
    StrictSerializer,
    StrictUUIDField,
    TooManyRequestsOutput,
    error_response,
)
from ontop.parsers import JSONParser
from studio import messages as words
from studio import selectors, services
from studio.models import (
    NAME_MAX_LENGTH,
    Concept,
    Pack,
    PersonalModel,
    Pose,
    Subject,
    SubjectKind,
    SubjectPhoto,
    Tone,
    ToneChoice,
    Training,
)
from studio.templatetags.studio_tags import photo_status_label, subject_status_label
from studio.views import model_preview_response, pack_zip_response, photo_thumbnail_response, portrait_image_response

TAGS = ["studio"]

# ---- input ---------------------------------------------------------------------------------------


StudioInput = StrictSerializer  # unknown fields are refused, in the request's language


def _name_field(**kwargs) -> serializers.CharField:
    return serializers.CharField(
        max_length=NAME_MAX_LENGTH,
        error_messages={
            "required": gettext_lazy("Give it a name."),
            "blank": gettext_lazy("Give it a name."),
            "null": gettext_lazy("Give it a name."),
            "invalid": gettext_lazy("Give it a name."),
            "max_length": gettext_lazy("A name has at most {max_length} characters."),
        },
        help_text=f"1 to {NAME_MAX_LENGTH} characters.",
        **kwargs,
    )


def _bool_field(help_text: str, **kwargs) -> serializers.BooleanField:
    return serializers.BooleanField(
        error_messages={"invalid": gettext_lazy("Say true or false."), "null": gettext_lazy("Say true or false.")},
        help_text=help_text,
        **kwargs,
    )


class SubjectCreateInput(StudioInput):
    submission_id = StrictUUIDField(
        required=False,
        help_text="Optional idempotency key: send the same id again (a retry, a double tap) and get the same "
        "subject back instead of a second one.",
    )
    kind = serializers.ChoiceField(
        choices=SubjectKind.values,
        error_messages={
            "required": gettext_lazy("Pick who the photos are of."),
            "invalid_choice": gettext_lazy("Pick who the photos are of."),
            "null": gettext_lazy("Pick who the photos are of."),
        },
        help_text="person (the account's owner), dog or cat.",
    )
    name = _name_field()
    consent = _bool_field(
        "Required true for a person: these are photos of me, or I have the right to use them.",
        required=False,
        default=False,
    )
    keep_photos = _bool_field(
        "Keep the photos after a successful training (by default they are deleted then).",
        required=False,
        default=False,
    )

    def validate(self, data):
        if data["kind"] == SubjectKind.PERSON and not data.get("consent"):
            raise exceptions.ValidationError({"consent": [words.consent_required()]})
        return data


class SubjectUpdateInput(StudioInput):
    name = _name_field(required=False)
    keep_photos = _bool_field("Keep the photos after a successful training.", required=False)


class PhotosUploadInput(StudioInput):
    # An empty or unusable file is not an input error: it is reported by name in `rejected` and the
    # other files are still stored (studio.services.subject_photos_add).
    photos = serializers.ListField(
        child=serializers.FileField(allow_empty_file=True),
        allow_empty=False,
        error_messages={
            "required": gettext_lazy("Choose at least one photo."),
            "empty": gettext_lazy("Choose at least one photo."),
            "not_a_list": gettext_lazy("Choose at least one photo."),
        },
        help_text=f"Photos (JPEG, PNG, WebP or HEIC); at most {MAX_PHOTOS} per subject that are not rejected.",
    )


class TrainInput(StudioInput):
    submission_id = StrictUUIDField(required=False, help_text="Send the same id again and get the same training.")


class ModelUpdateInput(StudioInput):
    name = _name_field()


# ---- output --------------------------------------------------------------------------------------


class StudioJobStateOutput(JobStateOutput):
    loss = serializers.FloatField(allow_null=True, help_text="The current training loss, while it trains.")
    has_preview = serializers.BooleanField(help_text="A checkpoint preview can be fetched (progress_preview_url).")
    attempt = serializers.IntegerField(help_text="Above 1: the training resumed after its GPU worker stopped.")


class StudioPhotoOutput(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=["checking", "accepted", "rejected", "unchecked"])
    status_label = serializers.CharField()
    rejection = serializers.CharField(
        help_text="A rejection code (no_subject, several_subjects, no_face, ...), or empty."
    )
    reason = serializers.CharField(help_text="Why it cannot be used, in the request's language; empty when it can.")
    sharpness = serializers.FloatField(allow_null=True)
    face_px = serializers.IntegerField(
        allow_null=True,
        help_text="People only: the face's shorter side in pixels (0: no face found). Null for pets and "
        "before the check.",
    )
    width = serializers.IntegerField()
    height = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    image_url = serializers.URLField(help_text="A small JPEG of the photo.")


class StudioPreviewOutput(serializers.Serializer):
    step = serializers.IntegerField()
    url = serializers.URLField()


class StudioModelOutput(serializers.Serializer):
    id = serializers.UUIDField()
    subject_id = serializers.UUIDField()
    name = serializers.CharField()
    created_at = serializers.DateTimeField()
    last_used_at = serializers.DateTimeField()
    training_id = serializers.UUIDField()
    steps = serializers.IntegerField(allow_null=True)
    final_loss = serializers.FloatField(allow_null=True)
    previews = StudioPreviewOutput(many=True, help_text="Checkpoint previews in step order (AI-generated).")


class StudioTrainingOutput(serializers.Serializer):
    id = serializers.UUIDField(help_text="The training's id (its job's id).")
    subject_id = serializers.UUIDField()
    photos_count = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    state = StudioJobStateOutput()
    status_url = serializers.URLField(help_text="Poll this for progress.")
    progress_preview_url = serializers.URLField(
        allow_null=True, help_text="The newest checkpoint preview while it trains (when state.has_preview)."
    )
    model_id = serializers.UUIDField(allow_null=True, help_text="The personal model, once it succeeded.")
    steps = serializers.IntegerField(allow_null=True, help_text="Steps trained (null unless it succeeded).")
    final_loss = serializers.FloatField(allow_null=True, help_text="The last step's loss (null unless it succeeded).")
    seconds = serializers.FloatField(allow_null=True, help_text="How long it trained (null unless it succeeded).")
    photos_used = serializers.IntegerField(
        allow_null=True, help_text="Photos the training could use (null unless it succeeded)."
    )


class StudioSubjectOutput(serializers.Serializer):
    id = serializers.UUIDField()
    kind = serializers.ChoiceField(choices=SubjectKind.values)
    kind_label = serializers.CharField()
    name = serializers.CharField()
    keep_photos = serializers.BooleanField()
    consent_at = serializers.DateTimeField(allow_null=True, help_text="When consent was given (people only).")
    created_at = serializers.DateTimeField()
    last_used_at = serializers.DateTimeField()
    expires_after_days = serializers.IntegerField(help_text="Deleted when unused for this many days.")
    status = serializers.ChoiceField(choices=["collecting", "training", "ready", "failed"])
    status_label = serializers.CharField()
    failure_message = serializers.CharField(help_text="Why the latest training failed (empty unless failed).")
    photos_accepted = serializers.IntegerField()
    photos_checking = serializers.IntegerField()
    photos_unchecked = serializers.IntegerField()
    photos_rejected = serializers.IntegerField()
    photo_room = serializers.IntegerField(help_text="How many more photos may be uploaded now.")
    min_photos = serializers.IntegerField()
    max_photos = serializers.IntegerField()
    can_train = serializers.BooleanField()
    trainings = StudioTrainingOutput(many=True, help_text="Newest first.")
    models = StudioModelOutput(many=True, help_text="Newest first.")


class StudioSubjectPageOutput(serializers.Serializer):
    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = StudioSubjectOutput(many=True)


class StudioModelPageOutput(serializers.Serializer):
    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = StudioModelOutput(many=True)


class StudioFileRejectedOutput(serializers.Serializer):
    name = serializers.CharField(help_text="The file's name as sent.")
    code = serializers.CharField()
    message = serializers.CharField()


class StudioPhotosAddedOutput(serializers.Serializer):
    photos = StudioPhotoOutput(many=True, help_text="The photos stored; one check of them all has started.")
    rejected = StudioFileRejectedOutput(many=True, help_text="Files that are not photos we can use (not stored).")


# The API-wide error bodies (ontop.api), under the names the studio's declarations use.
StudioErrorOutput = ErrorOutput
StudioInvalidOutput = InvalidOutput
StudioQuotaExceededOutput = TooManyRequestsOutput


class StudioPhotosRejectedOutput(InvalidOutput):
    rejected = StudioFileRejectedOutput(
        many=True, required=False, help_text="photos_rejected only: each file and why it cannot be used."
    )


NOT_FOUND = OpenApiResponse(
    StudioErrorOutput,
    description="not_found: not yours, or no such thing (the message, in the request's language, names nothing).",
)
INVALID = OpenApiResponse(
    StudioInvalidOutput,
    description="invalid: the request is malformed; nothing was written. `fields` has the messages per field.",
)
QUOTA = OpenApiResponse(StudioQuotaExceededOutput, description="Today's trainings are used up (see Retry-After).")
PAGE_NOT_FOUND = OpenApiResponse(StudioErrorOutput, description="not_found: there is no such page.")
UNAUTHENTICATED = OpenApiResponse(
    StudioErrorOutput, description="not_authenticated (no token) or authentication_failed (a bad token)."
)
UNSUPPORTED_MEDIA = OpenApiResponse(
    StudioErrorOutput, description="unsupported_media_type: the body is not in the documented content type."
)


def studio_schema(*, responses: dict, **kwargs):
    """extend_schema with what every studio operation can answer: 401 without a valid token, and 415
    for a body of another content type than the documented one."""
    everywhere = {401: UNAUTHENTICATED}
    if kwargs.get("request") is not None:
        everywhere[415] = UNSUPPORTED_MEDIA
    return extend_schema(responses={**responses, **everywhere}, tags=TAGS, **kwargs)


class StudioApiView(APIView):
    """A studio endpoint. A missing thing (or someone else's) is 404 `not_found` with a message in the
    request's language that names no model ("No Subject matches..." would)."""

    def handle_exception(self, exc):
        if isinstance(exc, Http404):
            exc = exceptions.NotFound(words.not_found())
        return super().handle_exception(exc)


def _url(request, name: str, *args) -> str:
    return request.build_absolute_uri(reverse(name, args=args))


def _photo_output(request, subject: Subject, photo: SubjectPhoto) -> dict:
    status_ = selectors.photo_status(photo)
    return {
        "id": photo.id,
        "status": status_,
        "status_label": photo_status_label(status_),
        "rejection": photo.rejection,
        "reason": selectors.photo_reason(photo, kind=subject.kind),
        "sharpness": photo.sharpness,
        "face_px": photo.face_px if subject.kind == SubjectKind.PERSON else None,
        "width": photo.upload.width,
        "height": photo.upload.height,
        "created_at": photo.created_at,
        "image_url": _url(request, "api:studio_photo_image", photo.id),
    }


def _model_output(request, model: PersonalModel) -> dict:
    result = selectors.training_result(model.training)
    return {
        "id": model.id,
        "subject_id": model.subject_id,
        "name": model.name,
        "created_at": model.created_at,
        "last_used_at": model.last_used_at,
        "training_id": model.training_id,
        "steps": result.steps if result else None,
        "final_loss": result.final_loss if result else None,
        "previews": [
            {"step": p.step, "url": _url(request, "api:studio_model_preview", model.id, p.index)}
            for p in selectors.model_previews(model)
        ],
    }


def _training_output(request, training: Training) -> dict:
    job = training.job
    state = asdict(job_selectors.job_state(job=job))
    model = selectors.training_model_id(training)
    result = selectors.training_result(training)
    return {
        "id": job.id,
        "subject_id": training.subject_id,
        "photos_count": training.photos_count,
        "created_at": training.created_at,
        "finished_at": job.finished_at,
        "state": state,
        "status_url": _url(request, "api:studio_training", job.id),
        "progress_preview_url": _url(request, "api:studio_training_preview", job.id) if not job.is_finished else None,
        "model_id": model,
        "steps": result.steps if result else None,
        "final_loss": result.final_loss if result else None,
        "seconds": result.seconds if result else None,
        "photos_used": result.photos_used if result else None,
    }


def _subject_output(request, subject: Subject) -> dict:
    o = selectors.subject_overview(subject)
    return {
        "id": subject.id,
        "kind": subject.kind,
        "kind_label": str(subject.get_kind_display()),
        "name": subject.name,
        "keep_photos": subject.keep_photos,
        "consent_at": subject.consent_at,
        "created_at": subject.created_at,
        "last_used_at": subject.last_used_at,
        "expires_after_days": settings.SUBJECT_RETENTION_DAYS,
        "status": o.status,
        "status_label": subject_status_label(o.status),
        "failure_message": o.failure_message,
        "photos_accepted": o.accepted,
        "photos_checking": o.checking,
        "photos_unchecked": o.unchecked,
        "photos_rejected": o.rejected,
        "photo_room": o.room,
        "min_photos": o.min_photos,
        "max_photos": o.max_photos,
        "can_train": o.can_train,
        "trainings": [_training_output(request, t) for t in o.trainings],
        "models": [_model_output(request, m) for m in o.models],
    }


def _respond_subject(request, subject_id, status_code: int = status.HTTP_200_OK) -> Response:
    subject = selectors.subject_get(owner=request.user, subject_id=subject_id)
    return Response(StudioSubjectOutput(_subject_output(request, subject)).data, status=status_code)


def _error(code: str, message: str, status_code: int, **extra) -> Response:
    return error_response(code, message, status_code, **extra)


class StudioPagination(PageNumberPagination):
    page_size = 20
    max_page_size = 50
    page_size_query_param = "page_size"


PAGE_PARAMETERS = [
    OpenApiParameter("page", int, description="The page (newest first)."),
    OpenApiParameter("page_size", int, description="Items per page (at most 50)."),
]

# ---- subjects ------------------------------------------------------------------------------------


class SubjectListCreateApi(StudioApiView):
    parser_classes = [JSONParser]

    @studio_schema(
        parameters=PAGE_PARAMETERS, responses={200: StudioSubjectPageOutput}, operation_id="studio_subjects_list"
    )
    def get(self, request):
        paginator = StudioPagination()
        page = paginator.paginate_queryset(selectors.subjects_of(owner=request.user), request, view=self)
        selectors.subjects_states_preload(page)
        results = StudioSubjectOutput([_subject_output(request, subject) for subject in page], many=True).data
        return paginator.get_paginated_response(results)

    @studio_schema(
        request=SubjectCreateInput,
        responses={
            201: StudioSubjectOutput,
            400: INVALID,
            409: OpenApiResponse(StudioErrorOutput, description="too_many_subjects: delete one first."),
        },
        description="A new subject: a person (needs consent: true) or a pet. Then upload its photos.",
    )
    def post(self, request):
        data = SubjectCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        try:
            subject = services.subject_create(
                owner=request.user,
                kind=values["kind"],
                name=values["name"],
                consent=values["consent"],
                keep_photos=values["keep_photos"],
                submission_id=values.get("submission_id"),
            )
        except services.SubjectLimitReached as exc:
            return _error("too_many_subjects", words.subject_limit(exc.limit), status.HTTP_409_CONFLICT)
        return _respond_subject(request, subject.id, status.HTTP_201_CREATED)


class SubjectDetailApi(StudioApiView):
    parser_classes = [JSONParser]

    @studio_schema(responses={200: StudioSubjectOutput, 404: NOT_FOUND})
    def get(self, request, subject_id):
        return _respond_subject(request, subject_id)

    @studio_schema(
        request=SubjectUpdateInput,
        responses={200: StudioSubjectOutput, 400: INVALID, 404: NOT_FOUND},
        description="Rename the subject, or say whether its photos are kept after training.",
    )
    def patch(self, request, subject_id):
        subject = selectors.subject_get(owner=request.user, subject_id=subject_id)
        data = SubjectUpdateInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        services.subject_update(subject=subject, name=values.get("name"), keep_photos=values.get("keep_photos"))
        return _respond_subject(request, subject.id)

    @studio_schema(
        responses={204: None, 404: NOT_FOUND},
        description="Delete the subject with every photo, check, training and model, files included.",
    )
    def delete(self, request, subject_id):
        services.subject_delete(subject=selectors.subject_get(owner=request.user, subject_id=subject_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


# ---- photos --------------------------------------------------------------------------------------


class SubjectPhotosApi(StudioApiView):
    parser_classes = [MultiPartParser]

    @studio_schema(responses={200: StudioPhotoOutput(many=True), 404: NOT_FOUND})
    def get(self, request, subject_id):
        subject = selectors.subject_get(owner=request.user, subject_id=subject_id)
        photos = [_photo_output(request, subject, photo) for photo in subject.photos.all()]
        return Response(StudioPhotoOutput(photos, many=True).data)

    @studio_schema(
        request={"multipart/form-data": PhotosUploadInput},
        responses={
            201: StudioPhotosAddedOutput,
            400: OpenApiResponse(
                StudioPhotosRejectedOutput,
                description="photos_rejected (with `rejected`): none of the files is a usable photo, nothing was "
                "stored; or invalid (with `fields`): no file was sent.",
            ),
            404: NOT_FOUND,
            409: OpenApiResponse(StudioErrorOutput, description="too_many_photos: nothing was stored."),
        },
        description="Upload photos (the field `photos`, repeated). The stored ones are checked together; "
        "poll the subject for the verdicts.",
    )
    def post(self, request, subject_id):
        subject = selectors.subject_get(owner=request.user, subject_id=subject_id)
        data = PhotosUploadInput(data=request.data)
        if not data.is_valid():
            raise exceptions.ValidationError(data.errors)
        try:
            added = services.subject_photos_add(subject=subject, files=data.validated_data["photos"])
        except services.PhotoLimitReached as exc:
            return _error(
                "too_many_photos", words.photo_limit(exc.room, rejected=exc.rejected), status.HTTP_409_CONFLICT
            )
        rejected = [
            {"name": item.name, "code": item.code, "message": words.file_rejected(item.code)} for item in added.rejected
        ]
        if not added.photos:
            return _error("photos_rejected", rejected[0]["message"], status.HTTP_400_BAD_REQUEST, rejected=rejected)
        body = {"photos": [_photo_output(request, subject, photo) for photo in added.photos], "rejected": rejected}
        return Response(StudioPhotosAddedOutput(body).data, status=status.HTTP_201_CREATED)


class SubjectRecheckApi(StudioApiView):
    @studio_schema(
        request=None,
        responses={
            200: StudioSubjectOutput,
            404: NOT_FOUND,
            409: OpenApiResponse(StudioErrorOutput, description="nothing_to_check"),
        },
        description="Check again the photos whose check could not run.",
    )
    def post(self, request, subject_id):
        subject = selectors.subject_get(owner=request.user, subject_id=subject_id)
        try:
            services.subject_photos_recheck(subject=subject)
        except services.NothingToCheck:
            return _error("nothing_to_check", words.nothing_to_check(), status.HTTP_409_CONFLICT)
        return _respond_subject(request, subject.id)


class PhotoDetailApi(StudioApiView):
    @studio_schema(
        responses={
            204: None,
            404: NOT_FOUND,
            409: OpenApiResponse(StudioErrorOutput, description="photo_in_use: a running training uses it."),
        },
        description="Remove the photo and its file.",
    )
    def delete(self, request, photo_id):
        photo = selectors.photo_get(owner=request.user, photo_id=photo_id)
        try:
            services.subject_photo_delete(photo=photo)
        except services.PhotoInUse:
            return _error("photo_in_use", words.photo_in_use(), status.HTTP_409_CONFLICT)
        return Response(status=status.HTTP_204_NO_CONTENT)


class PhotoImageApi(AnyAcceptMixin, StudioApiView):
    @studio_schema(responses={(200, "image/jpeg"): OpenApiTypes.BINARY, 404: NOT_FOUND})
    def get(self, request, photo_id):
        return photo_thumbnail_response(selectors.photo_get(owner=request.user, photo_id=photo_id))


# ---- training ------------------------------------------------------------------------------------


class SubjectTrainApi(StudioApiView):
    parser_classes = [JSONParser]

    @studio_schema(
        request=TrainInput,
        responses={
            202: StudioTrainingOutput,
            400: INVALID,
            404: NOT_FOUND,
            409: OpenApiResponse(
                StudioErrorOutput, description="not_enough_photos, or training_running (one at a time per subject)."
            ),
            429: QUOTA,
        },
        description="Train a personal model from the subject's accepted photos (at least 5). Poll status_url.",
    )
    def post(self, request, subject_id):
        subject = selectors.subject_get(owner=request.user, subject_id=subject_id)
        data = TrainInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            training = services.subject_train(subject=subject, submission_id=data.validated_data.get("submission_id"))
        except services.NotEnoughPhotos as exc:
            message = words.not_enough_photos(exc.accepted, exc.checking)
            return _error("not_enough_photos", message, status.HTTP_409_CONFLICT)
        except services.TrainingInProgress:
            return _error("training_running", words.training_in_progress(), status.HTTP_409_CONFLICT)
        except job_services.QuotaExceeded as exc:
            return quota_response(words.quota(exc.limit), owner=request.user, kind=TRAINING_KIND)
        body = StudioTrainingOutput(_training_output(request, training)).data
        return Response(body, status=status.HTTP_202_ACCEPTED, headers={"Location": body["status_url"]})


class SubjectCancelApi(StudioApiView):
    @studio_schema(
        request=None,
        responses={
            200: StudioTrainingOutput,
            404: NOT_FOUND,
            409: OpenApiResponse(StudioErrorOutput, description="nothing_to_cancel"),
        },
        description="Stop the subject's running training (once started, it still counts towards today's trainings).",
    )
    def post(self, request, subject_id):
        subject = selectors.subject_get(owner=request.user, subject_id=subject_id)
        training = selectors.subject_overview(subject).open_training
        if training is None or not job_services.job_cancel(job=training.job):
            return _error("nothing_to_cancel", words.nothing_to_cancel(), status.HTTP_409_CONFLICT)
        training.job.refresh_from_db()
        return Response(StudioTrainingOutput(_training_output(request, training)).data)


class TrainingDetailApi(StudioApiView):
    @studio_schema(responses={200: StudioTrainingOutput, 404: NOT_FOUND})
    def get(self, request, training_id):
        training = selectors.training_get(owner=request.user, training_id=training_id)
        return Response(StudioTrainingOutput(_training_output(request, training)).data)


class TrainingPreviewApi(AnyAcceptMixin, StudioApiView):
    @studio_schema(
        responses={(200, "image/png"): OpenApiTypes.BINARY, 404: NOT_FOUND},
        description="The newest checkpoint preview of a running training (AI-generated).",
    )
    def get(self, request, training_id):
        training = selectors.training_get(owner=request.user, training_id=training_id)
        key = job_selectors.job_progress_preview_key(job=training.job)
        if key is None or not default_storage.exists(key):
            raise exceptions.NotFound(_("There is no preview yet."))
        response = FileResponse(default_storage.open(key, "rb"), content_type="image/png")
        response["Cache-Control"] = "private, no-store"
        return response


# ---- models --------------------------------------------------------------------------------------


class ModelListApi(StudioApiView):
    @studio_schema(
        parameters=PAGE_PARAMETERS, responses={200: StudioModelPageOutput}, operation_id="studio_models_list"
    )
    def get(self, request):
        paginator = StudioPagination()
        page = paginator.paginate_queryset(selectors.personal_models_of(owner=request.user), request, view=self)
        # Through the serializer, as the detail is: the same dates in the same time zone.
        results = StudioModelOutput([_model_output(request, model) for model in page], many=True).data
        return paginator.get_paginated_response(results)


class ModelDetailApi(StudioApiView):
    parser_classes = [JSONParser]

    @studio_schema(responses={200: StudioModelOutput, 404: NOT_FOUND})
    def get(self, request, model_id):
        model = selectors.personal_model_get(owner=request.user, model_id=model_id)
        return Response(StudioModelOutput(_model_output(request, model)).data)

    @studio_schema(
        request=ModelUpdateInput,
        responses={200: StudioModelOutput, 400: INVALID, 404: NOT_FOUND},
        description="Rename the model.",
    )
    def patch(self, request, model_id):
        model = selectors.personal_model_get(owner=request.user, model_id=model_id)
        data = ModelUpdateInput(data=request.data)
        data.is_valid(raise_exception=True)
        services.personal_model_rename(model=model, name=data.validated_data["name"])
        return Response(StudioModelOutput(_model_output(request, model)).data)

    @studio_schema(
        responses={204: None, 404: NOT_FOUND},
        description="Delete the model and its training's files (adapter, previews, checkpoints).",
    )
    def delete(self, request, model_id):
        services.personal_model_delete(model=selectors.personal_model_get(owner=request.user, model_id=model_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class ModelPreviewApi(AnyAcceptMixin, StudioApiView):
    @studio_schema(
        responses={(200, "image/*"): OpenApiTypes.BINARY, 404: NOT_FOUND},
        description="One of the model's checkpoint previews (AI-generated), by its index in `previews`.",
    )
    def get(self, request, model_id, index: int):
        model = selectors.personal_model_get(owner=request.user, model_id=model_id)
        return model_preview_response(model, index)


class StudioQuotaApi(StudioApiView):
    @studio_schema(responses={200: QuotaOutput}, description="Today's trainings (per person).")
    def get(self, request):
        return Response(quota_output(owner=request.user, kind=TRAINING_KIND))


# ---- portraits: concepts, poses and packs -------------------------------------------------------


def _inline_choice(values, **kwargs) -> serializers.ChoiceField:
    """A choice field the schema describes as an inline enum of its codes. The same codes appear under
    several field names here and in other studio endpoints (tone, requested, used, ...), and as enum
    components each would be named differently each time."""
    values = list(values)
    schema = {"type": "string", "enum": values}
    field_class = extend_schema_field(schema)(type("CodeChoiceField", (serializers.ChoiceField,), {}))
    return field_class(choices=values, **kwargs)


def _korean() -> bool:
    return (get_language() or "").startswith("ko")


class PackCreateInput(StudioInput):
    submission_id = StrictUUIDField(
        required=False, help_text="Optional idempotency key: the same id again returns the same pack."
    )
    concept = serializers.CharField(
        error_messages={
            "required": gettext_lazy("Pick one of the concepts offered for this model."),
            "blank": gettext_lazy("Pick one of the concepts offered for this model."),
            "null": gettext_lazy("Pick one of the concepts offered for this model."),
            "invalid": gettext_lazy("Pick one of the concepts offered for this model."),
        },
        help_text="A concept's slug (GET /api/studio/concepts/?kind=...).",
    )
    pose = serializers.CharField(
        required=False,
        allow_null=True,
        allow_blank=True,
        error_messages={"invalid": gettext_lazy("Pick one of the poses offered for this concept.")},
        help_text="People only: one of the concept's pose slugs. Null or left out: the pose is left to the model.",
    )
    tone = _inline_choice(
        ToneChoice.values,
        required=False,
        default=ToneChoice.AUTO,
        error_messages={
            "invalid_choice": gettext_lazy("Pick one of the tones offered for this concept."),
            "null": gettext_lazy("Pick one of the tones offered for this concept."),
        },
        help_text="auto (decided from the photos' skin tone; neutral for pets), warm or cool; among the "
        "concept's tones.",
    )
    instruction = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        trim_whitespace=False,  # the service strips it and counts what is left
        error_messages={"invalid": gettext_lazy("Write your words as text.")},
        help_text=f"Pets only: what the picture should show, in Korean or English (at most "
        f"{MAX_INSTRUCTION_CHARS} characters).",
    )
    size = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=PACK_MIN,
        max_value=PACK_MAX,
        error_messages={
            "invalid": words.PACK_SIZE,
            "max_string_length": words.PACK_SIZE,
            "min_value": words.PACK_SIZE,
            "max_value": words.PACK_SIZE,
        },
        help_text=f"Pictures in the pack, {PACK_MIN} to {PACK_MAX}; null or left out: the concept's pack_size.",
    )


class PackMoreInput(StudioInput):
    submission_id = StrictUUIDField(required=False, help_text="The same id again returns the same new pack.")


class PortraitUpdateInput(StudioInput):
    favourite = _bool_field("Mark or unmark the picture as a favourite.")


class StudioConceptOutput(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField(help_text="In the request's language.")
    description = serializers.CharField(help_text="In the request's language.")
    name_en = serializers.CharField()
    name_ko = serializers.CharField()
    subject_kinds = serializers.ListField(child=_inline_choice(SubjectKind.values))
    poses = serializers.ListField(
        child=serializers.CharField(),
        help_text="The slugs of the poses a person may pick (people only); empty: the pose is left to the model.",
    )
    tones = serializers.ListField(child=_inline_choice(ToneChoice.values))
    pack_size = serializers.IntegerField(help_text="The default number of pictures in a pack.")
    preview_url = serializers.URLField(allow_null=True, help_text="An example picture (public), or null.")


class StudioPoseOutput(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField(help_text="In the request's language.")
    name_en = serializers.CharField()
    name_ko = serializers.CharField()
    keypoints = serializers.ListField(
        child=serializers.ListField(child=serializers.FloatField(), min_length=3, max_length=3),
        help_text="18 [x, y, confidence] rows in OpenPose COCO-18 order (keypoint_names), x and y in 0-1 of a frame "
        "of `aspect` (width / height); confidence 0: not seen.",
    )
    keypoint_names = serializers.ListField(child=serializers.CharField())
    aspect = serializers.FloatField()


class StudioPortraitOutput(serializers.Serializer):
    id = serializers.UUIDField(help_text="The picture's id (its job's id).")
    pack_id = serializers.UUIDField()
    index = serializers.IntegerField(help_text="1 to the pack's size.")
    favourite = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    state = JobStateOutput()
    image_url = serializers.URLField(
        allow_null=True, help_text="The finished PNG (AI-generated); add ?download=1 to save it. Null until done."
    )
    file_name = serializers.CharField(help_text="<concept-slug>-<index>.png")


class StudioPackToneOutput(serializers.Serializer):
    requested = _inline_choice(ToneChoice.values)
    used = _inline_choice(Tone.values, help_text="What the pictures are painted in.")
    confidence = serializers.FloatField(
        allow_null=True, help_text="0-1, when auto decided it (0: it could not tell); null otherwise and for pets."
    )
    label = serializers.CharField(help_text="E.g. “Auto: warm (82 % sure)”, in the request's language.")


class StudioPackProgressOutput(serializers.Serializer):
    total = serializers.IntegerField()
    done = serializers.IntegerField()
    failed = serializers.IntegerField(help_text="Failed or cancelled.")
    cancelled = serializers.IntegerField(help_text="Of `failed`, those cancelled.")
    percent = serializers.FloatField()
    eta_seconds = serializers.IntegerField(allow_null=True, help_text="Until the last picture is done, when known.")
    finished = serializers.BooleanField(help_text="No picture is waiting or being painted: stop polling.")


class StudioPackOutput(serializers.Serializer):
    id = serializers.UUIDField()
    subject_id = serializers.UUIDField()
    model_id = serializers.UUIDField()
    concept = serializers.CharField(help_text="The concept's slug as the pack was made.")
    concept_name = serializers.CharField(help_text="In the request's language (empty if the concept was deleted).")
    pose = serializers.CharField(allow_null=True, help_text="The pose's slug, or null.")
    tone = StudioPackToneOutput()
    instruction = serializers.CharField(help_text="A pet's pack: the owner's words.")
    size = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    more_like_id = serializers.UUIDField(allow_null=True, help_text="The pack this one is “more like”.")
    progress = StudioPackProgressOutput()
    pictures = StudioPortraitOutput(many=True)
    zip_url = serializers.URLField(help_text="Every finished picture as one zip.")
    ai_generated = serializers.BooleanField(help_text="Always true: the pictures are AI-generated.")
    notice = serializers.CharField(help_text="Not for passports or identity documents (in the request's language).")


class StudioPackPageOutput(serializers.Serializer):
    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = StudioPackOutput(many=True)


PORTRAIT_QUOTA = OpenApiResponse(
    StudioQuotaExceededOutput,
    description="quota_exceeded: the whole pack does not fit in today's portraits; nothing was made (see Retry-After).",
)
NO_MODEL = OpenApiResponse(StudioErrorOutput, description="no_model: the subject has no finished personal model.")
PACK_INVALID = OpenApiResponse(
    StudioInvalidOutput,
    description="invalid: the request is malformed, or a choice is not offered (a concept not for this subject, a pose "
    "for a pet or not among the concept's, a tone not offered, words for a person, too many words, a size outside "
    f"{PACK_MIN}-{PACK_MAX}); nothing was made. `fields` has the messages per field.",
)


def _concept_output(request, concept: Concept) -> dict:
    korean = _korean()
    preview = None
    if concept.preview_image:
        preview = _url(request, "studio:concept_preview", concept.slug)
    return {
        "slug": concept.slug,
        "name": concept.name_ko if korean else concept.name_en,
        "description": concept.description_ko if korean else concept.description_en,
        "name_en": concept.name_en,
        "name_ko": concept.name_ko,
        "subject_kinds": list(concept.subject_kinds),
        "poses": [pose.slug for pose in concept.poses.all() if pose.is_active],
        "tones": services.concept_tones(concept),
        "pack_size": concept.pack_size,
        "preview_url": preview,
    }


def _pose_output(pose: Pose) -> dict:
    return {
        "slug": pose.slug,
        "name": pose.name_ko if _korean() else pose.name_en,
        "name_en": pose.name_en,
        "name_ko": pose.name_ko,
        "keypoints": pose.keypoints,
        "keypoint_names": list(POSE_KEYPOINTS),
        "aspect": pose.aspect,
    }


def _portrait_output(request, row: selectors.PictureRow) -> dict:
    portrait = row.portrait
    return {
        "id": portrait.job_id,
        "pack_id": portrait.pack_id,
        "index": portrait.index,
        "favourite": portrait.favourite,
        "created_at": portrait.created_at,
        "finished_at": portrait.job.finished_at,
        "state": asdict(row.state),
        "image_url": _url(request, "api:studio_portrait_image", portrait.job_id) if row.done else None,
        "file_name": selectors.portrait_file_name(portrait),
    }


def _pack_output(request, pack: Pack) -> dict:
    rows = selectors.pack_pictures(pack)
    progress = selectors.pack_progress(rows)
    concept_slug = selectors.portrait_params(rows[0].portrait).concept.slug if rows else ""
    concept = pack.concept
    return {
        "id": pack.id,
        "subject_id": pack.subject_id,
        "model_id": pack.personal_model_id,
        "concept": concept.slug if concept else concept_slug,
        "concept_name": (concept.name_ko if _korean() else concept.name_en) if concept else "",
        "pose": pack.pose.slug if pack.pose else None,
        "tone": {
            "requested": pack.tone_requested,
            "used": pack.tone,
            "confidence": pack.tone_confidence,
            "label": selectors.pack_tone_label(pack),
        },
        "instruction": pack.instruction,
        "size": pack.size,
        "created_at": pack.created_at,
        "more_like_id": pack.more_like_id,
        "progress": {
            "total": progress.total,
            "done": progress.done,
            "failed": progress.failed,
            "cancelled": progress.cancelled,
            "percent": progress.percent,
            "eta_seconds": progress.eta_seconds,
            "finished": progress.finished,
        },
        "pictures": [_portrait_output(request, row) for row in rows],
        "zip_url": _url(request, "api:studio_pack_zip", pack.id),
        "ai_generated": True,
        "notice": words.ai_notice(),
    }


def _respond_pack(request, pack_id, status_code: int = status.HTTP_200_OK) -> Response:
    pack = selectors.pack_get(owner=request.user, pack_id=pack_id)
    return Response(StudioPackOutput(_pack_output(request, pack)).data, status=status_code)


def _pack_invalid(exc: services.PackInvalid) -> exceptions.ValidationError:
    return exceptions.ValidationError({exc.field: [words.pack_invalid(exc.code)]})


def _pack_made(request, make) -> Response:
    """Run a pack's service and answer 201 with the pack, or the documented error."""
    try:
        pack = make()
    except services.PackInvalid as exc:
        raise _pack_invalid(exc) from None
    except services.NoPersonalModel:
        return _error("no_model", words.no_model(), status.HTTP_409_CONFLICT)
    except services.PortraitQuotaExceeded as exc:
        message = words.portrait_quota(exc.limit, exc.remaining, exc.size)
        return quota_response(message, owner=request.user, kind=PORTRAIT_KIND)
    body = StudioPackOutput(_pack_output(request, selectors.pack_get(owner=request.user, pack_id=pack.id))).data
    return Response(
        body, status=status.HTTP_201_CREATED, headers={"Location": _url(request, "api:studio_pack", pack.id)}
    )


class ConceptListApi(StudioApiView):
    @studio_schema(
        parameters=[
            OpenApiParameter(
                "kind", str, enum=SubjectKind.values, description="Only the concepts for this kind of subject."
            )
        ],
        responses={200: StudioConceptOutput(many=True), 400: INVALID},
        description="The active concepts a pack can be made in, in their order.",
    )
    def get(self, request):
        kind = request.query_params.get("kind") or None
        if kind is not None and kind not in SubjectKind.values:
            raise exceptions.ValidationError({"kind": [_("Pick who the photos are of.")]})
        concepts = selectors.concepts_active(kind=kind)
        return Response(StudioConceptOutput([_concept_output(request, c) for c in concepts], many=True).data)


class PoseListApi(StudioApiView):
    @studio_schema(
        responses={200: StudioPoseOutput(many=True)}, description="The active poses (people only), in their order."
    )
    def get(self, request):
        poses = [_pose_output(pose) for pose in selectors.poses_active()]
        return Response(StudioPoseOutput(poses, many=True).data)


class SubjectPacksApi(StudioApiView):
    parser_classes = [JSONParser]

    @studio_schema(
        request=PackCreateInput,
        responses={
            201: StudioPackOutput,
            400: PACK_INVALID,
            404: NOT_FOUND,
            409: OpenApiResponse(
                StudioErrorOutput, description="no_model: the subject has no finished personal model."
            ),
            429: PORTRAIT_QUOTA,
        },
        description="Make a pack of portraits with the subject's newest personal model: one picture per job, each "
        "shown as it finishes (poll the pack). Every picture counts towards today's portraits; a pack that does not "
        "fit whole is refused.",
    )
    def post(self, request, subject_id):
        subject = selectors.subject_get(owner=request.user, subject_id=subject_id)
        data = PackCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        concept = Concept.objects.filter(slug=values["concept"]).first()
        pose = None
        if values.get("pose"):
            pose = Pose.objects.filter(slug=values["pose"], is_active=True).first()
            if pose is None:
                code = "pose_not_for_pets" if subject.is_pet else "pose_unavailable"
                raise _pack_invalid(services.PackInvalid("pose", code))
        return _pack_made(
            request,
            lambda: services.pack_create(
                owner=request.user,
                subject=subject,
                concept=concept,
                pose=pose,
                tone=values["tone"],
                instruction=values["instruction"],
                size=values.get("size"),
                submission_id=values.get("submission_id"),
            ),
        )


class PackListApi(StudioApiView):
    @studio_schema(
        parameters=PAGE_PARAMETERS,
        responses={200: StudioPackPageOutput, 404: PAGE_NOT_FOUND},
        operation_id="studio_packs_list",
    )
    def get(self, request):
        paginator = StudioPagination()
        page = paginator.paginate_queryset(selectors.packs_of(owner=request.user), request, view=self)
        selectors.packs_states_preload(page)
        results = StudioPackOutput([_pack_output(request, pack) for pack in page], many=True).data
        return paginator.get_paginated_response(results)


class PackDetailApi(StudioApiView):
    @studio_schema(responses={200: StudioPackOutput, 404: NOT_FOUND})
    def get(self, request, pack_id):
        services.pack_touch(pack=selectors.pack_get(owner=request.user, pack_id=pack_id))
        return _respond_pack(request, pack_id)

    @studio_schema(
        responses={204: None, 404: NOT_FOUND},
        description="Delete the pack with every picture and file (today's count stays).",
    )
    def delete(self, request, pack_id):
        services.pack_delete(pack=selectors.pack_get(owner=request.user, pack_id=pack_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class PackMoreApi(StudioApiView):
    parser_classes = [JSONParser]

    @studio_schema(
        request=PackMoreInput,
        responses={
            201: StudioPackOutput,
            400: PACK_INVALID,
            404: NOT_FOUND,
            409: OpenApiResponse(
                StudioErrorOutput, description="no_model: the subject has no finished personal model."
            ),
            429: PORTRAIT_QUOTA,
        },
        description="More like this: a new pack with the same choices and new seeds (400 if its concept or pose has "
        "been retired since).",
    )
    def post(self, request, pack_id):
        pack = selectors.pack_get(owner=request.user, pack_id=pack_id)
        data = PackMoreInput(data=request.data)
        data.is_valid(raise_exception=True)
        submission_id = data.validated_data.get("submission_id")
        return _pack_made(request, lambda: services.pack_more_like(pack=pack, submission_id=submission_id))


class PackCancelApi(StudioApiView):
    @studio_schema(
        request=None,
        responses={
            200: StudioPackOutput,
            404: NOT_FOUND,
            409: OpenApiResponse(StudioErrorOutput, description="nothing_to_cancel: every picture is already done."),
        },
        description="Stop every picture of the pack that is not done yet (those still waiting do not count).",
    )
    def post(self, request, pack_id):
        pack = selectors.pack_get(owner=request.user, pack_id=pack_id)
        try:
            services.pack_cancel(pack=pack)
        except services.NothingToCancel:
            return _error("nothing_to_cancel", words.pack_nothing_to_cancel(), status.HTTP_409_CONFLICT)
        return _respond_pack(request, pack.id)


class PackZipApi(AnyAcceptMixin, StudioApiView):
    @studio_schema(
        responses={
            (200, "application/zip"): OpenApiTypes.BINARY,
            404: OpenApiResponse(
                StudioErrorOutput, description="not_found: not yours, no such pack, or no picture is finished yet."
            ),
        },
        description="Every finished picture of the pack as one zip (<concept-slug>-<index>.png each, AI-generated).",
    )
    def get(self, request, pack_id):
        return pack_zip_response(selectors.pack_get(owner=request.user, pack_id=pack_id))


class PortraitDetailApi(StudioApiView):
    parser_classes = [JSONParser]

    @studio_schema(
        request=PortraitUpdateInput,
        responses={200: StudioPortraitOutput, 400: INVALID, 404: NOT_FOUND},
        description="Mark or unmark the picture as a favourite.",
    )
    def patch(self, request, portrait_id):
        portrait = selectors.portrait_get(owner=request.user, portrait_id=portrait_id)
        data = PortraitUpdateInput(data=request.data)
        data.is_valid(raise_exception=True)
        services.portrait_favourite_set(portrait=portrait, favourite=data.validated_data["favourite"])
        row = selectors.PictureRow(portrait=portrait, state=job_selectors.job_state(job=portrait.job))
        return Response(StudioPortraitOutput(_portrait_output(request, row)).data)

    @studio_schema(
        responses={204: None, 404: NOT_FOUND},
        description="Delete the picture and its file (made today, it still counts). The last one takes its pack.",
    )
    def delete(self, request, portrait_id):
        services.portrait_delete(portrait=selectors.portrait_get(owner=request.user, portrait_id=portrait_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class PortraitImageApi(AnyAcceptMixin, StudioApiView):
    @studio_schema(
        parameters=[OpenApiParameter("download", int, enum=[1], description="1: as an attachment, to save it.")],
        responses={(200, "image/png"): OpenApiTypes.BINARY, 404: NOT_FOUND},
        description="The finished picture (AI-generated; not for identity documents).",
    )
    def get(self, request, portrait_id):
        portrait = selectors.portrait_get(owner=request.user, portrait_id=portrait_id)
        return portrait_image_response(portrait, download=request.query_params.get("download") == "1")


class PortraitQuotaApi(StudioApiView):
    @studio_schema(responses={200: QuotaOutput}, description="Today's portraits (every picture of a pack counts).")
    def get(self, request):
        return Response(quota_output(owner=request.user, kind=PORTRAIT_KIND))
