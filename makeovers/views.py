"""Desk-makeover pages: validate → call a service or selector → render. Everything is the owner's only."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from generation import media
from generation import selectors as job_selectors
from generation import services as job_services
from generation.images import ImageRejected
from generation.models import Upload
from gpu_worker.contract.desk_makeover import KIND, RESULT_PNG_ROLE
from makeovers import selectors, services
from makeovers.forms import NewMakeoverForm, PreferencesForm, RestyleForm
from shop import selectors as shop_selectors
from shop.templatetags.shop_tags import won

HISTORY_PAGE_SIZE = 12


@login_required
def new(request):
    form = NewMakeoverForm(request.POST or None, request.FILES or None, language=get_language(), owner=request.user)
    quota = job_services.quota_of(owner=request.user, kind=KIND)
    status = 200
    kept_upload = None
    if request.method == "POST":
        status = 400
        valid = form.is_valid()
        kept_upload = form.kept_upload
        photo = form.cleaned_data.get("photo")
        submission = form.cleaned_data.get("submission_id")
        sent_before = submission and job_selectors.jobs_of(owner=request.user).filter(submission_id=submission).first()
        if sent_before:  # the same form sent again (a double click, a reload): its job, nothing new stored
            return redirect("makeovers:detail", job_id=sent_before.id)
        if photo and quota.remaining <= 0:
            # Nothing is stored for a request that cannot make anything today.
            photo = None
            if valid:
                form.add_error(None, quota_message(quota.limit))
                return render(request, "makeovers/new.html", {"form": form, "quota": quota}, status=429)
        stored = None  # a photo this request stored: it goes again if the request is refused or loses a race
        if photo:
            # Stored even when another field is wrong: the person fixes that without choosing the photo again.
            replaced = kept_upload
            try:
                kept_upload = stored = job_services.upload_create(owner=request.user, file=photo)
            except ImageRejected as exc:
                form.add_error("photo", exc.message)
                status = 413 if exc.code == "too_large" else 400
                kept_upload, valid = None, False
            if replaced is not None and replaced != kept_upload and not replaced.jobs.exists():
                job_services.upload_delete(upload=replaced)  # a photo the person replaced is not kept
        if valid and kept_upload is not None:
            try:
                job = services.makeover_create(
                    owner=request.user,
                    upload=kept_upload,
                    style=form.cleaned_data.get("style"),
                    preferences=form.preferences(),
                    submission_id=form.cleaned_data.get("submission_id"),
                )
            except job_services.QuotaExceeded:
                form.add_error(None, quota_message(quota.limit))
                status = 429
                if stored is not None and job_services.upload_discard(upload=stored):
                    kept_upload = None  # nothing is kept for a request that cannot make anything today
            else:
                if stored is not None and job.upload_id != stored.pk:  # the same form, won by a request beside it
                    job_services.upload_discard(upload=stored)
                return redirect("makeovers:detail", job_id=job.id)
    context = {"form": form, "quota": quota, "kept_upload": kept_upload}
    return render(request, "makeovers/new.html", context, status=status)


def quota_message(limit: int) -> str:
    return _("You have used today's %(limit)s makeovers. Come back tomorrow for more.") % {"limit": limit}


@login_required
@require_GET
def upload_image(request, upload_id):
    """A small copy of a photo the person stored with a form that had a mistake in it (theirs only)."""
    upload = get_object_or_404(Upload, owner=request.user, pk=upload_id)
    return media.serve_upload_thumbnail(upload)


@login_required
def history(request):
    page = Paginator(selectors.makeovers_of(owner=request.user), HISTORY_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "makeovers/history.html", {"page": page})


# Failures a retry with the same photo cannot fix: the page offers another photo (and a tip) instead.
PHOTO_TIPS = {
    "not_a_desk": gettext_lazy(
        "Tip: stand in front of your desk and include its whole surface, your monitor and keyboard."
    ),
    "no_free_space": gettext_lazy(
        "Tip: clear a little space on the desk, or step back so that some free surface is in the picture."
    ),
    "bad_image": gettext_lazy("Tip: a JPEG, PNG, WebP or HEIC photo straight from your phone's camera works best."),
    "input_missing": gettext_lazy("Tip: a JPEG, PNG, WebP or HEIC photo straight from your phone's camera works best."),
}
TONE_LABELS = dict(PreferencesForm.base_fields["tone"].choices)


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
        "summary": makeover_summary(job),
        "photo_tip": PHOTO_TIPS.get(job.error_code) if job.status == "failed" else None,
        # The lossless PNG is offered beside the JPEG download (jobs from before it have a PNG result).
        "png_download": RESULT_PNG_ROLE in job_selectors.job_output_roles(job=job),
    }
    return render(request, "makeovers/detail.html", context)


def makeover_summary(job) -> dict:
    """What the makeover was asked for (style, date, preferences), in the reader's language."""
    korean = get_language() == "ko"
    try:
        params = job_selectors.job_params(job=job)
    except Exception:  # noqa: BLE001 - a spec this contract cannot read still shows its page
        params = None
    preferences = params.preferences if params is not None else None
    style = job.style
    if style is not None:
        style_name = style.name_ko if korean else style.name_en
    elif params is not None and params.style is not None:
        style_name = _("A style that is no longer offered")
    else:
        style_name = _("No particular style")
    names = {c.slug: (c.name_ko if korean else c.name_en) for c in shop_selectors.categories()}
    low = preferences.budget_min if preferences else None
    high = preferences.budget_max if preferences else None
    if low is not None and high is not None:
        budget = _("%(low)s to %(high)s") % {"low": won(low), "high": won(high)}
    elif low is not None:
        budget = _("from %(low)s") % {"low": won(low)}
    elif high is not None:
        budget = _("up to %(high)s") % {"high": won(high)}
    else:
        budget = _("Any")
    return {
        "style": style_name,
        "created_at": job.created_at,
        "tone": str(TONE_LABELS.get(preferences.tone if preferences else "neutral", "")),
        "budget": budget,
        "more_of": [names.get(slug, slug) for slug in (preferences.include_categories if preferences else [])],
        "less_of": [names.get(slug, slug) for slug in (preferences.avoid_categories if preferences else [])],
    }


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
