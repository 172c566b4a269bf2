"""The site's front page: the desk makeover first, then every other product and your recent pictures."""

from __future__ import annotations

import logging
import sys

from django.core.exceptions import RequestDataTooBig
from django.http import HttpResponsePermanentRedirect, JsonResponse
from django.shortcuts import render
from django.urls import Resolver404, resolve, reverse
from django.utils.translation import gettext as _
from django.views import defaults
from django.views.decorators.csrf import csrf_exempt

from generation import selectors as job_selectors
from generation import services as job_services
from generation.handlers import handler_for, handlers
from ontop.middleware import SERVICE_DOWN_ERRORS, is_api, too_large_response, unavailable_response

logger = logging.getLogger(__name__)

RECENT_JOBS = 4


def home(request):
    recent = []
    if request.user.is_authenticated:
        recent = [
            {"job": job, "url": handler_for(job.kind, strict=False).detail_url(job)}
            for job in job_selectors.jobs_of(owner=request.user).filter(
                kind__in=[h.kind for h in handlers() if h.listed_in_recent]
            )[:RECENT_JOBS]
        ]
    products = [
        {"name": h.verbose_name, "pitch": h.pitch, "url": reverse(h.start_url_name)}
        for h in handlers()
        if h.pitch and h.start_url_name
    ]
    context = {
        "products": products,
        "styles": job_selectors.styles_active(kind="desk_makeover"),
        "showcases": job_selectors.showcases(),
        "recent_jobs": recent,
        "quota": job_services.quota_of(owner=request.user, kind="desk_makeover")
        if request.user.is_authenticated
        else None,
    }
    return render(request, "home.html", context)


@csrf_exempt  # an API client sends no CSRF token; there is nothing here to protect
def api_not_found(request, *args, **kwargs):
    """Any /api/ address that names nothing: JSON like every API error, in the request's language.
    A GET without its trailing slash still goes where APPEND_SLASH always sent it."""
    from ontop.api import not_found_message

    if request.method in ("GET", "HEAD") and not request.path_info.endswith("/"):
        try:
            match = resolve(request.path_info + "/")
        except Resolver404:
            match = None
        if match is not None and match.url_name != "not_found":
            query = request.META.get("QUERY_STRING", "")
            return HttpResponsePermanentRedirect(request.path + "/" + (f"?{query}" if query else ""))
    return JsonResponse({"code": "not_found", "message": not_found_message()}, status=404)


def server_error(request):
    """The last resort, for errors that escaped every view and middleware. A database or Redis that
    went away (e.g. while the session loads or saves) is a 503 "we'll be right back", never a 500.
    The API promises JSON on every error; the web gets the plain 500 page."""
    exception = sys.exc_info()[1]  # handler500 is called inside Django's `except` block
    if isinstance(exception, SERVICE_DOWN_ERRORS):
        try:
            return unavailable_response(request, exception)
        except Exception:  # the busy page itself failed: the plain 500 below still answers
            logger.exception("could not render the service-busy page")
    if is_api(request):
        message = _("Something went wrong on our side. Please try again in a minute.")
        return JsonResponse({"code": "internal", "message": message}, status=500)
    response = defaults.server_error(request)
    # 500.html carries its own inline style, because it must render even when static files or the
    # database are what broke. It has no script, so allowing inline styles here costs nothing.
    response._csp_update = {"style-src": ["'unsafe-inline'"]}
    return response


def bad_request(request, exception):
    """handler400: a body over DATA_UPLOAD_MAX_MEMORY_SIZE (or with too many fields) is a 413; any
    other refused request (a forged Host, ...) is a 400, in JSON under /api/."""
    if isinstance(exception, RequestDataTooBig):
        return too_large_response(request)
    if is_api(request):
        message = _("The request could not be read.")
        return JsonResponse({"code": "bad_request", "message": message, "fields": {}}, status=400)
    return defaults.bad_request(request, exception)
