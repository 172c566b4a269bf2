"""The engine's website views, shared by every product: validate → call a service or selector → respond.
Everything is the owner's only; other people's ids are 404."""

from __future__ import annotations

from dataclasses import asdict

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from generation import media, selectors, services
from generation.handlers import handler_for
from generation.models import Showcase, Style


@login_required
@require_GET
def job_status(request, job_id):
    job = selectors.job_get(owner=request.user, job_id=job_id)
    return JsonResponse(asdict(selectors.job_state(job=job)))


@login_required
@require_POST
def job_cancel(request, job_id):
    job = selectors.job_get(owner=request.user, job_id=job_id)
    started = job.started_at is not None
    if services.job_cancel(job=job):
        if handler_for(job.kind).cancel_counts_once_started and started:
            messages.info(request, _("Cancelled. It still counts towards today's limit: it had started."))
        else:
            messages.info(request, _("Cancelled. It did not count towards today's limit."))
    return redirect(handler_for(job.kind).detail_url(job))


@login_required
@require_GET
def job_progress_preview(request, job_id):
    """The newest checkpoint preview of a running job (training), to its owner only."""
    job = selectors.job_get(owner=request.user, job_id=job_id)
    key = selectors.job_progress_preview_key(job=job)
    if key is None or not default_storage.exists(key):
        raise Http404(_("There is no preview yet."))
    response = FileResponse(default_storage.open(key, "rb"), content_type="image/png")
    response["Cache-Control"] = "private, no-store"
    return response


@login_required
@require_GET
def job_image(request, job_id, role):
    """Serve a job's image only to its owner (media is never public)."""
    job = selectors.job_get(owner=request.user, job_id=job_id)
    return media.serve_job_image(
        job,
        role,
        download=request.GET.get("download") == "1",
        size=media.requested_size(request.GET.get("size")),
        image_format=media.requested_format(request.GET.get("format")),
    )


def style_preview(request, slug):
    """Style previews are admin content and public, unlike people's photos."""
    style = get_object_or_404(Style, slug=slug, is_active=True)
    if not style.preview_image:
        raise Http404("No preview.")
    return media.serve_public_image(style.preview_image.name, size=media.requested_size(request.GET.get("size")))


def showcase_image(request, showcase_id, side):
    showcase = get_object_or_404(Showcase, pk=showcase_id, is_active=True)
    if side not in ("before", "after"):
        raise Http404("No such image.")
    field = showcase.before_image if side == "before" else showcase.after_image
    return media.serve_public_image(field.name, size=media.requested_size(request.GET.get("size")))
