"""The desk makeover: normalise → desk check → detect → segment → plan → mask → inpaint (+LoRA)
→ locate → upscale → write. Progress is reported in the words the web tier shows.
"""

from __future__ import annotations

import random
from typing import Any

from gpu_worker import perception
from gpu_worker.context import JobContext
from gpu_worker.contract import JobResult, JobStatus
from gpu_worker.images import decode_rgb
from gpu_worker.loras import LoraRef
from gpu_worker.planning import Preferences, StyleHints
from gpu_worker.planning.choose import make_plan
from gpu_worker.stages.desk_check import check_desk
from gpu_worker.stages.detect import DESK_ITEMS, DESK_LABELS, detect
from gpu_worker.stages.inpaint import inpaint
from gpu_worker.stages.locate import locate
from gpu_worker.stages.mask import build_mask, composite
from gpu_worker.stages.normalise import normalise, to_original_framing
from gpu_worker.stages.segment import segment
from gpu_worker.stages.upscale import upscale

# Percent of the whole job at which each stage starts; painting gets most of the bar.
STAGE_START = {"checking": 1, "detecting": 5, "planning": 20, "painting": 25, "locating": 86, "upscaling": 90}
PAINT_END = 85


def run(ctx: JobContext) -> JobResult:
    settings = ctx.runtime.config.workflow
    params: dict[str, Any] = ctx.spec.params
    style_params = params.get("style") or {}
    lora = LoraRef.from_params(style_params.get("lora"))  # validate before any model work

    ctx.progress.report("checking", STAGE_START["checking"])
    with ctx.timed("load"):
        raw = ctx.storage.read(ctx.spec.input_key)
        original = decode_rgb(raw)
        work, framing = normalise(original, target_pixels=settings.work_pixels)

    ctx.progress.report("detecting", STAGE_START["detecting"])
    detector = ctx.models.get("detector")
    key = perception.cache_key(
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
        ctx.progress.report("detecting", 12, message="segmenting")
        with ctx.timed("segment"):
            masks = segment(ctx.models.get("segmenter"), work, found)
        seen = perception.Perception(detections=found, masks=masks)
        perception.save(ctx.storage, key, seen, (work.height, work.width))
    else:
        check_desk(seen.detections, min_objects=settings.desk_min_objects)

    ctx.progress.report("planning", STAGE_START["planning"])
    style = StyleHints(
        name=str(style_params.get("slug", "")),
        prompt_addition=str(style_params.get("prompt_addition", "")),
        negative_prompt_addition=str(style_params.get("negative_prompt_addition", "")),
    )
    with ctx.timed("plan"):
        plan, planner_fallback = make_plan(
            ctx.runtime.config.planner,
            image=work,
            detections=seen.detections,
            preferences=Preferences.from_params(params.get("preferences")),
            style=style,
        )
    with ctx.timed("mask"):
        items = [m for d, m in zip(seen.detections, seen.masks, strict=True) if d.label not in DESK_LABELS]
        desks = [m for d, m in zip(seen.detections, seen.masks, strict=True) if d.label in DESK_LABELS]
        mask = build_mask(work.size, item_masks=items, desk_masks=desks)

    seed = int(params.get("seed") or random.SystemRandom().randrange(2**31))
    if settings.fast_lora:  # few-step mode decides steps and guidance: the distilled LoRA needs them
        steps, guidance = settings.fast_steps, settings.fast_guidance
    else:
        steps = int(style_params.get("steps") or settings.steps)
        guidance = float(style_params.get("guidance") or settings.guidance)
    strength = float(style_params.get("strength") or settings.strength)

    def on_step(step: int, total: int) -> None:
        span = PAINT_END - STAGE_START["painting"]
        ctx.progress.report(
            "painting", STAGE_START["painting"] + span * step / max(1, total), step=step, total_steps=total
        )

    # img2img-style strength runs only that share of the schedule (what diffusers does).
    ctx.progress.report("painting", STAGE_START["painting"], step=0, total_steps=max(1, int(steps * strength)))
    with ctx.timed("inpaint"), ctx.runtime.inpaint_lock:
        pipeline = ctx.models.get("inpaint")
        ctx.runtime.loras(pipeline).activate(lora)
        painted = inpaint(
            pipeline,
            image=work,
            mask=mask.feathered,
            prompt=plan.prompt,
            negative_prompt=plan.negative_prompt,
            steps=steps,
            guidance=guidance,
            strength=strength,
            seed=seed,
            on_step=on_step,
        )
        result = composite(work, painted, mask)

    ctx.progress.report("locating", STAGE_START["locating"])
    with ctx.timed("locate"):
        hotspots = locate(
            detector, result, [i.label for i in plan.items], mask.repaint, threshold=settings.locate_threshold
        )

    ctx.progress.report("upscaling", STAGE_START["upscaling"])
    with ctx.timed("upscale"):
        final = to_original_framing(
            upscale(ctx.models.get("upscaler"), result, factor=settings.upscale, tile=settings.upscale_tile), framing
        )

    ctx.progress.report("saving", 97)
    with ctx.timed("save"):
        ctx.write_image("result", final)
        ctx.write_image("mask", mask.feathered.convert("RGB"))
    ctx.progress.report("done", 100)
    width, height = work.size
    return JobResult(
        job_id=ctx.spec.job_id,
        status=JobStatus.SUCCEEDED,
        outputs=list(ctx.outputs),
        timings=dict(ctx.timings),
        models=ctx.models.identifiers(),
        data={
            "seed": seed,
            "steps": steps,
            "guidance": guidance,
            "strength": strength,
            "prompt": plan.prompt,
            "negative_prompt": plan.negative_prompt,
            "planner": plan.planner,
            "planner_fallback_reason": planner_fallback,
            "style": style.name,
            "lora": lora.sha256 if lora else None,
            "framing": framing.to_dict(),
            "mask_coverage": round(mask.coverage, 4),
            "perception_cached": "detect" not in ctx.timings,
            "detections": [d.normalised(width, height) for d in seen.detections],
            "items": [{**item.to_dict(), "hotspot": hotspots.get(item.label)} for item in plan.items],
        },
    )
