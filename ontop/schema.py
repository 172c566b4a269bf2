"""The OpenAPI schema says what the API really answers: every operation documents the error bodies
it can return, in the one shape `ontop.api.exception_handler` writes.

An operation's own `extend_schema(responses=...)` still wins; a declared error without a body
(`OpenApiResponse()`) gets the error body, and the errors every operation of its kind can meet are
added: 400 when it reads a body or a query, 401 when it needs a token, 404 when its path names
something or it is a paged list, 415 when it reads a body, 429 (throttles and quotas) everywhere.
"""

from __future__ import annotations

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiResponse

from ontop.api import ErrorOutput, InvalidOutput, TooManyRequestsOutput

ERROR_BODIES = {
    "400": OpenApiResponse(
        InvalidOutput, description="invalid / parse_error: the request is malformed; nothing was written."
    ),
    "401": OpenApiResponse(
        ErrorOutput, description="not_authenticated (no token) or authentication_failed (a bad token)."
    ),
    "403": OpenApiResponse(ErrorOutput, description="permission_denied."),
    "404": OpenApiResponse(ErrorOutput, description="not_found: not yours, or no such thing."),
    "409": OpenApiResponse(ErrorOutput, description="The thing is not in a state that allows this."),
    "413": OpenApiResponse(ErrorOutput, description="too_large: the file or body is too large."),
    "415": OpenApiResponse(
        ErrorOutput, description="unsupported_media_type: the body is not in the documented content type."
    ),
    "429": OpenApiResponse(
        TooManyRequestsOutput,
        description="throttled (too many requests) or quota_exceeded (with limit and resets_at); see Retry-After.",
    ),
    "503": OpenApiResponse(ErrorOutput, description="service_busy: try again shortly (see Retry-After)."),
}
_BODY_METHODS = ("POST", "PUT", "PATCH")


class OnTopAutoSchema(AutoSchema):
    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        for code, response in list(responses.items()):
            if code in ERROR_BODIES and "content" not in response:
                responses[code] = self._error_body(code, response.get("description"))
        for code in self._errors_it_can_answer():
            if code not in responses:
                responses[code] = self._error_body(code)
        return responses

    def _error_body(self, code: str, description: str | None = None) -> dict:
        default = ERROR_BODIES[code]
        if description and description != "No response body":
            default = OpenApiResponse(default.response, description=description)
        return self._get_response_for_code(default, code, direction="response")

    def _errors_it_can_answer(self) -> list[str]:
        codes = []
        reads_body = self.method in _BODY_METHODS and self.get_request_serializer() is not None
        if reads_body or self._has_query_parameters():
            codes.append("400")
        if self._needs_authentication():
            codes.append("401")
        if "{" in self.path or self._is_paginated():
            codes.append("404")  # no such thing; or for a list, no such page
        if reads_body:
            codes.append("415")
        codes.append("429")
        return codes

    def _is_paginated(self) -> bool:
        return any(p.get("in") == "query" and p.get("name") == "page" for p in self._get_parameters())

    def _has_query_parameters(self) -> bool:
        return any(parameter.get("in") == "query" for parameter in self._get_parameters())

    def _needs_authentication(self) -> bool:
        return bool(self.get_auth()) and {} not in self.get_auth()
