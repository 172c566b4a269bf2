"""Benchmark personal-model training: seconds per optimisation step and peak memory, variants
side by side in one run (interleaved, repeated, medians), with the projected time of a full run.

    python -m gpu_worker.bench_training                              # tiny SDXL on CPU (a smoke figure)
    python -m gpu_worker.bench_training --preset full --resolution 1024 \\
        --variants default,no_checkpointing,fp16 --steps 20 --repeat 3   # full-size SDXL, random weights

`full` builds SDXL base's real architecture (UNet 2.6 B parameters, both text encoders, VAE) with
random weights: real speed and memory, nothing downloaded. Each timed run builds a fresh
`PivotalTuner` (LoRA + new tokens) on the same pipeline, trains `--warmup` steps untimed, then
`--steps` timed steps, and closes the tuner (the pipeline is as before). Variants change one
training setting each; the default is what the worker would use on this device.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from gpu_worker.registry import resolve_device
from gpu_worker.training.pivotal import PivotalTuner, TrainingExample
from gpu_worker.training.settings import TrainingSettings

# Each variant is the device's default settings with one change.
VARIANTS: dict[str, dict] = {
    "default": {},
    "no_checkpointing": {"gradient_checkpointing": False},
    "checkpointing": {"gradient_checkpointing": True},
    "fp16": {"mixed_precision": "fp16"},
    "bf16": {"mixed_precision": "bf16"},
    "fp32": {"mixed_precision": "no"},
    "rank8": {"rank": 8},
    "rank16": {"rank": 16},
    "rank32": {"rank": 32},
    "batch2": {"batch_size": 2},
}
FULL_RUN_STEPS = 1000


@dataclass
class TrainingMeasurement:
    variant: str
    step_seconds: float
    peak_gib: float | None
    loss: float

    def projected_minutes(self, steps: int = FULL_RUN_STEPS) -> float:
        return self.step_seconds * steps / 60


def synthetic_examples(count: int, resolution: int) -> list[TrainingExample]:
    rng = np.random.default_rng(0)
    examples = []
    for _ in range(count):
        blocks = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
        image = Image.fromarray(blocks).resize((resolution, resolution), Image.Resampling.BILINEAR)
        examples.append(TrainingExample(image=image, caption="a photo of <s0><s1> dog"))
    return examples


def build_pipeline(preset: str, device: torch.device, dtype: torch.dtype):
    if preset == "full":
        from gpu_worker.full_configs import build_sdxl_txt2img

        return build_sdxl_txt2img(dtype, device)
    from diffusers import StableDiffusionXLPipeline

    from gpu_worker.tiny_models import _sdxl_components

    return StableDiffusionXLPipeline(**_sdxl_components(unet_in_channels=4)).to(device=device, dtype=dtype)


def measure(
    pipeline, settings: TrainingSettings, examples: list[TrainingExample], *, warmup: int, steps: int, device
) -> tuple[float, float | None, float]:
    """(median seconds per step, peak GiB or None on CPU, last loss) of one fresh tuner."""
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    tuner = PivotalTuner(
        pipeline,
        settings,
        examples,
        tokens=("<s0>", "<s1>"),
        initializer_word="dog",
        seed=0,
        total_steps=warmup + steps,
    )
    try:
        for _ in range(warmup):
            tuner.train_step()
        times, loss = [], 0.0
        for _ in range(steps):
            if device.type == "cuda":
                torch.cuda.synchronize()
            started = time.perf_counter()
            loss = tuner.train_step()
            if device.type == "cuda":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - started)
        peak = torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else None
    finally:
        tuner.close()
    return statistics.median(times), peak, loss


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gpu_worker.bench_training", description=__doc__.split("\n")[0])
    parser.add_argument("--preset", choices=("tiny", "full"), default="tiny")
    parser.add_argument("--resolution", type=int, default=None, help="training side in pixels (default 128 / 1024)")
    parser.add_argument("--variants", default="default", help=f"comma-separated: {', '.join(VARIANTS)}")
    parser.add_argument("--steps", type=int, default=10, help="timed steps per run")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first (allocator, kernels)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per variant, interleaved (medians)")
    parser.add_argument("--examples", type=int, default=10, help="training crops (5-20 photos make 5-40)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)

    device = resolve_device(args.device)
    cuda = device.type == "cuda"
    # Frozen weights in half precision on CUDA, as the worker loads them; fp32 on CPU.
    dtype = torch.float16 if cuda else torch.float32
    variants = [v for v in args.variants.split(",") if v]
    unknown = set(variants) - set(VARIANTS)
    if unknown:
        parser.error(f"unknown variants: {', '.join(sorted(unknown))}")
    base = TrainingSettings.from_env("tiny" if args.preset == "tiny" else "real", cuda=cuda)
    resolution = args.resolution or base.resolution
    base = replace(base, resolution=resolution)
    print(f"# OnTop training benchmark: preset={args.preset} {resolution}² device={device} frozen dtype={dtype}")
    machine = platform.processor() or platform.machine()
    print(f"# torch {torch.__version__}, {machine}, threads={torch.get_num_threads()}")
    if cuda:
        print(f"# GPU: {torch.cuda.get_device_name()}")
    started = time.perf_counter()
    pipeline = build_pipeline(args.preset, device, dtype)
    print(f"# pipeline built in {time.perf_counter() - started:.1f}s; {args.examples} examples, rank {base.rank}\n")
    examples = synthetic_examples(args.examples, resolution)

    runs: dict[str, list[tuple[float, float | None, float]]] = {v: [] for v in variants}
    for _ in range(args.repeat):
        for variant in variants:
            settings = replace(base, **VARIANTS[variant])
            runs[variant].append(
                measure(pipeline, settings, examples, warmup=args.warmup, steps=args.steps, device=device)
            )
    rows = [
        TrainingMeasurement(
            variant=v,
            step_seconds=statistics.median(r[0] for r in samples),
            peak_gib=max(r[1] for r in samples) if samples[0][1] is not None else None,
            loss=samples[-1][2],
        )
        for v, samples in runs.items()
    ]
    baseline = rows[0].step_seconds
    print(f"## training, {resolution}², batch {base.batch_size} (median of {args.repeat}, interleaved)\n")
    print(f"| variant | s/step | vs {rows[0].variant} | {FULL_RUN_STEPS} steps (min) | peak GiB |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for row in rows:
        peak = f"{row.peak_gib:.2f}" if row.peak_gib is not None else "-"
        print(
            f"| {row.variant} | {row.step_seconds:.3f} | {row.step_seconds / baseline:.2f}x "
            f"| {row.projected_minutes():.1f} | {peak} |"
        )
    if args.json:
        report = {
            "preset": args.preset,
            "resolution": resolution,
            "device": str(device),
            "repeat": args.repeat,
            "rows": [row.__dict__ for row in rows],
        }
        Path(args.json).write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
