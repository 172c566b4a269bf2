"""Mobile API of the picture diary. Errors are JSON {code, message} in the request's language;
other people's ids are 404. A malformed request is 400 before the daily quota is looked at (429)."""

from __future__ import annotations

import datetime

from django.urls import reverse
from django.utils import timezone
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from diary import export, selectors, services
from diary.models import MOOD_EMOJI, DiaryEntry, DiaryPicture, Mood, Orientation
from diary.views import exists_message, name_attachment, pdf_response, quota_message
from generation import media
from generation import selectors as job_selectors
from generation import services as job_services
from generation.api import JobStateOutput, QuotaOutput, job_state_output, quota_output, quota_response
from generation.models import GenerationJob
from gpu_worker.contract.picture_diary import KIND, MAX_TEXT_CHARS
from ontop.api import (
    AnyAcceptMixin,
    ErrorOutput,
    InvalidOutput,
    StrictSerializer,
    StrictUUIDField,
    TooManyRequestsOutput,
)
from ontop.parsers import JSONParser

TAGS = ["diary"]
IMAGE_ROLES = ("result", "thumb")

# ---- input ---------------------------------------------------------------------------------------


DiaryInput = StrictSerializer  # unknown fields are refused, in the request's language


class DiaryTextInput(serializers.CharField):
    """Line breaks count as one character, however the client sends them."""

    def to_internal_value(self, data):
        if not isinstance(data, str):  # DRF would turn 12 into "12": a diary is text, sent as text
            self.fail("invalid")
        value = super().to_internal_value(data)
        return value.replace("\r\n", "\n").replace("\r", "\n")


def _validate_date(value: datetime.date) -> datetime.date:
    if value > timezone.localdate():
        raise serializers.ValidationError(_("That day hasn't come yet. Pick today or an earlier day."))
    if value.year < selectors.FIRST_YEAR:
        raise serializers.ValidationError(_("Pick a day from %(year)s or later.") % {"year": selectors.FIRST_YEAR})
    return value


def _date_field(**kwargs) -> serializers.DateField:
    return serializers.DateField(
        error_messages={
            "invalid": gettext_lazy("Enter a real date, like 2026-11-03."),
            "datetime": gettext_lazy("Enter a real date, like 2026-11-03."),
            "null": gettext_lazy("Enter a real date, like 2026-11-03."),
        },
        **kwargs,
    )


def _text_field(**kwargs) -> DiaryTextInput:
    return DiaryTextInput(
        max_length=MAX_TEXT_CHARS,
        error_messages={
            "required": gettext_lazy("Write a few words about your day."),
            "blank": gettext_lazy("Write a few words about your day."),
            "null": gettext_lazy("Write a few words about your day."),
            "invalid": gettext_lazy("Write a few words about your day."),
            "max_length": gettext_lazy("A diary entry has at most {max_length} characters."),
        },
        help_text=f"Korean or English, 1 to {MAX_TEXT_CHARS} characters.",
        **kwargs,
    )


def _mood_field() -> serializers.ChoiceField:
    return serializers.ChoiceField(
        choices=Mood.values,
        allow_blank=True,
        required=False,
        error_messages={
            "invalid_choice": gettext_lazy("Pick one of the moods."),
            "null": gettext_lazy("Pick one of the moods."),
        },
        help_text="One of the codes from GET /api/diary/moods/; empty for none.",
    )


def _orientation_field() -> serializers.ChoiceField:
    return serializers.ChoiceField(
        choices=Orientation.values,
        required=False,
        error_messages={
            "invalid_choice": gettext_lazy("Pick landscape or portrait."),
            "null": gettext_lazy("Pick landscape or portrait."),
        },
        help_text="The picture's shape: landscape (4:3) or portrait (3:4).",
    )


def _style_field(help_text: str) -> serializers.SlugField:
    return serializers.SlugField(
        max_length=50,
        required=False,
        error_messages={
            key: gettext_lazy("Pick one of the art styles.") for key in ("invalid", "null", "blank", "max_length")
        },
        help_text=help_text,
    )


class DiaryEntryCreateInput(DiaryInput):
    date = _date_field(required=False, help_text="The diary's day (YYYY-MM-DD); today in Asia/Seoul when absent.")
    text = _text_field()
    mood = _mood_field()
    style = _style_field(
        "A picture_diary style's slug (GET /api/styles/?kind=picture_diary); the first one when absent."
    )
    orientation = _orientation_field()
    submission_id = StrictUUIDField(required=False, help_text="Send the same id again and get the same entry.")

    def validate_date(self, value):
        return _validate_date(value)


class DiaryEntryUpdateInput(DiaryInput):
    date = _date_field(required=False)
    text = _text_field(required=False)
    mood = _mood_field()
    orientation = _orientation_field()

    def validate_date(self, value):
        return _validate_date(value)


class DiaryRepaintInput(DiaryInput):
    style = _style_field("Another picture_diary style; the entry's style when absent.")
    orientation = _orientation_field()
    submission_id = StrictUUIDField(required=False, help_text="Send the same id again and get the same picture.")


def _style(slug: str | None, *, default_first: bool):
    styles = job_selectors.styles_active(kind=KIND)
    if not slug:
        return styles.first() if default_first else None
    style = styles.filter(slug=slug).first()
    if style is None:
        raise exceptions.ValidationError({"style": [_("Pick one of the art styles.")]})
    return style


def _month_param(request, *, required: bool) -> tuple[int, int] | None:
    value = request.query_params.get("month")
    if not value:
        if required:
            raise exceptions.ValidationError({"month": [_("Say which month, like 2026-11.")]})
        return None
    try:
        return selectors.parse_month(value)
    except ValueError:
        raise exceptions.ValidationError({"month": [_("Say which month, like 2026-11.")]}) from None


# ---- output --------------------------------------------------------------------------------------


class DiaryPictureOutput(serializers.Serializer):
    id = serializers.UUIDField(help_text="The picture's id (its job's id).")
    style = serializers.CharField(allow_null=True)
    seed = serializers.IntegerField()
    orientation = serializers.ChoiceField(choices=Orientation.values)
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    state = JobStateOutput()
    thumb_url = serializers.URLField(allow_null=True, help_text="Set once the picture succeeded.")
    result_url = serializers.URLField(allow_null=True, help_text="Set once the picture succeeded.")


class DiaryEntryOutput(serializers.Serializer):
    id = serializers.UUIDField()
    date = serializers.DateField()
    text = serializers.CharField()
    mood = serializers.ChoiceField(choices=Mood.values, allow_blank=True, help_text="A mood code, or empty.")
    mood_label = serializers.CharField(help_text="The mood in the request's language (empty for none).")
    mood_emoji = serializers.CharField()
    style = serializers.CharField(allow_null=True, help_text="The style of the latest painting request.")
    orientation = serializers.ChoiceField(choices=Orientation.values)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    picture = DiaryPictureOutput(allow_null=True, help_text="The picture of the day: the latest that succeeded.")
    latest = DiaryPictureOutput(
        allow_null=True, help_text="The newest painting, whatever its state (progress, failure)."
    )
    picture_outdated = serializers.BooleanField(help_text="The text or mood changed after the picture was painted.")


class DiaryEntryPageOutput(serializers.Serializer):
    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = DiaryEntryOutput(many=True)


class DiaryMoodOutput(serializers.Serializer):
    code = serializers.CharField()
    label = serializers.CharField()
    emoji = serializers.CharField()


# The API-wide error bodies (ontop.api), under the names the diary's declarations use.
DiaryErrorOutput = ErrorOutput
DiaryInvalidOutput = InvalidOutput


class DiaryEntryExistsOutput(DiaryErrorOutput):
    entry_id = serializers.UUIDField(help_text="The entry already written for that day.")


DiaryQuotaExceededOutput = TooManyRequestsOutput


NOT_FOUND = OpenApiResponse(DiaryErrorOutput, description="Not yours, or no such thing.")
INVALID = OpenApiResponse(DiaryInvalidOutput, description="The request is malformed; nothing was written.")
QUOTA = OpenApiResponse(DiaryQuotaExceededOutput, description="Today's pictures are used up (see Retry-After).")
EXISTS = OpenApiResponse(DiaryEntryExistsOutput, description="There is already an entry for that day.")


def _picture_output(request, picture: DiaryPicture | None) -> dict | None:
    if picture is None:
        return None
    job = picture.job
    params = job_selectors.job_params(job=job)
    succeeded = job.status == GenerationJob.Status.SUCCEEDED

    def url(role: str) -> str | None:
        if not succeeded:
            return None
        return request.build_absolute_uri(reverse("api:diary_picture_image", args=[job.id, role]))

    return {
        "id": job.id,
        "style": params.style.slug if params.style else None,
        "seed": params.seed,
        "orientation": params.orientation,
        "created_at": job.created_at,
        "finished_at": job.finished_at,
        "state": job_state_output(job),
        "thumb_url": url("thumb"),
        "result_url": url("result"),
    }


def _entry_output(request, entry: DiaryEntry) -> dict:
    shown = selectors.picture_of_the_day(entry)
    return {
        "id": entry.id,
        "date": entry.entry_date,
        "text": entry.text,
        "mood": entry.mood,
        "mood_label": str(Mood(entry.mood).label) if entry.mood else "",
        "mood_emoji": MOOD_EMOJI.get(entry.mood, ""),
        "style": entry.style.slug if entry.style else None,
        "orientation": entry.orientation,
        "created_at": entry.created_at,
        "updated_at": entry.updated_at,
        "picture": _picture_output(request, shown),
        "latest": _picture_output(request, selectors.picture_latest(entry)),
        "picture_outdated": selectors.picture_outdated(entry=entry, picture=shown),
    }


def _respond(request, entry_id, status_code: int = status.HTTP_200_OK) -> Response:
    # Read back through the selector: pictures prefetched, and exactly what a later GET returns.
    entry = selectors.diary_entry_get(owner=request.user, entry_id=entry_id)
    return Response(DiaryEntryOutput(_entry_output(request, entry)).data, status=status_code)


def _quota_exceeded(request, limit: int) -> Response:
    return quota_response(quota_message(limit), owner=request.user, kind=KIND)


def _entry_exists(entry: DiaryEntry) -> Response:
    body = {"code": "entry_exists", "message": exists_message(), "entry_id": entry.id}
    return Response(body, status=status.HTTP_409_CONFLICT)


# ---- views ---------------------------------------------------------------------------------------


class EntryPagination(PageNumberPagination):
    page_size = 20
    max_page_size = 50
    page_size_query_param = "page_size"
    MONTH_PAGE_SIZE = 31  # a month is one page

    def get_page_size(self, request):
        if request.query_params.get("month"):
            return self.MONTH_PAGE_SIZE
        return super().get_page_size(request)


class EntryListCreateApi(APIView):
    parser_classes = [JSONParser]

    @extend_schema(
        parameters=[
            OpenApiParameter("month", str, description="Only this month's entries (YYYY-MM), all on one page."),
            OpenApiParameter("page", int, description="The page of the timeline (newest day first)."),
            OpenApiParameter("page_size", int, description="Entries per page (at most 50; ignored with month)."),
        ],
        responses={200: DiaryEntryPageOutput, 400: INVALID, 404: NOT_FOUND},
        operation_id="diary_entries_list",
        tags=TAGS,
    )
    def get(self, request):
        month = _month_param(request, required=False)
        entries = (
            selectors.diary_entries_in_month(owner=request.user, year=month[0], month=month[1])
            if month
            else selectors.diary_entries_of(owner=request.user)
        )
        paginator = EntryPagination()
        page = paginator.paginate_queryset(entries, request, view=self)
        selectors.pictures_states_preload(page)
        return paginator.get_paginated_response([_entry_output(request, entry) for entry in page])

    @extend_schema(
        request=DiaryEntryCreateInput,
        responses={201: DiaryEntryOutput, 400: INVALID, 409: EXISTS, 429: QUOTA},
        tags=TAGS,
    )
    def post(self, request):
        data = DiaryEntryCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        style = _style(values.get("style"), default_first=True)
        try:
            entry = services.diary_entry_create(
                owner=request.user,
                entry_date=values.get("date") or timezone.localdate(),
                text=values["text"],
                mood=values.get("mood", ""),
                style=style,
                orientation=values.get("orientation", Orientation.LANDSCAPE),
                submission_id=values.get("submission_id"),
            )
        except services.DiaryEntryExists as exc:
            return _entry_exists(exc.entry)
        except job_services.QuotaExceeded as exc:
            return _quota_exceeded(request, exc.limit)
        return _respond(request, entry.id, status.HTTP_201_CREATED)


class EntryDetailApi(APIView):
    parser_classes = [JSONParser]

    @extend_schema(responses={200: DiaryEntryOutput, 404: NOT_FOUND}, tags=TAGS)
    def get(self, request, entry_id):
        return _respond(request, entry_id)

    @extend_schema(
        request=DiaryEntryUpdateInput,
        responses={200: DiaryEntryOutput, 400: INVALID, 404: NOT_FOUND, 409: EXISTS},
        description="Change the text, mood, date or shape. The picture stays until you repaint.",
        tags=TAGS,
    )
    def patch(self, request, entry_id):
        entry = selectors.diary_entry_get(owner=request.user, entry_id=entry_id)  # 404 before 400
        data = DiaryEntryUpdateInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        try:
            services.diary_entry_update(
                entry=entry,
                text=values.get("text"),
                mood=values.get("mood"),
                entry_date=values.get("date"),
                orientation=values.get("orientation"),
            )
        except services.DiaryEntryExists as exc:
            return _entry_exists(exc.entry)
        return _respond(request, entry.id)

    @extend_schema(
        responses={204: None, 404: NOT_FOUND},
        description="Delete the entry, all its pictures and their files.",
        tags=TAGS,
    )
    def delete(self, request, entry_id):
        services.diary_entry_delete(entry=selectors.diary_entry_get(owner=request.user, entry_id=entry_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class EntryRepaintApi(APIView):
    parser_classes = [JSONParser]

    @extend_schema(
        request=DiaryRepaintInput,
        responses={201: DiaryEntryOutput, 400: INVALID, 404: NOT_FOUND, 429: QUOTA},
        description="Another picture of the entry: a new seed, optionally another style or shape.",
        tags=TAGS,
    )
    def post(self, request, entry_id):
        entry = selectors.diary_entry_get(owner=request.user, entry_id=entry_id)
        data = DiaryRepaintInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        style = _style(values.get("style"), default_first=False)
        try:
            services.diary_picture_paint(
                entry=entry,
                style=style if style is not None else services.UNCHANGED,
                orientation=values.get("orientation"),
                submission_id=values.get("submission_id"),
            )
        except job_services.QuotaExceeded as exc:
            return _quota_exceeded(request, exc.limit)
        return _respond(request, entry.id, status.HTTP_201_CREATED)


class EntryCancelApi(APIView):
    @extend_schema(
        request=None,
        responses={
            200: DiaryEntryOutput,
            404: NOT_FOUND,
            409: OpenApiResponse(DiaryErrorOutput, description="Nothing to stop."),
        },
        description="Stop the picture being painted (it does not count towards today's pictures).",
        tags=TAGS,
    )
    def post(self, request, entry_id):
        entry = selectors.diary_entry_get(owner=request.user, entry_id=entry_id)
        picture = selectors.picture_open(entry)
        if picture is None or not job_services.job_cancel(job=picture.job):
            body = {"code": "nothing_to_cancel", "message": _("No picture of this entry is being painted.")}
            return Response(body, status=status.HTTP_409_CONFLICT)
        return _respond(request, entry.id)


class PictureImageApi(AnyAcceptMixin, APIView):
    """A picture's image: `result` (full size) or `thumb`; `?download=1` to save it."""

    @extend_schema(
        parameters=[OpenApiParameter("download", int, description="1: as an attachment named after the day.")],
        responses={(200, "image/*"): OpenApiTypes.BINARY, 404: NOT_FOUND},
        tags=TAGS,
    )
    def get(self, request, picture_id, role: str):
        picture = selectors.diary_picture_get(owner=request.user, picture_id=picture_id)
        if role not in IMAGE_ROLES:
            raise exceptions.NotFound(_("No such image."))
        download = request.query_params.get("download") == "1"
        response = media.serve_job_image(picture.job, role, download=download)
        if download:
            name_attachment(response, f"diary-{picture.entry.entry_date.isoformat()}")
        return response


class MonthExportApi(AnyAcceptMixin, APIView):
    @extend_schema(
        parameters=[OpenApiParameter("month", str, required=True, description="The month to print (YYYY-MM).")],
        responses={
            (200, "application/pdf"): OpenApiTypes.BINARY,
            400: INVALID,
            404: OpenApiResponse(DiaryErrorOutput, description="No entries that month."),
        },
        description="The month as one printable A4 page (PDF): a calendar with each day's picture.",
        tags=TAGS,
    )
    def get(self, request):
        year, month = _month_param(request, required=True)
        pdf = export.month_pdf(owner=request.user, year=year, month=month, language=get_language())
        if pdf is None:
            raise exceptions.NotFound(_("You wrote nothing in your diary that month."))
        return pdf_response(pdf, year=year, month=month, attachment=True)


class DiaryQuotaApi(APIView):
    @extend_schema(
        responses={200: QuotaOutput}, description="Today's diary pictures (per person, per product).", tags=TAGS
    )
    def get(self, request):
        return Response(quota_output(owner=request.user, kind=KIND))


class MoodListApi(APIView):
    @extend_schema(
        responses={200: DiaryMoodOutput(many=True)},
        description="The moods, labelled in the request's language.",
        tags=TAGS,
    )
    def get(self, request):
        return Response(DiaryMoodOutput(selectors.diary_moods(), many=True).data)
