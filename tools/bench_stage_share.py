"""How much of a desk makeover the stages around inpainting take: tiny preset, on this machine's
CPU, at the work size the environment sets (the real one: 1 MP). Fresh storage per run, so
perception is not served from the cache. Stages that run beside the main line (the planner, the
cache and mask writes) are counted in full, so the share is an upper bound.

    ONTOP_GPU_WORK_PIXELS=1048576 ONTOP_GPU_STEPS=1 ONTOP_GPU_UPSCALE_TILE=512 OMP_NUM_THREADS=1 \\
        PYTHONPATH=. .venv/bin/python tools/bench_stage_share.py [REPEAT] [THREADS]
"""

import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch

from gpu_worker.config import DiffusionSettings, OpenAISettings, WorkerConfig
from gpu_worker.contract import JobSpec
from gpu_worker.jobs import execute
from gpu_worker.progress import ProgressReporter
from gpu_worker.registry import ModelRegistry
from gpu_worker.runtime import Runtime
from gpu_worker.storage import LocalStorage
from gpu_worker.workflow import served_workflows

NOT_AROUND = ("inpaint", "plan", "total")


def main() -> None:
    repeat = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    torch.set_num_threads(int(sys.argv[2]) if len(sys.argv) > 2 else 1)
    scratch = Path(tempfile.mkdtemp())
    config = WorkerConfig(
        redis_url="redis://unused",
        media_root=scratch,
        s3_bucket=None,
        s3_endpoint_url=None,
        model_preset="tiny",
        model_dir=Path("var/models").resolve(),
        device="cpu",
        dtype="float32",
        workflows=("desk_makeover",),
        diffusion=replace(DiffusionSettings.from_env("tiny"), fast_lora=None),
        openai=OpenAISettings(None, None, "", 1, 0),
    )
    diffusion = config.diffusion
    print(f"work pixels {diffusion.work_pixels}, steps {diffusion.steps}, upscale x{diffusion.upscale}")
    runtime = Runtime(config=config, storage=LocalStorage(scratch), models=ModelRegistry(config))
    registered = served_workflows(("desk_makeover",))["desk_makeover"]
    params, inputs = registered.sample(1024)  # a 1365x1024 photo
    runtime.models.warm_up(registered.models)
    runs = []
    for index in range(1, repeat + 1):
        runtime.storage = LocalStorage(scratch / str(index))
        runtime.storage.write("in/photo", inputs["photo"], "image/jpeg")
        spec = JobSpec(
            job_id=f"share{index}",
            kind="desk_makeover",
            output_prefix=f"out/{index}/",
            inputs={"photo": "in/photo"},
            params=registered.contract.encode_params(replace(params, seed=index)),
        )
        started = time.perf_counter()
        result = execute(spec, ProgressReporter(), runtime)
        total = time.perf_counter() - started
        assert result.error is None, result.error
        runs.append({**result.timings, "total": total})
        print(index, {name: round(seconds, 2) for name, seconds in runs[-1].items()}, flush=True)
    names = list(dict.fromkeys(name for run in runs for name in run))
    median = {name: statistics.median(run.get(name, 0.0) for run in runs) for name in names}
    for name in names:
        print(f"{name:18s} {median[name]:8.3f} s  {100 * median[name] / median['total']:5.1f} %")
    around = sum(seconds for name, seconds in median.items() if name not in NOT_AROUND)
    print(f"around inpainting: {around:.3f} s = {100 * around / median['total']:.1f} % of the job")


if __name__ == "__main__":
    main()
