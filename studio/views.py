"""The studio's pages: validate → call a service or selector → render. Everything is the owner's only."""

from __future__ import annotations

import io
from dataclasses import asdict

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST
from PIL import Image, ImageOps

from generation import selectors as job_selectors
from generation import services as job_services
from gpu_worker.contract.portrait import KIND as PORTRAIT_KIND
from gpu_worker.contract.portrait import MAX_INSTRUCTION_CHARS
from gpu_worker.contract.subject_training import KIND as TRAINING_KIND
from studio import messages as words
from studio import selectors, services
from studio.forms import (
    PHOTO_ACCEPT,
    ModelRenameForm,
    PackForm,
    PackMoreForm,
    PhotosForm,
    SubjectEditForm,
    SubjectForm,
    TrainForm,
)
from studio.models import Concept

UPLOAD_ERRORS_KEY = "studio_upload_errors"
PACKS_ON_LIBRARY = 30
THUMB_SIZE = (360, 360)
# People's photos and their models' previews: the browser asks again each time, so a deleted one is gone.
PRIVATE_NO_CACHE = "private, no-store"  # not even kept on disk: deleted means gone


@login_required
@require_GET
def library(request):
    """My models: every subject with its status, and the models it has."""
    subjects = [selectors.subject_overview(subject) for subject in selectors.subjects_of(owner=request.user)]
    packs = list(selectors.packs_of(owner=request.user)[:PACKS_ON_LIBRARY])
    context = {
        "subjects": subjects,
        "states": _open_training_states(subjects),
        "quota": job_services.quota_of(owner=request.user, kind=TRAINING_KIND),
        "packs": packs,
    }
    return render(request, "studio/library.html", context)


@login_required
def subject_new(request):
    form = SubjectForm(request.POST or None)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            data = form.cleaned_data
            try:
                subject = services.subject_create(
                    owner=request.user,
                    kind=data["kind"],
                    name=data["name"],
                    consent=data["consent"],
                    keep_photos=data["keep_photos"],
                    submission_id=data.get("submission_id"),
                )
            except services.ConsentRequired:
                form.add_error("consent", words.consent_required())
            except services.SubjectLimitReached as exc:
                form.add_error(None, words.subject_limit(exc.limit))
                status = 409
            else:
                return redirect("studio:subject", subject_id=subject.id)
    context = {"form": form, "retention": words.retention_text()}
    return render(request, "studio/new.html", context, status=status)


@login_required
@require_GET
def subject(request, subject_id):
    subject = selectors.subject_get(owner=request.user, subject_id=subject_id)
    return _subject_page(request, subject)


def _upload_errors(request, subject, rejected=None) -> list[dict]:
    """The files of the subject's last upload that were not stored, by name and code. They stay in
    the session (and on the page, in the reader's language, across the reloads while the photos are
    checked) until the next upload: `rejected` replaces them then."""
    stored = request.session.get(UPLOAD_ERRORS_KEY)
    stored = stored if isinstance(stored, dict) else {}
    key = str(subject.id)
    if rejected is not None:
        stored = {k: v for k, v in stored.items() if k != key}
        if rejected:
            stored[key] = [{"name": item.name, "code": item.code} for item in rejected]
        request.session[UPLOAD_ERRORS_KEY] = stored
    return stored.get(key, [])


def _subject_page(request, subject, *, upload_error: str = "", edit_form=None, status=200):
    overview = selectors.subject_overview(subject)
    edit_form = edit_form or SubjectEditForm(initial={"name": subject.name, "keep_photos": subject.keep_photos})
    context = {
        "subject": subject,
        "overview": overview,
        "states": _open_training_states([overview]),
        "photos_form": PhotosForm(),
        "photo_accept": PHOTO_ACCEPT,
        "train_form": TrainForm(),
        "edit_form": edit_form,
        "upload_errors": [
            {"name": item["name"], "message": words.file_rejected(item["code"])}
            for item in _upload_errors(request, subject)
        ],
        "upload_error": upload_error,
        "retention": words.retention_text(),
        "quota": job_services.quota_of(owner=request.user, kind=TRAINING_KIND),
        "packs": list(selectors.packs_of(owner=request.user, subject=subject)[:PACKS_ON_LIBRARY]),
    }
    return render(request, "studio/subject.html", context, status=status)


def _open_training_states(overviews) -> dict:
    """The live state of each open training, keyed by job id (the page's first paint; then it polls).
    Read at once: one Redis round trip for the whole library."""
    jobs = [o.open_training.job for o in overviews if o.open_training is not None]
    return {job.id: state for job, state in zip(jobs, job_selectors.job_states(jobs=jobs), strict=True)}


@login_required
@require_POST
def photos_add(request, subject_id):
    subject = selectors.subject_get(owner=request.user, subject_id=subject_id)
    form = PhotosForm(request.POST, request.FILES)
    _upload_errors(request, subject, rejected=[])  # a new upload: the last one's refusals are old news
    if not form.is_valid():
        return _subject_page(request, subject, upload_error=form.errors["photos"][0], status=400)
    try:
        added = services.subject_photos_add(subject=subject, files=form.cleaned_data["photos"])
    except services.PhotoLimitReached as exc:
        error = words.photo_limit(exc.room, rejected=exc.rejected)
        return _subject_page(request, subject, upload_error=error, status=400)
    _upload_errors(request, subject, rejected=added.rejected)
    if added.photos:
        count = len(added.photos)
        messages.success(request, _("%(count)s photos uploaded. We are checking them now.") % {"count": count})
    return redirect("studio:subject", subject_id=subject.id)


@login_required
@require_POST
def photos_recheck(request, subject_id):
    subject = selectors.subject_get(owner=request.user, subject_id=subject_id)
    try:
        services.subject_photos_recheck(subject=subject)
    except services.NothingToCheck:
        messages.info(request, words.nothing_to_check())
    return redirect("studio:subject", subject_id=subject.id)


@login_required
@require_POST
def photo_delete(request, photo_id):
    photo = selectors.photo_get(owner=request.user, photo_id=photo_id)
    subject_id = photo.subject_id
    try:
        services.subject_photo_delete(photo=photo)
    except services.PhotoInUse:
        messages.error(request, words.photo_in_use())
    else:
        messages.success(request, _("The photo was removed."))
    return redirect("studio:subject", subject_id=subject_id)


@login_required
@require_GET
def photo_image(request, photo_id):
    """A photo of yours, made small for the page (the stored photo can be a 12-megapixel original)."""
    photo = selectors.photo_get(owner=request.user, photo_id=photo_id)
    return photo_thumbnail_response(photo)


def photo_thumbnail_response(photo) -> HttpResponse:
    key = photo.upload.image.name
    if not key or not default_storage.exists(key):
        raise Http404("No such photo.")
    with default_storage.open(key, "rb") as handle:
        image = Image.open(handle)
        image.draft("RGB", THUMB_SIZE)
        image = ImageOps.contain(image.convert("RGB"), THUMB_SIZE)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=85)
    response = HttpResponse(buffer.getvalue(), content_type="image/jpeg")
    # A person's photo: never reused from a cache once it may have been deleted.
    response["Cache-Control"] = PRIVATE_NO_CACHE
    return response


@login_required
@require_POST
def train(request, subject_id):
    subject = selectors.subject_get(owner=request.user, subject_id=subject_id)
    form = TrainForm(request.POST)
    submission_id = form.cleaned_data.get("submission_id") if form.is_valid() else None
    # Post/redirect/get, refused or not: a refresh never sends the training again.
    try:
        services.subject_train(subject=subject, submission_id=submission_id)
    except services.NotEnoughPhotos as exc:
        messages.error(request, words.not_enough_photos(exc.accepted, exc.checking))
    except services.TrainingInProgress:
        messages.error(request, words.training_in_progress())
    except job_services.QuotaExceeded as exc:
        messages.error(request, words.quota(exc.limit))
    else:
        messages.success(request, _("Training started. It takes a while: you can leave this page."))
    return redirect("studio:subject", subject_id=subject.id)


@login_required
@require_POST
def subject_edit(request, subject_id):
    subject = selectors.subject_get(owner=request.user, subject_id=subject_id)
    form = SubjectEditForm(request.POST)
    if not form.is_valid():  # the errors next to the fields, what was typed kept
        return _subject_page(request, subject, edit_form=form, status=400)
    services.subject_update(
        subject=subject, name=form.cleaned_data["name"], keep_photos=form.cleaned_data["keep_photos"]
    )
    messages.success(request, _("Saved."))
    return redirect("studio:subject", subject_id=subject.id)


@login_required
@require_POST
def subject_delete(request, subject_id):
    subject = selectors.subject_get(owner=request.user, subject_id=subject_id)
    services.subject_delete(subject=subject)
    _upload_errors(request, subject, rejected=[])
    messages.success(request, _("The subject, its photos and its models were deleted."))
    return redirect("studio:library")


@login_required
@require_GET
def model_detail(request, model_id):
    model = selectors.personal_model_get(owner=request.user, model_id=model_id)
    return _model_page(request, model)


def _model_page(request, model, *, rename_form=None, status=200):
    context = {
        "model": model,
        "result": selectors.training_result(model.training),
        "previews": selectors.model_previews(model),
        "rename_form": rename_form or ModelRenameForm(initial={"name": model.name}),
        "is_latest": services.personal_model_latest(subject=model.subject) == model,
    }
    return render(request, "studio/model.html", context, status=status)


@login_required
@require_POST
def model_rename(request, model_id):
    model = selectors.personal_model_get(owner=request.user, model_id=model_id)
    form = ModelRenameForm(request.POST)
    if not form.is_valid():  # the error next to the field, what was typed kept
        return _model_page(request, model, rename_form=form, status=400)
    services.personal_model_rename(model=model, name=form.cleaned_data["name"])
    messages.success(request, _("Renamed."))
    return redirect("studio:model", model_id=model.id)


@login_required
@require_POST
def model_delete(request, model_id):
    model = selectors.personal_model_get(owner=request.user, model_id=model_id)
    subject_id = model.subject_id
    services.personal_model_delete(model=model)
    messages.success(request, _("The model and its files were deleted."))
    return redirect("studio:subject", subject_id=subject_id)


@login_required
@require_GET
def model_preview(request, model_id, index: int):
    model = selectors.personal_model_get(owner=request.user, model_id=model_id)
    return model_preview_response(model, index)


def model_preview_response(model, index: int) -> FileResponse:
    key = selectors.model_preview_key(model, index)
    if key is None or not default_storage.exists(key):
        raise Http404("No such preview.")
    content_type = "image/png" if key.endswith(".png") else "image/jpeg"
    response = FileResponse(default_storage.open(key, "rb"), content_type=content_type)
    response["Cache-Control"] = PRIVATE_NO_CACHE
    return response


# ---- portraits: profile packs ----------------------------------------------------------------


def _pet_examples() -> list[str]:
    """What a person can ask a pet's picture for, in their language."""
    return [
        _("Running on the beach at sunset, ears flying"),
        _("Sleeping on a cloud of pillows with a tiny crown"),
        _("Wearing a yellow raincoat, jumping in puddles"),
    ]


def _pack_form(subject, data=None) -> PackForm:
    concepts = list(selectors.concepts_active(kind=subject.kind))
    poses = [] if subject.is_pet else list(selectors.poses_active().filter(concepts__in=concepts).distinct())
    return PackForm(data, subject=subject, concepts=concepts, poses=poses)


@login_required
def pack_new(request, subject_id):
    """Make a pack: a concept, a pose (people) or words (pets), a tone and how many pictures."""
    subject = selectors.subject_get(owner=request.user, subject_id=subject_id)
    model = services.personal_model_latest(subject=subject)
    if model is None:
        messages.error(request, words.no_model())
        return redirect("studio:subject", subject_id=subject.id)
    form = _pack_form(subject, request.POST or None)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            data = form.cleaned_data
            try:
                pack = services.pack_create(
                    owner=request.user,
                    subject=subject,
                    concept=form.concept_obj,
                    pose=form.pose_obj,
                    tone=data["tone"],
                    instruction=data.get("instruction") or "",
                    size=data.get("size"),
                    submission_id=data.get("submission_id"),
                )
            except services.PackInvalid as exc:
                form.add_error(exc.field if exc.field in form.fields else None, words.pack_invalid(exc.code))
            except services.NoPersonalModel:
                form.add_error(None, words.no_model())
                status = 409
            except services.PortraitQuotaExceeded as exc:
                form.add_error(None, words.portrait_quota(exc.limit, exc.remaining, exc.size))
                status = 429
            else:
                return redirect("studio:pack", pack_id=pack.id)
    context = {
        "subject": subject,
        "model": model,
        "form": form,
        "concepts": list(form.concepts.values()),
        "poses": list(form.poses.values()),
        "auto_tone": selectors.auto_tone(subject),
        "pet_examples": _pet_examples(),
        "max_instruction": MAX_INSTRUCTION_CHARS,
        "quota": job_services.quota_of(owner=request.user, kind=PORTRAIT_KIND),
        "ai_notice": words.ai_notice(),
    }
    return render(request, "studio/pack_new.html", context, status=status)


@login_required
@require_GET
def pack(request, pack_id):
    pack = selectors.pack_get(owner=request.user, pack_id=pack_id)
    services.pack_touch(pack=pack)
    rows = selectors.pack_pictures(pack)
    context = {
        "pack": pack,
        "rows": rows,
        "progress": selectors.pack_progress(rows),
        "tone_label": selectors.pack_tone_label(pack),
        "more_form": PackMoreForm(),
        "ai_notice": words.ai_notice(),
        "quota": job_services.quota_of(owner=request.user, kind=PORTRAIT_KIND),
    }
    return render(request, "studio/pack.html", context)


@login_required
@require_GET
def pack_state(request, pack_id):
    """The pack's live state for its page: each picture's job state (the engine's job status JSON) and
    the pack's progress."""
    pack = selectors.pack_get(owner=request.user, pack_id=pack_id)
    rows = selectors.pack_pictures(pack)
    progress = selectors.pack_progress(rows)
    pictures = []
    for row in rows:
        state = asdict(row.state)
        state.update(
            id=str(row.portrait.job_id),
            index=row.portrait.index,
            done=row.done,
            image_url=reverse("studio:portrait_image", args=[row.portrait.job_id]) if row.done else None,
        )
        pictures.append(state)
    body = {
        "total": progress.total,
        "done": progress.done,
        "failed": progress.failed,
        "cancelled": progress.cancelled,
        "percent": progress.percent,
        "eta_seconds": progress.eta_seconds,
        "finished": progress.finished,
        "pictures": pictures,
    }
    response = JsonResponse(body)
    response["Cache-Control"] = PRIVATE_NO_CACHE
    return response


@login_required
@require_POST
def pack_more(request, pack_id):
    pack = selectors.pack_get(owner=request.user, pack_id=pack_id)
    form = PackMoreForm(request.POST)
    submission_id = form.cleaned_data.get("submission_id") if form.is_valid() else None
    try:
        new = services.pack_more_like(pack=pack, submission_id=submission_id)
    except services.PackInvalid as exc:
        messages.error(request, words.pack_invalid(exc.code))
    except services.NoPersonalModel:
        messages.error(request, words.no_model())
    except services.PortraitQuotaExceeded as exc:
        messages.error(request, words.portrait_quota(exc.limit, exc.remaining, exc.size))
    else:
        return redirect("studio:pack", pack_id=new.id)
    return redirect("studio:pack", pack_id=pack.id)


@login_required
@require_POST
def pack_cancel(request, pack_id):
    pack = selectors.pack_get(owner=request.user, pack_id=pack_id)
    try:
        services.pack_cancel(pack=pack)
    except services.NothingToCancel:
        messages.info(request, words.pack_nothing_to_cancel())
    else:
        messages.info(request, _("Cancelled. The pictures that had not started do not count towards today's limit."))
    return redirect("studio:pack", pack_id=pack.id)


@login_required
@require_POST
def pack_delete(request, pack_id):
    pack = selectors.pack_get(owner=request.user, pack_id=pack_id)
    subject_id = pack.subject_id
    services.pack_delete(pack=pack)
    messages.success(request, _("The pack and its pictures were deleted."))
    return redirect("studio:subject", subject_id=subject_id)


@login_required
@require_GET
def pack_zip(request, pack_id):
    return pack_zip_response(selectors.pack_get(owner=request.user, pack_id=pack_id))


def pack_zip_response(pack) -> FileResponse:
    services.pack_touch(pack=pack)
    archive = selectors.pack_zip(pack)
    if archive is None:
        raise Http404(_("No picture of this pack is finished yet."))
    slug = pack.concept.slug if pack.concept else "portraits"
    made_on = timezone.localtime(pack.created_at)  # the day the person saw it made, not UTC's
    response = FileResponse(archive, as_attachment=True, filename=f"{slug}-{made_on:%Y%m%d}.zip")
    response["Content-Type"] = "application/zip"
    response["Cache-Control"] = PRIVATE_NO_CACHE
    return response


@login_required
@require_GET
def portrait_image(request, portrait_id):
    portrait = selectors.portrait_get(owner=request.user, portrait_id=portrait_id)
    return portrait_image_response(portrait, download=request.GET.get("download") == "1")


def portrait_image_response(portrait, *, download: bool = False):
    """A finished picture, to its owner only, never cached (a deleted one does not linger)."""
    key = selectors.portrait_image_key(portrait)
    if key is None or not default_storage.exists(key):
        raise Http404("No such picture.")
    services.pack_touch(pack=portrait.pack)
    if not hasattr(default_storage, "path"):  # object storage: a short-lived signed URL
        return HttpResponseRedirect(default_storage.url(key))
    content_type = "image/png" if key.endswith(".png") else "image/jpeg"
    response = FileResponse(
        default_storage.open(key, "rb"),
        as_attachment=download,
        filename=selectors.portrait_file_name(portrait),
        content_type=content_type,
    )
    response["Cache-Control"] = PRIVATE_NO_CACHE
    return response


@login_required
@require_POST
def portrait_favourite(request, portrait_id):
    portrait = selectors.portrait_get(owner=request.user, portrait_id=portrait_id)
    services.portrait_favourite_set(portrait=portrait, favourite=request.POST.get("favourite") == "1")
    return redirect(f"{reverse('studio:pack', args=[portrait.pack_id])}#picture-{portrait.job_id}")


@login_required
@require_POST
def portrait_delete(request, portrait_id):
    portrait = selectors.portrait_get(owner=request.user, portrait_id=portrait_id)
    pack_id, subject_id = portrait.pack_id, portrait.pack.subject_id
    if services.portrait_delete(portrait=portrait):
        messages.success(request, _("The picture was deleted. It was the last one, so the pack is gone too."))
        return redirect("studio:subject", subject_id=subject_id)
    messages.success(request, _("The picture was deleted."))
    return redirect("studio:pack", pack_id=pack_id)


def concept_preview(request, slug):
    """A concept's example picture: admin content, public (like style previews)."""
    concept = get_object_or_404(Concept, slug=slug, is_active=True)
    if not concept.preview_image or not default_storage.exists(concept.preview_image.name):
        raise Http404("No preview.")
    if not hasattr(default_storage, "path"):
        return HttpResponseRedirect(default_storage.url(concept.preview_image.name))
    response = FileResponse(default_storage.open(concept.preview_image.name, "rb"))
    response["Cache-Control"] = "public, max-age=3600"
    return response
