"""When a dependency is down (PostgreSQL, Redis), people get a clear "busy, try again" (503 with
Retry-After) instead of a 500; a body too large to read is a 413, never a 400 page.

Errors raised inside a view reach `process_exception` here; errors raised in another middleware
(session loading, session saving) reach `handler500`/`handler400` (ontop/views.py), which answer
the same way through `unavailable_response` / `too_large_response`."""

from __future__ import annotations

import psycopg
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.db import InterfaceError, OperationalError
from django.http import HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.utils.translation import gettext as _
from redis.exceptions import RedisError

RETRY_AFTER_SECONDS = 30

# The database is unreachable or went away mid-request (Django wraps psycopg's errors; a raw one
# can still escape from code that talks to psycopg directly).
DATABASE_DOWN_ERRORS: tuple[type[BaseException], ...] = (
    OperationalError,
    InterfaceError,
    psycopg.OperationalError,
    psycopg.InterfaceError,
)
SERVICE_DOWN_ERRORS: tuple[type[BaseException], ...] = (RedisError, *DATABASE_DOWN_ERRORS)


def is_api(request) -> bool:
    return request.path.startswith("/api/")


def _page(request, template: str, context: dict, *, status: int, without_database: bool) -> HttpResponse:
    if without_database:
        # The page must render without PostgreSQL: the header would otherwise load the session and the
        # user (and messages) from it, fail again, and turn this answer into a 500.
        request.user = AnonymousUser()
        context = {**context, "user": request.user, "messages": [], "product_nav": []}
    return HttpResponse(render_to_string(template, context, request=request), status=status)


def unavailable_response(request, exception: BaseException) -> HttpResponse:
    """503 "we'll be right back" with Retry-After: JSON for the API, the busy page for the web."""
    message = _("Our servers are busy right now. Please try again in a minute.")
    if is_api(request):
        response: HttpResponse = JsonResponse({"code": "service_busy", "message": message}, status=503)
    else:
        without_database = isinstance(exception, DATABASE_DOWN_ERRORS)
        response = _page(request, "503.html", {"message": message}, status=503, without_database=without_database)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def too_large_response(request) -> HttpResponse:
    """413: JSON for the API, a page for the web (the form it came from cannot be shown again)."""
    limit_mb = max(1, settings.DATA_UPLOAD_MAX_MEMORY_SIZE // (1024 * 1024))
    message = _("The request is too large. Send at most %(limit_mb)s MB.") % {"limit_mb": limit_mb}
    if is_api(request):
        return JsonResponse({"code": "too_large", "message": message}, status=413)
    # No database on this path either: the body was refused before anything was looked up.
    return _page(request, "413.html", {"message": message}, status=413, without_database=True)


def _declared_length(request) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


class ServiceBusyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        # A body we would refuse to read anyway is refused before any view streams it: DRF's JSON
        # parser reads the stream itself and never meets Django's DATA_UPLOAD_MAX_MEMORY_SIZE. File
        # uploads (multipart) are streamed to disk and limited by each view (UPLOAD_MAX_BYTES).
        max_bytes = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        multipart = request.META.get("CONTENT_TYPE", "").startswith("multipart/")
        if max_bytes is not None and not multipart and _declared_length(request) > max_bytes:
            return too_large_response(request)
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, SERVICE_DOWN_ERRORS):
            return None
        return unavailable_response(request, exception)


class RqDashboardScriptsMiddleware:
    """django-rq's staff dashboard (/admin/django-rq/) sets up its bulk actions with inline
    <script>s that our Content-Security-Policy would block. Those pages alone may run inline
    scripts: they are staff-only, show no user-written HTML, and are not ours to rewrite."""

    PREFIX = "/admin/django-rq/"

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if request.path.startswith(self.PREFIX):
            response._csp_update = {"script-src": ["'unsafe-inline'"]}
        return response
