"""Website views: validate → call a service or selector → render. Everything is the owner's only."""

from __future__ import annotations

from dataclasses import asdict

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.files.storage import default_storage
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from generation import media, selectors, services
from generation.forms import NewMakeoverForm, RestyleForm
from generation.images import ImageRejected
from generation.models import Showcase, Style
from shop import selectors as shop_selectors

HISTORY_PAGE_SIZE = 12


def home(request):
    context = {
        "styles": selectors.styles_active(),
        "showcases": selectors.showcases(),
        "recent_jobs": selectors.jobs_of(owner=request.user)[:4] if request.user.is_authenticated else [],
        "quota": services.quota_of(owner=request.user) if request.user.is_authenticated else None,
    }
    return render(request, "generation/home.html", context)


@login_required
def makeover_new(request):
    form = NewMakeoverForm(request.POST or None, request.FILES or None, language=get_language())
    quota = services.quota_of(owner=request.user)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                upload = services.upload_create(owner=request.user, file=form.cleaned_data["photo"])
                job = services.job_create(
                    owner=request.user,
                    upload=upload,
                    style=form.cleaned_data.get("style"),
                    preferences=form.preferences(),
                    submission_id=form.cleaned_data.get("submission_id"),
                )
            except ImageRejected as exc:
                form.add_error("photo", exc.message)
                status = 413 if exc.code == "too_large" else 400
            except services.QuotaExceeded as exc:
                form.add_error(None, exc.message)
                status = 429
            else:
                return redirect("generation:job_detail", job_id=job.id)
    return render(request, "generation/new.html", {"form": form, "quota": quota}, status=status)


@login_required
def history(request):
    page = Paginator(selectors.jobs_of(owner=request.user), HISTORY_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "generation/history.html", {"page": page})


@login_required
def job_detail(request, job_id):
    job = selectors.job_get(owner=request.user, job_id=job_id)
    context = {
        "job": job,
        "state": selectors.job_state(job=job),
        "items": selectors.job_items(job=job),
        "recommendations": shop_selectors.job_recommendations(job=job),
        "restyle_form": RestyleForm(initial={"style": job.style}),
        "quota": services.quota_of(owner=request.user),
    }
    return render(request, "generation/job_detail.html", context)


@login_required
@require_GET
def job_status(request, job_id):
    job = selectors.job_get(owner=request.user, job_id=job_id)
    return JsonResponse(asdict(selectors.job_state(job=job)))


@login_required
@require_POST
def job_cancel(request, job_id):
    job = selectors.job_get(owner=request.user, job_id=job_id)
    if services.job_cancel(job=job):
        messages.info(request, _("Cancelled. This makeover did not count towards today's limit."))
    return redirect("generation:job_detail", job_id=job.id)


@login_required
@require_POST
def job_delete(request, job_id):
    job = selectors.job_get(owner=request.user, job_id=job_id)
    services.job_delete(job=job)
    messages.success(request, _("The makeover and its pictures were deleted."))
    return redirect("generation:history")


@login_required
@require_POST
def job_again(request, job_id):
    """New variation, retry after a failure, or another style (when a style is posted)."""
    job = selectors.job_get(owner=request.user, job_id=job_id)
    style = None
    if "style" in request.POST:
        form = RestyleForm(request.POST)
        if not form.is_valid():
            messages.error(request, _("Please pick one of the styles."))
            return redirect("generation:job_detail", job_id=job.id)
        style = form.cleaned_data["style"]
    try:
        again = services.job_variation(owner=request.user, job=job, style=style)
    except services.QuotaExceeded as exc:
        messages.error(request, exc.message)
        return redirect("generation:job_detail", job_id=job.id)
    return redirect("generation:job_detail", job_id=again.id)


@login_required
@require_GET
def job_image(request, job_id, role):
    """Serve a job's image only to its owner (media is never public)."""
    job = selectors.job_get(owner=request.user, job_id=job_id)
    return media.serve_job_image(job, role, download=request.GET.get("download") == "1")


def style_preview(request, slug):
    """Style previews are admin content and public, unlike people's photos."""
    style = get_object_or_404(Style, slug=slug, is_active=True)
    if not style.preview_image:
        raise Http404("No preview.")
    return _public_image(style.preview_image)


def showcase_image(request, showcase_id, side):
    showcase = get_object_or_404(Showcase, pk=showcase_id, is_active=True)
    if side not in ("before", "after"):
        raise Http404("No such image.")
    return _public_image(showcase.before_image if side == "before" else showcase.after_image)


def _public_image(field):
    if not default_storage.exists(field.name):
        raise Http404("No such image.")
    if not hasattr(default_storage, "path"):
        return HttpResponseRedirect(default_storage.url(field.name))
    response = FileResponse(default_storage.open(field.name, "rb"))
    response["Cache-Control"] = "public, max-age=3600"
    return response
