"""The photo check: for each photo read → decode → working copy → find the subject → sharpness,
perceptual hash → verdict, and for an accepted person the skin reading (the face box the check
found → SAM 2 → median skin colour; contract/tone.py). One photo's problem is its verdict, never
the job's failure: a photo that cannot be decoded is rejected as unreadable and the others are
still checked.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from gpu_worker.contract.subject_photo_check import (
    CONTRACT,
    MAX_PHOTOS,
    PHOTOS_INPUT,
    PhotoCheckParams,
    PhotoCheckResult,
    PhotoCheckStage,
    PhotoRejection,
    PhotoVerdict,
)
from gpu_worker.errors import BadImage, BadParams
from gpu_worker.images import decode_rgb
from gpu_worker.stages.photo_quality import perceptual_hash, sharpness
from gpu_worker.stages.skin_tone import face_box_reading
from gpu_worker.stages.subject import find_subject, photo_verdict, working_copy
from gpu_worker.workflow import WorkflowContext, workflow
from gpu_worker.workflows.subject_photo_check.settings import SubjectSettings


def sample(size: int) -> tuple[PhotoCheckParams, dict[str, bytes]]:
    """The benchmark's job: one synthetic 3:4 portrait (a head and shoulders on a textured wall)."""
    rng = np.random.default_rng(0)
    width, height = size * 3 // 4, size
    wall = rng.integers(150, 210, (height // 8 + 1, width // 8 + 1, 3), dtype=np.uint8)
    photo = Image.fromarray(wall).resize((width, height), Image.Resampling.NEAREST)
    draw = ImageDraw.Draw(photo)
    draw.ellipse((width * 0.1, height * 0.55, width * 0.9, height * 1.2), fill=(40, 60, 120))
    draw.ellipse((width * 0.3, height * 0.15, width * 0.7, height * 0.6), fill=(224, 180, 150))
    photo = photo.filter(ImageFilter.GaussianBlur(0.5))
    buffer = io.BytesIO()
    photo.save(buffer, "JPEG", quality=92)
    return PhotoCheckParams(subject_kind="person"), {PHOTOS_INPUT: buffer.getvalue()}


def photo_keys(ctx: WorkflowContext) -> list[str]:
    """The photos' storage keys. A single key is accepted too (the benchmark sends one photo so)."""
    value = ctx.spec.inputs.get(PHOTOS_INPUT)
    keys = [value] if isinstance(value, str) else list(value or [])
    if not keys:
        raise BadParams("The job has no photos to check.")
    if len(keys) > MAX_PHOTOS:
        raise BadParams(f"At most {MAX_PHOTOS} photos can be checked at once; got {len(keys)}.")
    return keys


@workflow(CONTRACT, models=("detector", "segmenter"), settings=SubjectSettings.from_env, sample=sample)
def run(ctx: WorkflowContext, params: PhotoCheckParams) -> PhotoCheckResult:
    settings: SubjectSettings = ctx.settings
    keys = photo_keys(ctx)
    detector = ctx.models.get("detector")
    # SAM 2 reads a person's skin; pets have no skin reading, so their checks never load it.
    segmenter = ctx.models.get("segmenter") if params.subject_kind == "person" else None
    verdicts = []
    for number, key in enumerate(keys):
        ctx.progress.report(PhotoCheckStage.CHECKING, 100 * number / len(keys), step=number, total_steps=len(keys))
        verdicts.append(_check_photo(ctx, detector, segmenter, key, params.subject_kind, settings))
    ctx.progress.report(PhotoCheckStage.DONE, 100, step=len(keys), total_steps=len(keys))
    return PhotoCheckResult(photos=verdicts, min_face_px=settings.min_face_px, min_sharpness=settings.min_sharpness)


def _check_photo(
    ctx: WorkflowContext, detector, segmenter, key: str, subject_kind: str, settings: SubjectSettings
) -> PhotoVerdict:
    with ctx.timed("load"):
        raw = ctx.storage.read(key)  # a missing key is the web tier's bug: the job fails (input_missing)
        try:
            original = decode_rgb(raw)
        except BadImage:
            return PhotoVerdict(
                key=key,
                accepted=False,
                rejection=PhotoRejection.UNREADABLE,
                sharpness=0.0,
                phash="",
                subjects=0,
                face_px=0,
                subject_box=[],
            )
        work, scale = working_copy(original, settings.work_long_side)
    with ctx.timed("detect"):
        finding = find_subject(detector, work, subject_kind, settings=settings, scale=scale)
    with ctx.timed("quality"):
        sharp = sharpness(original)
        phash = perceptual_hash(original)
    accepted, rejection = photo_verdict(finding, sharpness=sharp, subject_kind=subject_kind, settings=settings)
    skin = None
    if accepted and segmenter is not None and finding.face is not None:
        # The face box the check already found, on the same working copy: no second detection.
        with ctx.timed("skin"):
            skin = face_box_reading(work, finding.face, segmenter=segmenter)
    return PhotoVerdict(
        key=key,
        accepted=accepted,
        rejection=str(rejection),
        sharpness=round(sharp, 2),
        phash=phash,
        subjects=len(finding.subjects),
        face_px=finding.face_px,
        subject_box=finding.subject_box_original(),
        skin=skin,
    )
