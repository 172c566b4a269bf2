"""Desk-makeover pages: validate → call a service or selector → render. Everything is the owner's only."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from generation import selectors as job_selectors
from generation import services as job_services
from generation.images import ImageRejected
from gpu_worker.contract.desk_makeover import KIND
from makeovers import selectors, services
from makeovers.forms import NewMakeoverForm, RestyleForm
from shop import selectors as shop_selectors

HISTORY_PAGE_SIZE = 12


@login_required
def new(request):
    form = NewMakeoverForm(request.POST or None, request.FILES or None, language=get_language())
    quota = job_services.quota_of(owner=request.user, kind=KIND)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                upload = job_services.upload_create(owner=request.user, file=form.cleaned_data["photo"])
                job = services.makeover_create(
                    owner=request.user,
                    upload=upload,
                    style=form.cleaned_data.get("style"),
                    preferences=form.preferences(),
                    submission_id=form.cleaned_data.get("submission_id"),
                )
            except ImageRejected as exc:
                form.add_error("photo", exc.message)
                status = 413 if exc.code == "too_large" else 400
            except job_services.QuotaExceeded:
                form.add_error(None, quota_message(quota.limit))
                status = 429
            else:
                return redirect("makeovers:detail", job_id=job.id)
    return render(request, "makeovers/new.html", {"form": form, "quota": quota}, status=status)


def quota_message(limit: int) -> str:
    return _("You have used today's %(limit)s makeovers. Come back tomorrow for more.") % {"limit": limit}


@login_required
def history(request):
    page = Paginator(selectors.makeovers_of(owner=request.user), HISTORY_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "makeovers/history.html", {"page": page})


@login_required
def detail(request, job_id):
    job = selectors.makeover_get(owner=request.user, job_id=job_id)
    context = {
        "job": job,
        "state": job_selectors.job_state(job=job),
        "items": selectors.makeover_items(job=job),
        "recommendations": shop_selectors.job_recommendations(job=job),
        "restyle_form": RestyleForm(initial={"style": job.style}),
        "quota": job_services.quota_of(owner=request.user, kind=KIND),
    }
    return render(request, "makeovers/detail.html", context)


@login_required
@require_POST
def delete(request, job_id):
    job = selectors.makeover_get(owner=request.user, job_id=job_id)
    job_services.job_delete(job=job)
    messages.success(request, _("The makeover and its pictures were deleted."))
    return redirect("makeovers:history")


@login_required
@require_POST
def again(request, job_id):
    """New variation, retry after a failure, or another style (when a style is posted)."""
    job = selectors.makeover_get(owner=request.user, job_id=job_id)
    style = None
    if "style" in request.POST:
        form = RestyleForm(request.POST)
        if not form.is_valid():
            messages.error(request, _("Please pick one of the styles."))
            return redirect("makeovers:detail", job_id=job.id)
        style = form.cleaned_data["style"]
    try:
        again = services.makeover_variation(owner=request.user, job=job, style=style)
    except job_services.QuotaExceeded as exc:
        messages.error(request, quota_message(exc.limit))
        return redirect("makeovers:detail", job_id=job.id)
    return redirect("makeovers:detail", job_id=again.id)
