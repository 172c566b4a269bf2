"""The synchronous half of a progress stream: who is asking, whose job it is, and its state.

Runs in a worker thread (the ORM never runs in the event loop). The state is the status
endpoint's own (`generation.selectors.job_state`), so the page and the app read the same JSON
whether it was polled or pushed.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
from dataclasses import asdict, dataclass, field

from django.conf import settings
from django.contrib import auth
from django.core.exceptions import ValidationError
from django.core.handlers.asgi import ASGIRequest
from django.db import close_old_connections
from django.http import Http404, HttpResponse
from django.utils import translation
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _
from rest_framework import exceptions

from generation import selectors
from generation.models import GenerationJob
from ontop.accounts.authentication import ApiTokenAuthentication
from ontop.middleware import SERVICE_DOWN_ERRORS

logger = logging.getLogger(__name__)

TERMINAL_STATUSES = frozenset(str(status.value) for status in GenerationJob.FINAL_STATUSES)
# How long a browser waits before it reconnects a dropped stream (the SSE `retry:` field).
RETRY_MILLISECONDS = 3000


@dataclass
class Refusal:
    status: int
    body: dict
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)


@dataclass
class Watch:
    job: GenerationJob
    language: str
    state: dict
    user_id: int


def open_watch(scope: dict, job_id: str) -> Watch | Refusal:
    """Authenticate as the API does (a token, else the browser's session), then find the job
    among the person's own (anyone else's is 404, as on every other endpoint). Every failure is
    answered in JSON as the API would: PostgreSQL or Redis away is its 503, anything else its 500."""
    close_old_connections()
    try:
        request = ASGIRequest(scope, io.BytesIO(b""))
        language = translation.get_language_from_request(request)
        with translation.override(language):
            try:
                return _open_watch(request, language, job_id)
            except Exception as exc:
                if isinstance(exc, SERVICE_DOWN_ERRORS):
                    logger.warning("progress events: could not open job %s (%r)", job_id, exc)
                else:
                    logger.exception("progress events: could not open job %s", job_id)
                return _error_refusal(request)
    finally:
        close_old_connections()


def _open_watch(request, language: str, job_id: str) -> Watch | Refusal:
    try:
        user = _authenticated_user(request)
    except exceptions.AuthenticationFailed as exc:
        return _refusal(401, "authentication_failed", str(exc.detail))
    if user is None:
        return _refusal(401, "not_authenticated", str(exceptions.NotAuthenticated.default_detail))
    try:
        job = selectors.job_get(owner=user, job_id=job_id)
    except (Http404, ValueError, ValidationError):
        return _refusal(404, "not_found", _not_found_message())
    return Watch(job=job, language=language, state=asdict(selectors.job_state(job=job)), user_id=user.pk)


def _error_refusal(request) -> Refusal:
    """handler500's own answer (called inside the `except` block, where it reads the exception):
    the API's 503 "service_busy" with Retry-After for a dependency that is down, else its 500."""
    from ontop.views import server_error  # here: the URLconf's module, loaded with the site

    return _response_refusal(server_error(request))


def _response_refusal(response: HttpResponse) -> Refusal:
    headers = [(b"retry-after", response["Retry-After"].encode())] if response.has_header("Retry-After") else []
    return Refusal(status=response.status_code, body=json.loads(response.content), headers=headers)


def _not_found_message() -> str:
    from ontop.api import not_found_message  # here: ontop.api is DRF's settings' own module

    return not_found_message()


def not_found(scope: dict) -> Refusal:
    """An id that is no UUID names nothing: the API's 404 (before any authentication, as Django's
    own URLconf answers an address it does not match), in the request's language."""
    request = ASGIRequest(scope, io.BytesIO(b""))
    with translation.override(translation.get_language_from_request(request)):
        return _refusal(404, "not_found", _not_found_message())


def internal_error(scope: dict) -> Refusal:
    """handler500's answer to an error that escaped `open_watch` itself (logged by the caller):
    a 503 if it says a dependency is down, else the API's JSON 500."""
    request = ASGIRequest(scope, io.BytesIO(b""))
    with translation.override(translation.get_language_from_request(request)):
        return _error_refusal(request)


def throttled(language: str, *, retry_after: int) -> Refusal:
    """429: this person already has as many streams open on this process as one may."""
    with translation.override(language):
        message = _("Too many progress streams are open. Close some pages and try again.")
    return Refusal(
        status=429,
        body={"code": "throttled", "message": message},
        headers=[(b"retry-after", str(retry_after).encode())],
    )


def watch_states(requests: list[tuple[Watch, bool]]) -> list[dict]:
    """The states now of many streams' jobs at once, in order: the rows that changed (`reload`) in
    one query, the live progress of all of them in one Redis round trip (`job_states`, the status
    endpoint's own reader, as for a page of history). Progress alone needs no database read."""
    close_old_connections()
    try:
        reload_ids = {watch.job.pk for watch, reload in requests if reload}
        fresh = GenerationJob.objects.in_bulk(list(reload_ids)) if reload_ids else {}
        for watch, _ in requests:
            if watch.job.pk in reload_ids:
                if watch.job.pk in fresh:
                    watch.job = fresh[watch.job.pk]
                else:  # deleted while watched: the stream ends as cancelled
                    watch.job.status = GenerationJob.Status.CANCELLED
        by_language: dict[str, dict] = {}
        for watch, _ in requests:
            by_language.setdefault(watch.language, {})[watch.job.pk] = watch.job
        states: dict[tuple[str, object], dict] = {}
        for language, jobs in by_language.items():
            with translation.override(language):
                for job, state in zip(jobs.values(), selectors.job_states(jobs=list(jobs.values())), strict=True):
                    states[language, job.pk] = asdict(state)
        for watch, _ in requests:
            watch.state = states[watch.language, watch.job.pk]
        return [watch.state for watch, _ in requests]
    finally:
        close_old_connections()


def _authenticated_user(request):
    """The token's user (a bad token is refused, never ignored), else the session's; None if neither."""
    if request.META.get("HTTP_AUTHORIZATION"):
        found = ApiTokenAuthentication().authenticate(request)
        if found is not None:
            return found[0]
    engine = import_string(settings.SESSION_ENGINE)
    request.session = engine.SessionStore(request.COOKIES.get(settings.SESSION_COOKIE_NAME))
    user = auth.get_user(request)
    return user if user.is_authenticated and user.is_active else None


def _refusal(status: int, code: str, message: str) -> Refusal:
    headers = [(b"www-authenticate", b"Token")] if status == 401 else []
    return Refusal(status=status, body={"code": code, "message": message}, headers=headers)


def is_terminal(state: dict) -> bool:
    return state.get("status") in TERMINAL_STATUSES


def sse_event(state: dict) -> tuple[str, bytes]:
    """(id, bytes) of one `state` event. The id is the state's digest: a client that reconnects
    with Last-Event-ID is not sent the state it already has."""
    data = json.dumps(state, ensure_ascii=False, separators=(",", ":"), default=str)
    event_id = hashlib.sha256(data.encode()).hexdigest()[:16]
    return event_id, f"id: {event_id}\nevent: state\ndata: {data}\n\n".encode()


def sse_preamble() -> bytes:
    return f"retry: {RETRY_MILLISECONDS}\n\n".encode()
