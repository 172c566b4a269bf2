"""The diary's pages: validate → call a service or selector → render. Everything is the author's only."""

from __future__ import annotations

import datetime
import re
import uuid

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from diary import export, selectors, services
from diary.forms import EditEntryForm, NewEntryForm, RepaintForm
from generation import media
from generation import selectors as job_selectors
from generation import services as job_services
from gpu_worker.contract.picture_diary import KIND

TIMELINE_PAGE_SIZE = 10


def quota_message(limit: int) -> str:
    return _("You have used today's %(limit)s diary pictures. Come back tomorrow for more.") % {"limit": limit}


def exists_message() -> str:
    return _("You already wrote in your diary for this day. Edit that entry instead.")


@login_required
@require_GET
def calendar(request, year: int | None = None, month: int | None = None):
    if year is None or month is None:
        today = timezone.localdate()
        year, month = today.year, today.month
    if not selectors.month_valid(year, month):
        raise Http404("No such month.")
    context = {
        "diary_month": selectors.diary_month(owner=request.user, year=year, month=month),
        "today": timezone.localdate(),
    }
    return render(request, "diary/calendar.html", context)


@login_required
@require_GET
def timeline(request):
    entries = selectors.diary_entries_of(owner=request.user)
    page = Paginator(entries, TIMELINE_PAGE_SIZE).get_page(request.GET.get("page"))
    rows = [{"entry": entry, "picture": selectors.picture_of_the_day(entry)} for entry in page]
    return render(request, "diary/timeline.html", {"page": page, "rows": rows})


@login_required
def new(request):
    initial = {}
    if request.method == "GET" and request.GET.get("date"):
        try:
            day = datetime.date.fromisoformat(request.GET["date"])
        except ValueError:
            day = None
        if day is not None:
            existing = selectors.diary_entry_on(owner=request.user, entry_date=day)
            if existing is not None:  # a day has one page: open it instead of a second one
                return redirect("diary:detail", entry_id=existing.id)
            initial["entry_date"] = day
    form = NewEntryForm(request.POST or None, initial=initial)
    context = {"form": form, "quota": job_services.quota_of(owner=request.user, kind=KIND)}
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            data = form.cleaned_data
            try:
                entry = services.diary_entry_create(
                    owner=request.user,
                    entry_date=data["entry_date"],
                    text=data["text"],
                    mood=data["mood"],
                    style=data["style"],
                    orientation=data["orientation"],
                    submission_id=data.get("submission_id"),
                    paint=request.POST.get("paint") != "0",
                )
            except services.DiaryEntryExists as exc:
                form.add_error("entry_date", exists_message())
                context["existing_entry"] = exc.entry
                status = 409
            except job_services.QuotaExceeded as exc:
                form.add_error(None, quota_message(exc.limit))
                status = 429
            else:
                return redirect("diary:detail", entry_id=entry.id)
    return render(request, "diary/new.html", context, status=status)


@login_required
@require_GET
def detail(request, entry_id):
    entry = selectors.diary_entry_get(owner=request.user, entry_id=entry_id)
    latest = selectors.picture_latest(entry)
    shown = selectors.picture_of_the_day(entry)
    context = {
        "entry": entry,
        "latest": latest,
        "state": job_selectors.job_state(job=latest.job) if latest else None,
        "shown": shown,
        "shown_orientation": job_selectors.job_params(job=shown.job).orientation if shown else "",
        "outdated": selectors.picture_outdated(entry=entry, picture=shown),
        "earlier": [p for p in selectors.pictures_of(entry) if p.job.status == "succeeded" and p != shown],
        "repaint_form": RepaintForm(initial={"style": entry.style, "orientation": entry.orientation}),
        "submission_id": uuid.uuid4(),
        "quota": job_services.quota_of(owner=request.user, kind=KIND),
    }
    return render(request, "diary/detail.html", context)


@login_required
def edit(request, entry_id):
    entry = selectors.diary_entry_get(owner=request.user, entry_id=entry_id)
    initial = {"entry_date": entry.entry_date, "text": entry.text, "mood": entry.mood}
    form = EditEntryForm(request.POST or None, initial=initial)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            data = form.cleaned_data
            try:
                services.diary_entry_update(
                    entry=entry, text=data["text"], mood=data["mood"], entry_date=data["entry_date"]
                )
            except services.DiaryEntryExists:
                form.add_error("entry_date", exists_message())
                status = 409
            else:
                if "repaint" in request.POST:
                    _repaint(request, entry)
                else:
                    messages.success(request, _("Saved. The picture stays as it is until you repaint it."))
                return redirect("diary:detail", entry_id=entry.id)
    return render(request, "diary/edit.html", {"form": form, "entry": entry}, status=status)


@login_required
@require_POST
def repaint(request, entry_id):
    """Another picture (a new seed), another style or shape, or a retry after a failure."""
    entry = selectors.diary_entry_get(owner=request.user, entry_id=entry_id)
    form = RepaintForm(request.POST)
    if not form.is_valid():
        messages.error(request, next(iter(form.errors.values()))[0])
        return redirect("diary:detail", entry_id=entry.id)
    style = form.cleaned_data.get("style")
    _repaint(
        request,
        entry,
        style=style if style is not None else services.UNCHANGED,
        orientation=form.cleaned_data.get("orientation") or None,
        submission_id=form.cleaned_data.get("submission_id"),
    )
    return redirect("diary:detail", entry_id=entry.id)


def _repaint(request, entry, *, style=services.UNCHANGED, orientation=None, submission_id=None) -> None:
    try:
        services.diary_picture_paint(entry=entry, style=style, orientation=orientation, submission_id=submission_id)
    except job_services.QuotaExceeded as exc:
        messages.error(request, quota_message(exc.limit))


@login_required
@require_POST
def delete(request, entry_id):
    entry = selectors.diary_entry_get(owner=request.user, entry_id=entry_id)
    month = entry.entry_date
    services.diary_entry_delete(entry=entry)
    messages.success(request, _("The diary entry and its pictures were deleted."))
    return redirect("diary:month", year=month.year, month=month.month)


@login_required
@require_GET
def download(request, entry_id):
    """The picture of the day as a file named after the day."""
    entry = selectors.diary_entry_get(owner=request.user, entry_id=entry_id)
    picture = selectors.picture_of_the_day(entry)
    if picture is None:
        raise Http404("No picture yet.")
    response = media.serve_job_image(picture.job, "result", download=True)
    return name_attachment(response, f"diary-{entry.entry_date.isoformat()}")


@login_required
@require_GET
def export_month(request, year: int, month: int):
    """One printable A4 PDF of the month; only the author's own entries, and only when there are some."""
    if not selectors.month_valid(year, month):
        raise Http404("No such month.")
    pdf = export.month_pdf(owner=request.user, year=year, month=month, language=get_language())
    if pdf is None:
        raise Http404("No diary entries in this month.")
    return pdf_response(pdf, year=year, month=month, attachment=False)


def pdf_response(pdf: bytes, *, year: int, month: int, attachment: bool) -> HttpResponse:
    response = HttpResponse(pdf, content_type="application/pdf")
    disposition = "attachment" if attachment else "inline"
    response["Content-Disposition"] = f'{disposition}; filename="diary-{year:04d}-{month:02d}.pdf"'
    response["Cache-Control"] = "private, no-store"
    return response


def name_attachment(response, stem: str):
    """Name a downloaded picture after its day (the engine names files after the job's date)."""
    current = response.get("Content-Disposition", "")
    match = re.search(r'filename="?[^";]*(\.[A-Za-z0-9]+)"?', current)
    if match:
        response["Content-Disposition"] = f'attachment; filename="{stem}{match[1]}"'
    return response
