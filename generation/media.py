"""Serving people's images: always after the caller has checked the job is theirs.

Used by the website's session views and the API's token views alike.

Sizes: by default a URL returns the stored file, as it always has (the API's clients rely on it).
`size="preview"` returns a copy at most PREVIEW_LONG_SIDE pixels on its long side, made once and
kept in storage next to what it was made from (a job's under the job's own prefix, so it goes with
the job); pages show that. A download is always the original file.

Formats: a desk makeover's result is stored as a high-quality JPEG, with a lossless PNG copy beside it
(the output role "<role>_png"). `image_format="png"` (`?format=png`) serves that copy; a job from
before the copies existed has a PNG result itself, which is served instead.
"""

from __future__ import annotations

import io

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpResponseRedirect
from PIL import Image, ImageOps

from generation import selectors
from generation.handlers import handler_for
from generation.models import GenerationJob, Upload

THUMB_SIZE = (480, 480)
PREVIEW_LONG_SIDE = 1280
PREVIEW_QUALITY = 90
SIZES = ("preview",)
FORMATS = ("png",)
LOSSLESS_SUFFIX = "_png"  # the output role of a result's lossless copy: "result" → "result_png"


def requested_size(value: str | None) -> str | None:
    """The `size` query parameter, if it names a size we make (anything else: the original)."""
    return value if value in SIZES else None


def requested_format(value: str | None) -> str | None:
    """The `format` query parameter, if it names a format we keep (anything else: the stored file)."""
    return value if value in FORMATS else None


def serve_job_image(
    job: GenerationJob,
    role: str,
    *,
    download: bool = False,
    size: str | None = None,
    image_format: str | None = None,
):
    """The file behind a job's image role; the caller has already checked that the job is theirs.

    Shared by the website (session) and the API (token) views. A download is the original file;
    `image_format="png"` asks for the lossless copy (never resized).
    """
    if image_format == "png" and role in ("thumb", "input"):
        key = None  # a lossless copy exists of results only (the photo is what was uploaded)
    elif role == "thumb":
        key = _thumbnail_key(job)
    elif role == "input":
        key = job.upload.image.name if job.upload else None
    elif image_format == "png":
        key = _lossless_key(job, role)
    else:
        key = selectors.job_output_key(job=job, role=role)
    if not key or not default_storage.exists(key):
        raise Http404("No such image.")
    if size == "preview" and not download and role != "thumb" and image_format is None:
        key = preview_key(key, cache_key=f"{job.output_prefix}preview-{role}.jpg")
    name = f"ontop-{job.created_at:%Y%m%d}-{role.removesuffix(LOSSLESS_SUFFIX)}{key[key.rfind('.') :]}"
    # Private kinds (a diary, someone's face): not even kept in the browser's cache once deleted.
    private = handler_for(job.kind, strict=False).payload_is_private
    cache_control = "private, no-store" if private else "private, max-age=300"
    if _object_storage():  # a short-lived signed URL that answers with the same headers we would
        parameters = {"ResponseCacheControl": cache_control}
        if download:
            parameters["ResponseContentDisposition"] = f'attachment; filename="{name}"'
        return HttpResponseRedirect(default_storage.url(key, parameters=parameters))
    response = FileResponse(default_storage.open(key, "rb"), as_attachment=download, filename=name)
    response["Cache-Control"] = cache_control
    return response


def _lossless_key(job: GenerationJob, role: str) -> str | None:
    """The PNG of a role: its lossless copy, or the file itself when that is a PNG already (jobs
    from before results were JPEG, and masks)."""
    copy = selectors.job_output_key(job=job, role=f"{role}{LOSSLESS_SUFFIX}")
    if copy:
        return copy
    key = selectors.job_output_key(job=job, role=role)
    return key if key and key.lower().endswith(".png") else None


def serve_upload_thumbnail(upload: Upload):
    """A small copy of a stored photo (made on the fly, not kept: an upload may never become a job).
    The caller has checked that the upload is theirs."""
    key = upload.image.name
    if not key or not default_storage.exists(key):
        raise Http404("No such image.")
    with default_storage.open(key, "rb") as handle:
        data = _resized_jpeg(handle, THUMB_SIZE[0], quality=85)
    body = io.BytesIO(data) if data is not None else default_storage.open(key, "rb")
    response = FileResponse(body, content_type="image/jpeg")
    response["Cache-Control"] = "private, no-store"
    return response


def serve_public_image(key: str, *, size: str | None = None):
    """Admin content (style previews, showcases): public by design, cached by browsers."""
    if not key or not default_storage.exists(key):
        raise Http404("No such image.")
    if size == "preview":
        key = preview_key(key, cache_key=public_preview_key(key))
    if _object_storage():
        return HttpResponseRedirect(default_storage.url(key))
    response = FileResponse(default_storage.open(key, "rb"))
    response["Cache-Control"] = "public, max-age=3600"
    return response


def _object_storage() -> bool:
    """S3 and the like. Every storage backend has path(); only a local one answers it."""
    try:
        default_storage.path("")
    except NotImplementedError:
        return True
    return False


def public_preview_key(key: str) -> str:
    """Where the preview-size copy of an admin picture is kept (deleted with the picture)."""
    stem = key[: key.rfind(".")] if "." in key.rsplit("/", 1)[-1] else key
    return f"{stem}.preview{PREVIEW_LONG_SIDE}.jpg"


def preview_key(key: str, *, cache_key: str) -> str:
    """The key of a copy of `key` at most PREVIEW_LONG_SIDE on its long side: `key` itself when it is
    that small already, else `cache_key`, made the first time it is asked for."""
    if default_storage.exists(cache_key):
        return cache_key
    with default_storage.open(key, "rb") as handle:
        data = _resized_jpeg(handle, PREVIEW_LONG_SIDE, quality=PREVIEW_QUALITY)
    if data is None:
        return key
    saved = default_storage.save(cache_key, ContentFile(data))
    if saved != cache_key:  # made twice at once: keep the first, drop ours
        default_storage.delete(saved)
    return cache_key


def _resized_jpeg(handle, long_side: int, *, quality: int) -> bytes | None:
    """A JPEG at most `long_side` on its long side, or None when the image is that small already.
    Bounded cost: a JPEG is decoded at the smallest scale that is still big enough (draft mode)."""
    image = Image.open(handle)
    if max(image.size) <= long_side and image.getexif().get(0x0112, 1) == 1:
        return None
    image.draft("RGB", (long_side, long_side))
    image = ImageOps.exif_transpose(image)
    if image.mode in ("RGBA", "LA", "P"):
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        image = background
    elif image.mode != "RGB":
        image = image.convert("RGB")
    image = ImageOps.contain(image, (long_side, long_side), method=Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality, subsampling=0, optimize=True, progressive=True)
    return buffer.getvalue()


def _thumbnail_key(job: GenerationJob) -> str | None:
    """A small JPEG for history, made once from the result (or the photo) and kept with the job."""
    key = f"{job.output_prefix}thumb.jpg"
    if default_storage.exists(key):
        return key
    source = selectors.job_output_key(job=job, role="result") or (job.upload.image.name if job.upload else None)
    if not source or not default_storage.exists(source):
        return None
    with default_storage.open(source, "rb") as handle:
        image = Image.open(handle)
        image.draft("RGB", THUMB_SIZE)  # a JPEG result is decoded at 1/2–1/8 scale: a fraction of the cost
        image = ImageOps.contain(image.convert("RGB"), THUMB_SIZE)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=85)
    default_storage.save(key, ContentFile(buffer.getvalue()))
    return key
