"""The API's JSON parser, in a module of its own: REST_FRAMEWORK's DEFAULT_PARSER_CLASSES names it,
and DRF reads that setting while `rest_framework.views` is imported, so this module must not import
views (ontop.api does) or the settings would name a half-imported module."""

from __future__ import annotations

from django.utils.translation import gettext_lazy
from rest_framework import exceptions, parsers

# No request of this API nests deeper than a few levels; 1,000 levels only serve to exhaust the stack.
MAX_JSON_DEPTH = 32


class JsonTooDeep(exceptions.ParseError):
    default_detail = gettext_lazy("The JSON is nested too deeply.")
    default_code = "too_deep"


def _json_depth_exceeds(data, limit: int) -> bool:
    """Whether `data` nests lists/objects deeper than `limit` (iterative: no recursion to exhaust)."""
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            children = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, bounded: too deep a document is a 400 `parse_error` instead of the
    RecursionError (a 500) that Python's decoder raises past ~1,000 levels."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise JsonTooDeep() from None
        if _json_depth_exceeds(data, MAX_JSON_DEPTH):
            raise JsonTooDeep()
        return data
