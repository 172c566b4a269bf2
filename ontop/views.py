"""The site's front page: the desk makeover first, then every other product and your recent pictures."""

from __future__ import annotations

from django.shortcuts import render
from django.urls import reverse

from generation import selectors as job_selectors
from generation import services as job_services
from generation.handlers import handler_for, handlers

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
