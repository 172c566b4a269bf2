"""Benchmark the registered workflows themselves, and the diffusion call variants, side by side in one run.

    python -m gpu_worker.bench                          # every workflow, tiny preset (CPU-friendly)
    python -m gpu_worker.bench --workflows picture_diary --repeat 5
    python -m gpu_worker.bench --preset full --size 1024 --variants plain,ours,channels_last,compile
    python -m gpu_worker.bench --json out.json          # also write the figures as JSON

Each workflow runs through `gpu_worker.jobs.execute`, exactly as a worker runs a job, on a
synthetic input (a 4:3 desk photo, a Korean diary entry) in a scratch storage directory. Runs are
interleaved across workflows and repeated; the tables show medians of the workflow's own stage
timings. `full` builds the real architectures (SDXL inpaint and text-to-image UNets/VAE/text
encoders, Grounding DINO base, SAM 2.1 large, RealESRGAN x2) with random weights: real speed and
memory, no download, noise for pictures. The variant tables compare our stage call with the plain
diffusers pipeline call measured in the same run, because these machines are noisy.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from gpu_worker.config import DiffusionSettings, OpenAISettings, WorkerConfig
from gpu_worker.contract import JobSpec
from gpu_worker.jobs import execute
from gpu_worker.progress import ProgressReporter
from gpu_worker.registry import ModelRegistry, model_role, resolve_device
from gpu_worker.runtime import Runtime
from gpu_worker.stages.inpaint import inpaint
from gpu_worker.stages.normalise import sdxl_bucket
from gpu_worker.stages.txt2img import txt2img
from gpu_worker.storage import LocalStorage
from gpu_worker.workflow import model_roles, registered_workflows, served_workflows

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


def build_runtime(
    preset: str,
    device: torch.device,
    dtype: torch.dtype,
    model_dir: Path,
    storage_dir: Path,
    *,
    size: int,
    steps: int,
    workflows: tuple[str, ...] = (),
) -> Runtime:
    """A worker's runtime for the benchmark: tiny models from the registry, or full-size random ones."""
    diffusion = replace(
        DiffusionSettings.from_env("tiny" if preset == "tiny" else "real"),
        work_pixels=size * size,
        steps=steps,
        fast_lora=None,
    )
    config = WorkerConfig(
        redis_url="redis://unused",
        media_root=storage_dir,
        s3_bucket=None,
        s3_endpoint_url=None,
        model_preset="tiny",
        model_dir=model_dir,
        device=str(device),
        dtype=str(dtype).removeprefix("torch."),
        workflows=workflows,
        diffusion=diffusion,
        openai=OpenAISettings(None, None, "", 1, 0),
    )
    registry = ModelRegistry(config)
    if preset == "full":  # only the roles of the workflows measured
        for role in model_roles(served_workflows(workflows)):
            registry.provide(role, model_role(role).build_full(dtype, device), source="full-size random weights")
    return Runtime(config=config, storage=LocalStorage(storage_dir), models=registry)


def sample_jobs(runtime: Runtime, size: int) -> dict[str, JobSpec]:
    """One representative job per served workflow, from the sample each workflow registered."""
    specs = {}
    for kind, registered in served_workflows(runtime.config.workflows).items():
        if registered.sample is None:
            print(f"# {kind}: no sample job registered, not measured")
            continue
        params, inputs = registered.sample(size)
        keys: dict[str, str | list[str]] = {}
        for name, data in inputs.items():
            if isinstance(data, list):  # a list input (a subject's photos)
                keys[name] = [f"bench/{kind}/{name}-{i}" for i in range(len(data))]
                for key, item in zip(keys[name], data, strict=True):
                    runtime.storage.write(key, item, "application/octet-stream")
            else:
                keys[name] = f"bench/{kind}/{name}"
                runtime.storage.write(keys[name], data, "application/octet-stream")
        specs[kind] = JobSpec(
            job_id=f"bench-{kind}",
            kind=kind,
            output_prefix=f"bench/{kind}/out/",
            inputs=keys,
            params=registered.contract.encode_params(params),
        )
    return specs


def workflow_timings(
    runtime: Runtime, specs: dict[str, JobSpec], *, repeat: int, device: torch.device
) -> dict[str, dict[str, float]]:
    """Median stage timings per workflow, runs interleaved (w1, w2, w1, w2, ...) after one warm-up each."""
    runs: dict[str, list[dict[str, float]]] = {kind: [] for kind in specs}
    peaks: dict[str, float] = {}
    for round_number in range(repeat + 1):
        for kind, spec in specs.items():
            _reset_peak(device)
            # Each run writes under its own prefix: a workflow that resumes from what it stored
            # (training) must start fresh every time.
            run_spec = replace(spec, output_prefix=f"{spec.output_prefix}{round_number}/")
            result, seconds = _timed(device, lambda spec=run_spec: execute(spec, ProgressReporter(), runtime))
            if result.error is not None:
                raise SystemExit(f"{kind} failed: {result.error.code}: {result.error.message}")
            if round_number == 0:
                continue  # warm-up: first loads and allocations are not what a warm worker pays
            runs[kind].append({**result.timings, "total": seconds})
            if (peak := _peak(device)) is not None:
                peaks[kind] = max(peaks.get(kind, 0.0), peak)
    medians = {}
    for kind, samples in runs.items():
        names = list(dict.fromkeys(name for sample in samples for name in sample))
        medians[kind] = {name: statistics.median(s.get(name, 0.0) for s in samples) for name in names}
        if kind in peaks:
            medians[kind]["peak_vram_gib"] = peaks[kind]
    return medians


def diffusion_variants(
    kind: str, pipeline, size: int, *, steps: int, variants: list[str], device: torch.device, repeat: int = 1
) -> list[Measurement]:
    """Our stage call against the plain diffusers call (and speed-up variants), on one pipeline:
    interleaved (plain, ours, ..., plain, ours, ...) and repeated, medians reported."""
    original_unet = pipeline.unet
    work = Image.new("RGB", sdxl_bucket(4, 3, size * size), (181, 136, 99))
    mask = Image.new("L", work.size, 0)
    mask.paste(255, (0, work.height // 2, work.width, work.height))
    runs: dict[str, list[Measurement]] = {variant: [] for variant in variants}
    try:
        for _ in range(repeat):
            for variant in variants:
                runs[variant].append(
                    _measure_variant(kind, pipeline, original_unet, variant, work, mask, steps=steps, device=device)
                )
    finally:
        pipeline.unet = original_unet.to(memory_format=torch.contiguous_format)
    return [_median(variant, samples, steps) for variant, samples in runs.items()]


def _median(variant: str, samples: list[Measurement], steps: int) -> Measurement:
    step_seconds = [s.step_seconds for s in samples if s.step_seconds is not None]
    vram = [s.peak_vram_gib for s in samples if s.peak_vram_gib is not None]
    return Measurement(
        name=variant,
        seconds=statistics.median(s.seconds for s in samples),
        steps=steps,
        step_seconds=statistics.median(step_seconds) if step_seconds else None,
        peak_vram_gib=max(vram) if vram else None,
        note=samples[0].note,
    )


def _measure_variant(
    kind: str, pipeline, unet, variant: str, work: Image.Image, mask: Image.Image, *, steps: int, device: torch.device
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

    size = {"width": work.width, "height": work.height}

    def run(n_steps: int, callback=None):
        if variant == "plain":  # the diffusers pipeline as its docs call it: our baseline
            extra = {"image": work, "mask_image": mask, "strength": 0.99} if kind == "inpaint" else {}
            return pipeline(
                prompt=prompt,
                negative_prompt=negative,
                num_inference_steps=n_steps,
                guidance_scale=7.0,
                generator=torch.Generator().manual_seed(0),
                **size,
                **extra,
            ).images[0]
        if kind == "inpaint":
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
        return txt2img(
            pipeline,
            prompt=prompt,
            negative_prompt=negative,
            steps=n_steps,
            guidance=7.0,
            seed=0,
            on_step=callback,
            **size,
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
    parser.add_argument("--workflows", default="", help="comma-separated kinds (default: every registered workflow)")
    parser.add_argument("--size", type=int, default=None, help="working side in pixels (square area), e.g. 1024")
    parser.add_argument("--steps", default="20,30", help="the first is the workflows' step count")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per workflow, interleaved (medians)")
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
    wanted = [w for w in args.workflows.split(",") if w] or list(registered_workflows())
    missing = set(wanted) - set(registered_workflows())
    if missing:
        parser.error(f"unknown workflows: {', '.join(sorted(missing))}")

    print(f"# OnTop GPU benchmark: preset={args.preset} size={size}² device={device} dtype={dtype}")
    print(
        f"# torch {torch.__version__}, {platform.processor() or platform.machine()}, threads={torch.get_num_threads()}"
    )
    if device.type == "cuda":
        print(f"# GPU: {torch.cuda.get_device_name()}")
    storage_dir = Path(tempfile.mkdtemp(prefix="ontop-bench-"))
    state, build_seconds = _timed(
        device,
        lambda: build_runtime(
            args.preset,
            device,
            dtype,
            Path(args.model_dir),
            storage_dir,
            size=size,
            steps=steps_list[0],
            workflows=tuple(wanted),
        ),
    )
    print(f"# models built in {build_seconds:.1f}s\n")

    specs = sample_jobs(state, size)
    timings = workflow_timings(state, specs, repeat=args.repeat, device=device)
    report: dict = {
        "preset": args.preset,
        "size": size,
        "device": str(device),
        "dtype": str(dtype),
        "repeat": args.repeat,
        "workflows": timings,
        "variants": {},
    }
    for kind, stages in timings.items():
        print(f"## {kind} ({steps_list[0]} steps, median of {args.repeat})\n\n| stage | seconds |\n| --- | ---: |")
        for name, seconds in stages.items():
            label = f"**{name}**" if name == "total" else name
            value = f"{seconds:.2f} GiB" if name == "peak_vram_gib" else f"{seconds:.3f}"
            print(f"| {label} | {value} |")
        print()

    pipelines = {"inpaint": "desk_makeover", "txt2img": "picture_diary"}
    for role, kind in pipelines.items():
        if kind not in specs:
            continue
        pipeline = state.models.get(role)
        state.loras(pipeline).activate(None)
        for steps in steps_list:
            rows = diffusion_variants(
                role, pipeline, size, steps=steps, variants=variants, device=device, repeat=args.repeat
            )
            baseline = next((r.seconds for r in rows if r.name == "plain"), None)
            width, height = sdxl_bucket(4, 3, size * size)
            print(f"## {role} {width}x{height}, {steps} steps (median of {args.repeat}, interleaved)\n")
            print("| variant | s/image | s/step | vs plain | peak VRAM GiB | note |")
            print("| --- | ---: | ---: | ---: | ---: | --- |")
            for r in rows:
                ratio = f"{r.seconds / baseline:.2f}x" if baseline and r.seconds == r.seconds else "-"
                vram = f"{r.peak_vram_gib:.2f}" if r.peak_vram_gib is not None else "-"
                step = f"{r.step_seconds:.3f}" if r.step_seconds is not None and r.seconds == r.seconds else "-"
                print(f"| {r.name} | {r.seconds:.3f} | {step} | {ratio} | {vram} | {r.note} |")
            print()
            report["variants"].setdefault(role, {})[steps] = [r.__dict__ for r in rows]
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"peak process RSS: {peak_rss:.2f} GiB")
    report["peak_rss_gib"] = peak_rss
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
