"""Serving people's images: always after the caller has checked the job is theirs.

Used by the website's session views and the API's token views alike.
"""

from __future__ import annotations

import io

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpResponseRedirect
from PIL import Image, ImageOps

from generation import selectors
from generation.handlers import handler_for
from generation.models import GenerationJob

THUMB_SIZE = (480, 480)


def serve_job_image(job: GenerationJob, role: str, *, download: bool = False):
    """The file behind a job's image role; the caller has already checked that the job is theirs.

    Shared by the website (session) and the API (token) views.
    """
    if role == "thumb":
        key = _thumbnail_key(job)
    elif role == "input":
        key = job.upload.image.name if job.upload else None
    else:
        key = selectors.job_output_key(job=job, role=role)
    if not key or not default_storage.exists(key):
        raise Http404("No such image.")
    if not hasattr(default_storage, "path"):  # object storage: a short-lived signed URL
        return HttpResponseRedirect(default_storage.url(key))
    name = f"ontop-{job.created_at:%Y%m%d}-{role}{key[key.rfind('.') :]}"
    response = FileResponse(default_storage.open(key, "rb"), as_attachment=download, filename=name)
    # Private kinds (a diary, someone's face): not even kept in the browser's cache once deleted.
    private = handler_for(job.kind, strict=False).payload_is_private
    response["Cache-Control"] = "private, no-store" if private else "private, max-age=300"
    return response


def _thumbnail_key(job: GenerationJob) -> str | None:
    """A small JPEG for history, made once from the result (or the photo) and kept with the job."""
    key = f"{job.output_prefix}thumb.jpg"
    if default_storage.exists(key):
        return key
    source = selectors.job_output_key(job=job, role="result") or (job.upload.image.name if job.upload else None)
    if not source or not default_storage.exists(source):
        return None
    with default_storage.open(source, "rb") as handle:
        image = ImageOps.contain(Image.open(handle).convert("RGB"), THUMB_SIZE)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=85)
    default_storage.save(key, ContentFile(buffer.getvalue()))
    return key
