"""API-wide error format: every error is JSON with a stable `code` and a human `message`."""

from __future__ import annotations

from django.utils.translation import gettext as _
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler


class ServiceUnavailable(exceptions.APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "The service is busy right now. Please try again in a minute."
    default_code = "service_busy"


class StrictSerializer(serializers.Serializer):
    """Input serializers refuse fields they do not know: a typo must not be silently ignored."""

    def to_internal_value(self, data):
        if hasattr(data, "keys"):
            unknown = sorted(set(data.keys()) - set(self.fields))
            if unknown:
                raise exceptions.ValidationError(
                    {"non_field_errors": [f"Unknown field(s): {', '.join(unknown)}."]}, code="unknown_field"
                )
        return super().to_internal_value(data)


class StrictUUIDField(serializers.UUIDField):
    """DRF turns an integer into a UUID; an id must be sent as the string it is."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid", value=data)
        return super().to_internal_value(data)


def _first_message(detail) -> str:
    if isinstance(detail, list) and detail:
        return _first_message(detail[0])
    if isinstance(detail, dict) and detail:
        key, value = next(iter(detail.items()))
        message = _first_message(value)
        return message if key in ("non_field_errors", "detail") else f"{key}: {message}"
    return str(detail)


def exception_handler(exc, context):
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        body = {"code": "invalid", "message": _first_message(exc.detail), "fields": exc.detail}
    elif isinstance(exc, exceptions.ParseError):
        # A 400 like any other, in the request's language: the parser's own words (Python's JSON
        # error, in English) help no one, and clients read `fields` on every 400.
        message = _("The request body could not be read: check that it is valid JSON or a valid form.")
        body = {"code": "parse_error", "message": message, "fields": {}}
    elif isinstance(exc, exceptions.APIException):
        codes = exc.get_codes()
        code = codes if isinstance(codes, str) else "error"
        body = {"code": code, "message": _first_message(exc.detail)}
    else:  # Http404 / PermissionDenied from Django, already mapped by DRF
        body = {
            "code": "not_found" if response.status_code == 404 else "error",
            "message": _first_message(response.data),
        }
    return Response(body, status=response.status_code, headers=dict(response.headers))
