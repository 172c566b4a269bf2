"""Benchmark the desk-makeover stages and the inpainting variants, side by side in one run.

    python -m gpu_worker.bench                       # tiny preset (CPU-friendly), 20 and 30 steps
    python -m gpu_worker.bench --preset full --size 1024 --variants plain,ours,channels_last,compile
    python -m gpu_worker.bench --json out.json       # also write the figures as JSON

`full` builds the real architectures (SDXL inpaint UNet/VAE/text encoders, Grounding DINO base,
SAM 2.1 large) with random weights: real speed and memory, no download, noise for pictures.
Ratios compare each variant with the plain diffusers pipeline call measured in the same run,
because these machines are noisy. Results go in docs/benchmarks.md with the command line.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from gpu_worker.config import PlannerSettings, WorkerConfig, WorkflowSettings
from gpu_worker.planning import Preferences, StyleHints
from gpu_worker.planning.local import LocalPlanner
from gpu_worker.registry import ModelRegistry, resolve_device
from gpu_worker.stages.detect import DESK_ITEMS, DESK_LABELS, detect
from gpu_worker.stages.inpaint import inpaint
from gpu_worker.stages.locate import locate
from gpu_worker.stages.mask import build_mask, composite
from gpu_worker.stages.normalise import normalise
from gpu_worker.stages.segment import segment
from gpu_worker.stages.upscale import upscale

VARIANTS = ("plain", "ours", "channels_last", "compile")


@dataclass
class Measurement:
    name: str
    seconds: float
    steps: int = 0
    step_seconds: float | None = None
    peak_vram_gib: float | None = None
    note: str = ""
    extra: dict = field(default_factory=dict)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def _peak(device: torch.device) -> float | None:
    return torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else None


def _timed(device: torch.device, fn):
    _sync(device)
    started = time.perf_counter()
    value = fn()
    _sync(device)
    return value, time.perf_counter() - started


def _photo(size: int) -> Image.Image:
    """A synthetic 4:3 desk photo (wood, monitor, keyboard, mug), deterministic."""
    rng = np.random.default_rng(0)
    width, height = size * 4 // 3, size
    pixels = np.empty((height, width, 3), dtype=np.uint8)
    pixels[:] = (181, 136, 99)
    pixels[int(height * 0.1) : int(height * 0.45), int(width * 0.3) : int(width * 0.7)] = (20, 20, 25)
    pixels[int(height * 0.6) : int(height * 0.72), int(width * 0.3) : int(width * 0.65)] = (230, 230, 230)
    noise = rng.integers(-8, 8, pixels.shape)
    return Image.fromarray(np.clip(pixels.astype(int) + noise, 0, 255).astype(np.uint8))


def load_models(preset: str, device: torch.device, dtype: torch.dtype, model_dir: Path):
    if preset == "full":
        from gpu_worker import full_configs

        return (
            full_configs.build_sdxl_inpaint(dtype, device),
            full_configs.build_grounding_dino(dtype, device),
            full_configs.build_sam2_large(dtype, device),
            full_configs.build_realesrgan_x2(dtype, device),
        )
    registry = _tiny_registry(device, dtype, model_dir)
    return registry.get("inpaint"), registry.get("detector"), registry.get("segmenter"), registry.get("upscaler")


def _tiny_registry(device: torch.device, dtype: torch.dtype, model_dir: Path) -> ModelRegistry:
    config = WorkerConfig(
        redis_url="redis://unused",
        media_root=Path(tempfile.gettempdir()),
        s3_bucket=None,
        s3_endpoint_url=None,
        model_preset="tiny",
        model_dir=model_dir,
        device=str(device),
        dtype=str(dtype).removeprefix("torch."),
        workflow=WorkflowSettings.from_env("tiny"),
        planner=PlannerSettings(None, None, "", 1, 0),
    )
    return ModelRegistry(config)


def stage_timings(
    models, photo: Image.Image, *, work_pixels: int, steps: int, device: torch.device
) -> list[Measurement]:
    pipeline, detector, segmenter, upscaler = models
    results: list[Measurement] = []

    def record(name, fn):
        value, seconds = _timed(device, fn)
        results.append(Measurement(name=name, seconds=seconds))
        return value

    work, _ = record("normalise", lambda: normalise(photo, target_pixels=work_pixels))
    labels = DESK_LABELS + DESK_ITEMS
    found = record("detect", lambda: detect(detector, work, labels, box_threshold=0.3, max_detections=20))
    masks = record("segment", lambda: segment(segmenter, work, found))
    plan = record(
        "plan (local)",
        lambda: LocalPlanner().plan(image=work, detections=found, preferences=Preferences(), style=StyleHints()),
    )
    items = [m for d, m in zip(found, masks, strict=True) if d.label not in DESK_LABELS]
    mask = record("mask", lambda: build_mask(work.size, item_masks=items, desk_masks=[]))
    painted = record(
        f"inpaint ({steps} steps)",
        lambda: inpaint(
            pipeline,
            image=work,
            mask=mask.feathered,
            prompt=plan.prompt,
            negative_prompt=plan.negative_prompt,
            steps=steps,
            guidance=7.0,
            strength=0.99,
            seed=0,
        ),
    )
    result = record("composite", lambda: composite(work, painted, mask))
    record("locate", lambda: locate(detector, result, [i.label for i in plan.items], mask.repaint, threshold=0.3))
    record("upscale x2", lambda: upscale(upscaler, result, factor=2, tile=512))
    results.append(Measurement(name="total", seconds=sum(m.seconds for m in results)))
    results[-1].note = f"work size {work.width}x{work.height}, {len(found)} detections"
    return results


def inpaint_variants(
    pipeline, work: Image.Image, mask: Image.Image, *, steps: int, variants: list[str], device: torch.device
) -> list[Measurement]:
    original_unet = pipeline.unet
    out = []
    try:
        for variant in variants:
            out.append(_measure_variant(pipeline, original_unet, variant, work, mask, steps=steps, device=device))
    finally:
        pipeline.unet = original_unet.to(memory_format=torch.contiguous_format)
    return out


def _measure_variant(
    pipeline, unet, variant: str, work: Image.Image, mask: Image.Image, *, steps: int, device: torch.device
) -> Measurement:
    prompt, negative = "a desk lamp and a plant on a tidy desk", "blurry"
    pipeline.unet = unet
    if variant == "channels_last":
        pipeline.unet = unet.to(memory_format=torch.channels_last)
    if variant == "compile":
        if device.type != "cuda":
            return Measurement(name=variant, seconds=float("nan"), steps=steps, note="skipped: CUDA only")
        pipeline.unet = torch.compile(unet, mode="max-autotune-no-cudagraphs")
    step_times: list[float] = []

    def on_step(step: int, total: int) -> None:
        _sync(device)
        step_times.append(time.perf_counter())

    def run(n_steps: int, callback=None):
        if variant == "plain":  # the diffusers pipeline as its docs call it: our baseline
            return pipeline(
                prompt=prompt,
                negative_prompt=negative,
                image=work,
                mask_image=mask,
                width=work.width,
                height=work.height,
                num_inference_steps=n_steps,
                guidance_scale=7.0,
                strength=0.99,
                generator=torch.Generator().manual_seed(0),
            ).images[0]
        return inpaint(
            pipeline,
            image=work,
            mask=mask,
            prompt=prompt,
            negative_prompt=negative,
            steps=n_steps,
            guidance=7.0,
            strength=0.99,
            seed=0,
            on_step=callback,
        )

    _, warm_seconds = _timed(device, lambda: run(2))  # warm-up (and compilation) is not timed
    step_times.clear()
    _reset_peak(device)
    _, seconds = _timed(device, lambda: run(steps, callback=on_step))
    intervals = np.diff(step_times).tolist()
    return Measurement(
        name=variant,
        seconds=seconds,
        steps=steps,
        step_seconds=statistics.median(intervals) if intervals else seconds / steps,
        peak_vram_gib=_peak(device),
        note=f"compile + warm-up {warm_seconds:.1f}s" if variant == "compile" else "",
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gpu_worker.bench", description=__doc__.split("\n")[0])
    parser.add_argument("--preset", choices=("tiny", "full"), default="tiny")
    parser.add_argument("--size", type=int, default=None, help="working side in pixels (square area), e.g. 1024")
    parser.add_argument("--steps", default="20,30")
    parser.add_argument("--variants", default="plain,ours,channels_last,compile")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--dtype", default="auto", choices=("auto", "float32", "float16", "bfloat16"))
    parser.add_argument("--model-dir", default="var/models")
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)

    device = resolve_device(args.device)
    dtype = (
        (torch.float16 if device.type == "cuda" else torch.float32)
        if args.dtype == "auto"
        else getattr(torch, args.dtype)
    )
    size = args.size or (1024 if args.preset == "full" else 160)
    steps_list = [int(s) for s in args.steps.split(",")]
    variants = [v for v in args.variants.split(",") if v]
    unknown = set(variants) - set(VARIANTS)
    if unknown:
        parser.error(f"unknown variants: {', '.join(sorted(unknown))}")

    print(f"# OnTop GPU benchmark: preset={args.preset} size={size}² device={device} dtype={dtype}")
    print(
        f"# torch {torch.__version__}, {platform.processor() or platform.machine()}, threads={torch.get_num_threads()}"
    )
    if device.type == "cuda":
        print(f"# GPU: {torch.cuda.get_device_name()}")
    (models, build_seconds) = _timed(device, lambda: load_models(args.preset, device, dtype, Path(args.model_dir)))
    print(f"# models built/loaded in {build_seconds:.1f}s\n")

    photo = _photo(size)
    stages = stage_timings(models, photo, work_pixels=size * size, steps=steps_list[0], device=device)
    print(f"## Stages (one pass, {steps_list[0]} steps)\n\n| stage | seconds |\n| --- | ---: |")
    for m in stages:
        print(f"| {m.name} | {m.seconds:.3f} |")
    print(f"\n{stages[-1].note}\n")

    work, _ = normalise(photo, target_pixels=size * size)
    mask = Image.new("L", work.size, 0)
    mask.paste(255, (0, work.height // 2, work.width, work.height))
    report: dict = {
        "preset": args.preset,
        "size": size,
        "device": str(device),
        "dtype": str(dtype),
        "stages": [m.__dict__ for m in stages],
        "inpaint": {},
    }
    for steps in steps_list:
        rows = inpaint_variants(models[0], work, mask, steps=steps, variants=variants, device=device)
        baseline = next((r.seconds for r in rows if r.name == "plain"), None)
        print(f"## Inpaint {work.width}x{work.height}, {steps} steps\n")
        print("| variant | s/image | s/step | vs plain | peak VRAM GiB | note |")
        print("| --- | ---: | ---: | ---: | ---: | --- |")
        for r in rows:
            ratio = f"{r.seconds / baseline:.2f}x" if baseline and r.seconds == r.seconds else "-"
            vram = f"{r.peak_vram_gib:.2f}" if r.peak_vram_gib is not None else "-"
            step = f"{r.step_seconds:.3f}" if r.step_seconds is not None and r.seconds == r.seconds else "-"
            print(f"| {r.name} | {r.seconds:.3f} | {step} | {ratio} | {vram} | {r.note} |")
        print()
        report["inpaint"][steps] = [r.__dict__ for r in rows]
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"peak process RSS: {peak_rss:.2f} GiB")
    report["peak_rss_gib"] = peak_rss
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
