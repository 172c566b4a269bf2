from dataclasses import asdict

from django.contrib.auth.decorators import login_required
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpResponseRedirect, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET

from generation import selectors, services
from generation.forms import NewMakeoverForm
from generation.images import ImageRejected
from shop import selectors as shop_selectors


def home(request):
    recent = selectors.jobs_of(owner=request.user)[:6] if request.user.is_authenticated else []
    return render(request, "generation/home.html", {"recent_jobs": recent, "styles": selectors.styles_active()})


@login_required
def makeover_new(request):
    form = NewMakeoverForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            upload = services.upload_create(owner=request.user, file=form.cleaned_data["photo"])
        except ImageRejected as exc:
            form.add_error("photo", exc.message)
            status = 413 if exc.code == "too_large" else 400
            return render(request, "generation/new.html", {"form": form}, status=status)
        job = services.job_create(
            owner=request.user,
            upload=upload,
            style=form.cleaned_data.get("style"),
            preferences=form.preferences(),
        )
        return redirect("generation:job_detail", job_id=job.id)
    status = 400 if request.method == "POST" else 200
    return render(request, "generation/new.html", {"form": form}, status=status)


@login_required
def job_detail(request, job_id):
    job = selectors.job_get(owner=request.user, job_id=job_id)
    context = {
        "job": job,
        "state": selectors.job_state(job=job),
        "items": selectors.job_items(job=job),
        "recommendations": shop_selectors.job_recommendations(job=job),
    }
    return render(request, "generation/job_detail.html", context)


@login_required
@require_GET
def job_status(request, job_id):
    job = selectors.job_get(owner=request.user, job_id=job_id)
    return JsonResponse(asdict(selectors.job_state(job=job)))


@login_required
@require_GET
def job_image(request, job_id, role):
    """Serve a job's image only to its owner (media is never public)."""
    job = selectors.job_get(owner=request.user, job_id=job_id)
    key = job.upload.image.name if role == "input" else selectors.job_output_key(job=job, role=role)
    if not key or not default_storage.exists(key):
        raise Http404("No such image.")
    if not hasattr(default_storage, "path"):  # object storage: a short-lived signed URL
        return HttpResponseRedirect(default_storage.url(key))
    response = FileResponse(default_storage.open(key, "rb"))
    response["Cache-Control"] = "private, max-age=300"
    return response
