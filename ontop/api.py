"""API-wide error format: every error is JSON with a stable `code` and a `message` in the request's
language. A 400 also has `fields`: one flat object from a field's path ("preferences.budget_max",
"include_categories.0", or "non_field_errors") to its list of messages."""

from __future__ import annotations

from django.http import Http404
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from rest_framework import exceptions, serializers, status
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from ontop.parsers import JSONParser, JsonTooDeep  # noqa: F401 - re-exported for the API modules


class ServiceUnavailable(exceptions.APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = gettext_lazy("The service is busy right now. Please try again in a minute.")
    default_code = "service_busy"


# Input serializers refuse fields they do not know: a typo must not be silently ignored. (A comment,
# not a docstring: drf-spectacular would make a docstring the description of every input schema.)
class StrictSerializer(serializers.Serializer):
    def to_internal_value(self, data):
        if hasattr(data, "keys"):
            unknown = sorted(set(data.keys()) - set(self.fields))
            if unknown:
                message = _("Unknown field(s): %(fields)s.") % {"fields": ", ".join(map(str, unknown))}
                raise exceptions.ValidationError({"non_field_errors": [message]}, code="unknown_field")
        return super().to_internal_value(data)


class StrictUUIDField(serializers.UUIDField):
    """DRF turns an integer into a UUID; an id must be sent as the string it is."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid", value=data)
        return super().to_internal_value(data)


# ---- the documented error bodies (ontop.schema adds them to every operation that can answer them) --


class ErrorOutput(serializers.Serializer):
    code = serializers.CharField(help_text="Stable, for programs: not_found, not_authenticated, throttled, ...")
    message = serializers.CharField(help_text="For people, in the request's language (Accept-Language).")


class InvalidOutput(ErrorOutput):
    fields = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        help_text='The messages per field path, e.g. {"preferences.budget_max": ["..."]}; '
        "`non_field_errors` for the request as a whole. Empty when no field is to blame.",
    )


class TooManyRequestsOutput(ErrorOutput):
    limit = serializers.IntegerField(required=False, help_text="quota_exceeded only: the daily limit.")
    resets_at = serializers.DateTimeField(required=False, help_text="quota_exceeded only: when it resets.")


def not_found_message() -> str:
    """Names no model: "No GenerationJob matches the given query." would."""
    return _("We couldn't find that. It may have been deleted.")


def flat_fields(detail, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested error detail as one flat {path: [messages]} object."""
    if isinstance(detail, dict):
        flat: dict[str, list[str]] = {}
        for key, value in detail.items():
            flat.update(flat_fields(value, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    if isinstance(detail, list):
        if all(not isinstance(item, dict | list) for item in detail):
            return {prefix or "non_field_errors": [str(item) for item in detail]}
        flat = {}
        for index, value in enumerate(detail):
            flat.update(flat_fields(value, f"{prefix}.{index}" if prefix else str(index)))
        return flat
    return {prefix or "non_field_errors": [str(detail)]}


def _first_message(detail) -> str:
    if isinstance(detail, list) and detail:
        return _first_message(detail[0])
    if isinstance(detail, dict) and detail:
        key, value = next(iter(detail.items()))
        message = _first_message(value)
        return message if key in ("non_field_errors", "detail") else f"{key}: {message}"
    return str(detail)


def exception_handler(exc, context):
    if isinstance(exc, RecursionError):
        # A view that names DRF's own JSONParser: the decoder ran out of stack on a hostile body.
        exc = JsonTooDeep()
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(not_found_message())
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        body = {"code": "invalid", "message": _first_message(exc.detail), "fields": flat_fields(exc.detail)}
    elif isinstance(exc, JsonTooDeep):
        body = {"code": "parse_error", "message": str(exc.detail), "fields": {}}
    elif isinstance(exc, exceptions.ParseError):
        # A 400 like any other, in the request's language: the parser's own words (Python's JSON
        # error, in English) help no one, and clients read `fields` on every 400.
        message = _("The request body could not be read: check that it is valid JSON or a valid form.")
        body = {"code": "parse_error", "message": message, "fields": {}}
    elif isinstance(exc, exceptions.APIException):
        codes = exc.get_codes()
        code = codes if isinstance(codes, str) else "error"
        body = {"code": code, "message": _first_message(exc.detail)}
        if response.status_code == status.HTTP_400_BAD_REQUEST:
            body["fields"] = {}
    else:  # PermissionDenied from Django, already mapped by DRF
        body = {"code": "error", "message": _first_message(response.data)}
    return Response(body, status=response.status_code, headers=dict(response.headers))


def error_response(code: str, message: str, status_code: int, **extra) -> Response:
    """An error answered by a view itself, in the same shape as the raised ones (400s carry `fields`)."""
    body = {"code": code, "message": message, **extra}
    if status_code == status.HTTP_400_BAD_REQUEST:
        body.setdefault("fields", {})
    return Response(body, status=status_code)


class ImageNegotiation(DefaultContentNegotiation):
    """For endpoints that answer a file: any `Accept` gets the file (a client asking for image/png
    must not get a 406), errors stay JSON (the first renderer), and `?format=` is the view's own
    parameter (the image's file format), not DRF's renderer override, which would answer 404 for a
    format it has no renderer for."""

    settings = type("Settings", (), {"URL_FORMAT_OVERRIDE": None})()

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class AnyAcceptMixin:
    """Files are not JSON: a client asking for image/* or application/pdf still gets its file, and
    errors stay JSON (the first renderer) instead of a 406."""

    def perform_content_negotiation(self, request, force=False):
        return super().perform_content_negotiation(request, force=True)
