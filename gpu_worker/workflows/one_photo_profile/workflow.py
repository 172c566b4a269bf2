"""The one-photo studio profile: one photo of a person → an ID-photo-style studio portrait.

No personal model: the person's own face is kept, pixel for pixel. Finding: the person and their
face (Grounding DINO), their masks (SAM 2) and the skin reading (contract/tone.py) that decides
"auto". Then, on a 4:5 head-and-shoulders framing of the photo:

1. the backdrop: inpaint everything outside the person at full strength (the studio backdrop);
2. the clothing: a light image-to-image pass over the whole picture (`clothing_strength`), so the
   clothes and the light match the new backdrop;
3. the face goes back exactly (feathered), a light face-detail pass blends its edge, and the face's
   inside goes back once more: only a ring at the face's edge is repainted;
4. the warm/cool grade, and the ×2 upscale.

diffusers' inpaint pipeline binarises its mask, so "repaint the backdrop fully and the clothes
lightly" is two passes, not one soft mask.
"""

from __future__ import annotations

import math
from contextlib import ExitStack
from dataclasses import replace

import numpy as np
from PIL import Image
from scipy import ndimage

from gpu_worker.contract.one_photo_profile import (
    BACKGROUNDS,
    CONTRACT,
    PHOTO_INPUT,
    OnePhotoError,
    OnePhotoParams,
    OnePhotoResult,
    OnePhotoStage,
)
from gpu_worker.contract.portrait import TONE_SCHEDULERS, TONE_WORDS
from gpu_worker.contract.tone import ToneDecision, tone_decide
from gpu_worker.errors import WorkflowError
from gpu_worker.images import decode_rgb
from gpu_worker.stages.derived import derived_pipeline
from gpu_worker.stages.face_detail import detail_regions, feather, paste
from gpu_worker.stages.img2img import img2img
from gpu_worker.stages.inpaint import inpaint
from gpu_worker.stages.normalise import sdxl_bucket
from gpu_worker.stages.schedulers import scheduler_used
from gpu_worker.stages.segment import segment
from gpu_worker.stages.skin_tone import skin_reading, tone_grade
from gpu_worker.stages.subject import estimated_head, find_subject, subject_matte, working_copy
from gpu_worker.stages.types import Detection
from gpu_worker.stages.upscale import upscale
from gpu_worker.workflow import WorkflowContext, workflow
from gpu_worker.workflows.portrait.settings import PortraitSettings

PROMPT = "professional studio portrait photo of a person, {background}, soft studio lighting, sharp focus, {tone}"
NEGATIVE = "blurry, distorted, deformed, extra limbs, text, watermark, busy background, harsh shadows"
# The face's width times this is the picture's width: head and shoulders, as on an ID photo.
FRAME_FACE_WIDTHS = 3.2
# The face's top sits this share of the picture's height below the top edge.
FRAME_HEADROOM = 0.12


class NoPerson(WorkflowError):
    code = OnePhotoError.NO_PERSON


class SeveralPeople(WorkflowError):
    code = OnePhotoError.SEVERAL_PEOPLE


class NoFace(WorkflowError):
    code = OnePhotoError.NO_FACE


def sample(size: int) -> tuple[OnePhotoParams, dict[str, bytes]]:
    """The benchmark's job: a synthetic photo of `size` px wide (the detector decides where the person is)."""
    import io

    rng = np.random.default_rng(0)
    pixels = rng.integers(40, 215, size=(size * 5 // 4, size, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return OnePhotoParams(seed=0, tone="auto", background="light_grey"), {PHOTO_INPUT: buffer.getvalue()}


def head_and_shoulders(
    size: tuple[int, int], face: tuple[float, float, float, float], *, aspect: float = 4 / 5
) -> tuple[int, int, int, int]:
    """A window (x0, y0, x1, y1) of width/height `aspect` around the face, inside the photo: as wide as
    FRAME_FACE_WIDTHS faces when the photo allows, shrunk to fit otherwise. The caller passes the
    aspect of the size it will paint at, so nothing is stretched."""
    width, height = size
    fx0, fy0, fx1, _ = face
    frame_w = max(1.0, min(width, (fx1 - fx0) * FRAME_FACE_WIDTHS, height * aspect))
    frame_h = frame_w / aspect
    x0 = min(max(0.0, (fx0 + fx1) / 2 - frame_w / 2), width - frame_w)
    y0 = min(max(0.0, fy0 - FRAME_HEADROOM * frame_h), height - frame_h)
    return math.floor(x0), math.floor(y0), math.floor(x0 + frame_w), math.floor(y0 + frame_h)


def _mask_image(mask: np.ndarray) -> Image.Image:
    return Image.fromarray(mask.astype(np.uint8) * 255)


def _tone(params: OnePhotoParams, decision: ToneDecision) -> tuple[str, float]:
    if params.tone == "auto":
        return decision.tone, decision.confidence
    return params.tone, 1.0


@workflow(
    CONTRACT, models=("txt2img", "detector", "segmenter", "upscaler"), settings=PortraitSettings.from_env, sample=sample
)
def run(ctx: WorkflowContext, params: OnePhotoParams) -> OnePhotoResult:
    settings: PortraitSettings = ctx.settings
    ctx.progress.report(OnePhotoStage.FINDING, 2)
    with ctx.timed("find"):
        photo = decode_rgb(ctx.read_input(PHOTO_INPUT))
        work, scale = working_copy(photo, settings.subject.work_long_side)
        finding = find_subject(
            ctx.models.get("detector"), work, "person", settings=settings.subject, scale=scale
        ).in_original()
        if not finding.subjects:
            raise NoPerson("No person was found in the photo.")
        if len(finding.subjects) > 1:
            raise SeveralPeople(f"{len(finding.subjects)} people were found in the photo.")
        person = finding.subjects[0]
        face_box = finding.face.box if finding.face is not None else None
        if face_box is None:
            if settings.subject.min_face_px > 0:
                raise NoFace("No face was found on the person.")
            face_box = estimated_head(person.box)  # the tiny preset's random detector finds no faces

        # The SDXL bucket nearest to 4:5 (896 x 1152 at 1 MP), and a window of exactly its shape.
        width, height = sdxl_bucket(4, 5, target_pixels=ctx.diffusion.work_pixels)
        frame = head_and_shoulders(photo.size, face_box, aspect=width / height)
        framed = photo.crop(frame).resize((width, height), Image.Resampling.LANCZOS)
        sx, sy = width / (frame[2] - frame[0]), height / (frame[3] - frame[1])

        def in_frame(box) -> tuple[float, float, float, float]:
            x0, y0, x1, y1 = box
            return (
                (x0 - frame[0]) * sx,
                (y0 - frame[1]) * sy,
                (x1 - frame[0]) * sx,
                (y1 - frame[1]) * sy,
            )

        person_box, face_frame_box = in_frame(person.box), in_frame(face_box)
        person_mask, face_mask = segment(
            ctx.models.get("segmenter"),
            framed,
            [Detection("person", person.score, person_box), Detection("face", 1.0, face_frame_box)],
        )
        person_mask = subject_matte(person_mask, person_box)
        face_mask = subject_matte(face_mask, face_frame_box)
        skin = skin_reading(framed, face_mask)
        tone, confidence = _tone(params, tone_decide([skin] if skin is not None else []))

    prompt = PROMPT.format(background=BACKGROUNDS[params.background], tone=TONE_WORDS[tone]).rstrip(", ")
    scheduler = TONE_SCHEDULERS.get(tone, "default")
    steps, guidance = ctx.diffusion.steps_and_guidance(None, None)
    steps = min(steps, settings.max_steps)
    pipeline = ctx.models.get("txt2img")
    from diffusers import StableDiffusionXLImg2ImgPipeline, StableDiffusionXLInpaintPipeline

    with ctx.models.exclusive(pipeline), ExitStack() as stack:
        ctx.adapters.activate(pipeline, None)  # nobody's personal model, no style
        inpainter = derived_pipeline(pipeline, StableDiffusionXLInpaintPipeline)
        for used in (pipeline, inpainter, derived_pipeline(pipeline, StableDiffusionXLImg2ImgPipeline)):
            stack.enter_context(scheduler_used(used, scheduler))

        ctx.progress.report(OnePhotoStage.PAINTING, 10)

        def on_step(start: float, end: float):
            def report(step: int, total: int) -> None:
                ctx.progress.report(
                    OnePhotoStage.PAINTING, start + (end - start) * step / max(1, total), step=step, total_steps=total
                )

            return report

        with ctx.timed("backdrop"):
            painted = inpaint(
                inpainter,
                image=framed,
                mask=_mask_image(~person_mask),
                prompt=prompt,
                negative_prompt=NEGATIVE,
                steps=steps,
                guidance=guidance,
                strength=1.0,
                seed=params.seed,
                on_step=on_step(10, 50),
            )
        if params.clothing_strength > 0:
            with ctx.timed("clothing"):
                painted = img2img(
                    pipeline,
                    painted,
                    prompt=prompt,
                    negative_prompt=NEGATIVE,
                    strength=params.clothing_strength,
                    steps=max(1, round(steps * params.clothing_strength)),
                    guidance=guidance,
                    seed=params.seed + 1,
                    on_step=on_step(50, 70),
                )

        ctx.progress.report(OnePhotoStage.DETAILING, 72)
        with ctx.timed("detail"):
            # The face goes back exactly; the light detail pass then blends only its seam.
            alpha = feather(face_mask, settings.detail.blur_px)
            painted = paste(painted, framed.crop((0, 0, width, height)), (0, 0, width, height), alpha)
            detailed = detail_regions(
                painted,
                [face_mask],
                base=pipeline,
                prompt=prompt,
                negative_prompt=NEGATIVE,
                seed=params.seed + 2,
                settings=replace(
                    settings.detail,
                    strength=settings.one_photo_detail_strength,
                    steps=min(settings.detail.steps, settings.max_steps),
                ),
            )
            # The detail pass repaints the whole face region lightly; only its seam should change.
            # The face's inside (the mask shrunk by the feather's reach) goes back from the photo.
            inner = ndimage.binary_erosion(
                face_mask, iterations=2 * settings.detail.blur_px + settings.detail.dilate_px
            )
            painted = paste(detailed.image, framed, (0, 0, width, height), feather(inner, settings.detail.blur_px))

    ctx.progress.report(OnePhotoStage.GRADING, 86)
    with ctx.timed("grade"):
        graded = tone_grade(painted, tone, strength=settings.grade_strength)
    ctx.progress.report(OnePhotoStage.UPSCALING, 90)
    with ctx.timed("upscale"):
        final = upscale(
            ctx.models.get("upscaler"), graded, factor=ctx.diffusion.upscale, tile=ctx.diffusion.upscale_tile
        )
    ctx.progress.report(OnePhotoStage.SAVING, 97)
    with ctx.timed("save"):
        ctx.write_image("result", final)
    ctx.progress.report(OnePhotoStage.DONE, 100)
    return OnePhotoResult(
        seed=params.seed,
        tone=tone,
        tone_requested=params.tone,
        tone_confidence=round(confidence, 3),
        skin=skin,
        background=params.background,
        prompt=prompt,
        scheduler=scheduler,
        width=final.width,
        height=final.height,
    )
