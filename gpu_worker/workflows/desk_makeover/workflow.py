"""The desk makeover: normalise → desk check → detect → segment → plan → mask → inpaint (+LoRA)
→ locate → upscale → write. Progress is reported with the contract's stage names.
"""

from __future__ import annotations

import io
from concurrent.futures import Future

import numpy as np
from PIL import Image

from gpu_worker import perception
from gpu_worker.contract.desk_makeover import (
    CONTRACT,
    PHOTO_INPUT,
    RESULT_PNG_ROLE,
    DeskParams,
    DeskResult,
    DeskStage,
    DetectionBox,
    Framing,
    Hotspot,
    PlannedItem,
)
from gpu_worker.stages.detect import detect
from gpu_worker.stages.inpaint import inpaint, painted_strength
from gpu_worker.stages.locate import locate
from gpu_worker.stages.normalise import load_normalised, to_original_framing
from gpu_worker.stages.segment import segment
from gpu_worker.stages.types import Detection
from gpu_worker.stages.upscale import upscale
from gpu_worker.workflow import PNG_FAST_LEVEL, PNG_FAST_STRATEGY, Background, WorkflowContext, workflow
from gpu_worker.workflows.desk_makeover.desk_check import check_desk
from gpu_worker.workflows.desk_makeover.labels import DESK_ITEMS, DESK_LABELS
from gpu_worker.workflows.desk_makeover.mask import build_mask, composite
from gpu_worker.workflows.desk_makeover.planning import Preferences, StyleHints
from gpu_worker.workflows.desk_makeover.planning.choose import make_plan
from gpu_worker.workflows.desk_makeover.settings import DeskSettings

# Percent of the whole job at which each stage starts; painting gets most of the bar.
STAGE_START = {
    DeskStage.CHECKING: 1,
    DeskStage.DETECTING: 5,
    DeskStage.PLANNING: 20,
    DeskStage.PAINTING: 25,
    DeskStage.LOCATING: 86,
    DeskStage.UPSCALING: 90,
    DeskStage.SAVING: 97,
}
PAINT_END = 85


def sample(size: int) -> tuple[DeskParams, dict[str, bytes]]:
    """The benchmark's job: a synthetic 4:3 desk photo (wood, monitor, keyboard), deterministic."""
    rng = np.random.default_rng(0)
    width, height = size * 4 // 3, size
    pixels = np.empty((height, width, 3), dtype=np.uint8)
    pixels[:] = (181, 136, 99)
    pixels[int(height * 0.1) : int(height * 0.45), int(width * 0.3) : int(width * 0.7)] = (20, 20, 25)
    pixels[int(height * 0.6) : int(height * 0.72), int(width * 0.3) : int(width * 0.65)] = (230, 230, 230)
    noise = rng.integers(-8, 8, pixels.shape)
    buffer = io.BytesIO()
    Image.fromarray(np.clip(pixels.astype(int) + noise, 0, 255).astype(np.uint8)).save(buffer, "JPEG", quality=92)
    return DeskParams(seed=0), {PHOTO_INPUT: buffer.getvalue()}


@workflow(
    CONTRACT,
    models=("inpaint", "detector", "segmenter", "upscaler"),
    settings=DeskSettings.from_env,
    sample=sample,
)
def run(ctx: WorkflowContext, params: DeskParams) -> DeskResult:
    settings: DeskSettings = ctx.settings
    diffusion = ctx.diffusion
    style = params.style
    lora = style.lora if style else None
    hints = StyleHints(
        name=style.slug if style else "",
        prompt_addition=style.prompt_addition if style else "",
        negative_prompt_addition=style.negative_prompt_addition if style else "",
    )

    ctx.progress.report(DeskStage.CHECKING, STAGE_START[DeskStage.CHECKING])
    with ctx.timed("load"):
        raw = ctx.read_input(PHOTO_INPUT)
        # A JPEG far larger than the job needs is decoded at a reduced scale (JPEG draft mode).
        work, framing = load_normalised(raw, target_pixels=diffusion.work_pixels, upscale=diffusion.upscale)

    # Beside the main line: the planner's call (it needs the detections and the photo only, not
    # the masks) and the file writes. Leaving the block waits for all of them.
    with ctx.background() as later:
        ctx.progress.report(DeskStage.DETECTING, STAGE_START[DeskStage.DETECTING])
        detector = ctx.models.get("detector")
        key = perception.cache_key(
            input_key=ctx.spec.inputs[PHOTO_INPUT],
            image_bytes=raw,
            work_size=framing.work_size,
            models={role: ctx.models.identifier(role) for role in ("detector", "segmenter")},
            thresholds={"box": settings.box_threshold, "max": settings.max_detections},
        )
        with ctx.timed("perception_cache"):
            seen = perception.load(ctx.storage, key)
        if seen is None:
            with ctx.timed("detect"):
                labels = DESK_LABELS + DESK_ITEMS
                found = detect(
                    detector, work, labels, box_threshold=settings.box_threshold, max_detections=settings.max_detections
                )
            check_desk(found, min_objects=settings.desk_min_objects)
            planned = _plan_beside(later, ctx, work, found, params, hints)
            ctx.progress.report(DeskStage.DETECTING, 12, message="segmenting")
            with ctx.timed("segment"):
                masks = segment(ctx.models.get("segmenter"), work, found)
            seen = perception.Perception(detections=found, masks=masks)
            later.submit("perception_save", perception.save, ctx.storage, key, seen, (work.height, work.width))
        else:
            check_desk(seen.detections, min_objects=settings.desk_min_objects)
            planned = _plan_beside(later, ctx, work, seen.detections, params, hints)

        ctx.progress.report(DeskStage.PLANNING, STAGE_START[DeskStage.PLANNING])
        with ctx.timed("mask"):
            items = [m for d, m in zip(seen.detections, seen.masks, strict=True) if d.label not in DESK_LABELS]
            desks = [m for d, m in zip(seen.detections, seen.masks, strict=True) if d.label in DESK_LABELS]
            mask = build_mask(work.size, item_masks=items, desk_masks=desks)
        mask_written = later.submit("mask_save", ctx.store_image, "mask", mask.feathered.convert("RGB"))
        # Only the time the job really waits for the planner: "plan" is the call's own duration.
        plan, planner_fallback = later.result(planned, stage="plan_wait")

        steps, guidance = diffusion.steps_and_guidance(
            style.steps if style else None, style.guidance if style else None
        )
        strength = (style.strength if style else None) or settings.strength
        paint_start = STAGE_START[DeskStage.PAINTING]

        def on_step(step: int, total: int) -> None:
            span = PAINT_END - paint_start
            ctx.progress.report(
                DeskStage.PAINTING, paint_start + span * step / max(1, total), step=step, total_steps=total
            )

        # `steps` is what runs, whatever the strength (stages/inpaint.py).
        ctx.progress.report(DeskStage.PAINTING, paint_start, step=0, total_steps=steps)
        pipeline = ctx.models.get("inpaint")
        strength = painted_strength(pipeline, strength)
        with ctx.timed("inpaint"), ctx.models.exclusive(pipeline):
            ctx.adapters.activate(pipeline, lora)
            painted = inpaint(
                pipeline,
                image=work,
                mask=mask.feathered,
                prompt=plan.prompt,
                negative_prompt=plan.negative_prompt,
                steps=steps,
                guidance=guidance,
                strength=strength,
                seed=params.seed,
                on_step=on_step,
            )
            result = composite(work, painted, mask)

        ctx.progress.report(DeskStage.LOCATING, STAGE_START[DeskStage.LOCATING])
        with ctx.timed("locate"):
            hotspots = locate(
                detector, result, [i.label for i in plan.items], mask.repaint, threshold=settings.locate_threshold
            )

        ctx.progress.report(DeskStage.UPSCALING, STAGE_START[DeskStage.UPSCALING])
        with ctx.timed("upscale"):
            upscaled = upscale(
                ctx.models.get("upscaler"), result, factor=diffusion.upscale, tile=diffusion.upscale_tile
            )
            final = to_original_framing(upscaled, framing)

        ctx.progress.report(DeskStage.SAVING, STAGE_START[DeskStage.SAVING])
        with ctx.timed("save"):
            ctx.write_image("result", final, format="JPEG")
            # The lossless copy, for an explicit download only, is encoded after the job is
            # reported (0.3-0.5 s at this size even at the fastest PNG settings; JPEG q92 takes tens
            # of ms): listed now, in a fixed order (result, its PNG, mask).
            ctx.outputs.append(
                ctx.store_image_after_job(
                    RESULT_PNG_ROLE,
                    final,
                    name="result",
                    compress_level=PNG_FAST_LEVEL,
                    compress_type=PNG_FAST_STRATEGY,
                )
            )
            ctx.outputs.append(mask_written.result())
    ctx.progress.report(DeskStage.DONE, 100)
    width, height = work.size
    return DeskResult(
        seed=params.seed,
        steps=steps,
        guidance=guidance,
        strength=strength,
        prompt=plan.prompt,
        negative_prompt=plan.negative_prompt,
        planner=plan.planner,
        planner_fallback_reason=planner_fallback,
        style=hints.name,
        lora=lora.sha256 if lora else None,
        framing=Framing(original_size=list(framing.original_size), work_size=list(framing.work_size)),
        mask_coverage=round(mask.coverage, 4),
        perception_cached="detect" not in ctx.timings,
        detections=[DetectionBox(**d.normalised(width, height)) for d in seen.detections],
        items=[
            PlannedItem(
                label=item.label,
                query_ko=item.query_ko,
                category=item.category,
                placement=item.placement,
                label_ko=item.label_ko,
                placement_ko=item.placement_ko,
                hotspot=Hotspot(**hotspot) if (hotspot := hotspots.get(item.label)) else None,
            )
            for item in plan.items
        ],
    )


def _plan_beside(
    later: Background,
    ctx: WorkflowContext,
    work: Image.Image,
    detections: list[Detection],
    params: DeskParams,
    hints: StyleHints,
) -> Future:
    """The planner (OpenAI when configured, else local) on its own thread; its failures come back
    through the future, so they end the job exactly as they did in line."""
    return later.submit(
        "plan",
        make_plan,
        ctx.openai,
        image=work.copy(),  # its own copy: segmentation reads `work` at the same time
        detections=list(detections),
        preferences=Preferences.from_contract(params.preferences),
        style=hints,
    )
