"""The picture diary workflow on the GPU tier (tiny preset): typed result, progress, models, queues."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

from gpu_worker.config import WorkerConfig
from gpu_worker.contract import JobSpec, JobStatus, encode
from gpu_worker.contract.picture_diary import CONTRACT, DiaryParams, DiaryStage
from gpu_worker.jobs import execute
from gpu_worker.progress import ProgressReporter
from gpu_worker.registry import ModelRegistry
from gpu_worker.runtime import Runtime
from gpu_worker.stages.normalise import sdxl_bucket
from gpu_worker.storage import LocalStorage
from tests.conftest import BASE_DIR

ENTRY = "오늘 친구랑 공원에서 산책했다. 날씨가 맑고 따뜻해서 기분이 좋았다."


@pytest.fixture(scope="module")
def diary_runtime(tmp_path_factory) -> Runtime:
    """A worker's runtime that serves the picture diary only, with its own scratch storage."""
    media = tmp_path_factory.mktemp("media")
    config = replace(WorkerConfig.from_env(), media_root=media, workflows=("picture_diary",))
    return Runtime(config=config, storage=LocalStorage(media), models=ModelRegistry(config))


def _run(runtime: Runtime, job_id: str, **params):
    spec = JobSpec(
        job_id=job_id,
        kind="picture_diary",
        output_prefix=f"results/{job_id}/",
        params=encode(DiaryParams(**{"text": ENTRY, "seed": 11, **params})),
    )
    progress = ProgressReporter()
    return execute(spec, progress, runtime), progress


def _picture(runtime: Runtime, result) -> np.ndarray:
    return np.asarray(Image.open(runtime.config.media_root / result.output("result").key))


def test_a_diary_entry_becomes_a_picture_with_a_typed_result(diary_runtime):
    result, progress = _run(diary_runtime, "d1")
    assert result.status is JobStatus.SUCCEEDED, result.error
    data = CONTRACT.decode_result(result.data)
    width, height = sdxl_bucket(4, 3, diary_runtime.config.diffusion.work_pixels)
    assert (data.width, data.height) == (width * 2, height * 2), "the ×2 upscale of the 4:3 bucket"
    assert result.output("result").width == width * 2
    assert data.seed == 11
    assert data.writer == "local"
    assert data.writer_fallback_reason is None
    assert "park" in data.prompt
    assert set(result.timings) == {"write_prompt", "txt2img", "upscale", "save"}
    stages = list(dict.fromkeys(p.stage for p in progress.history))
    assert stages == [DiaryStage.WRITING, DiaryStage.PAINTING, DiaryStage.UPSCALING, DiaryStage.SAVING, "done"]
    steps = [(p.step, p.total_steps) for p in progress.history if p.stage == DiaryStage.PAINTING]
    total = diary_runtime.config.diffusion.steps
    assert steps == [(0, total)] + [(s, total) for s in range(1, total + 1)]
    assert [p.percent for p in progress.history] == sorted(p.percent for p in progress.history)


def test_a_diary_only_worker_loads_no_detector_or_segmenter(diary_runtime):
    _run(diary_runtime, "d2")
    assert diary_runtime.models.loaded() == {"txt2img", "upscaler"}
    desk, _ = (
        execute(
            JobSpec(job_id="desk", kind="desk_makeover", output_prefix="results/desk/", params={"seed": 1}),
            ProgressReporter(),
            diary_runtime,
        ),
        None,
    )
    assert desk.error.code == "unsupported_job"
    assert diary_runtime.models.loaded() == {"txt2img", "upscaler"}


def test_portrait_entries_paint_3_by_4_and_the_seed_decides_the_picture(diary_runtime):
    portrait, _ = _run(diary_runtime, "d3", orientation="portrait")
    width, height = sdxl_bucket(3, 4, diary_runtime.config.diffusion.work_pixels)
    assert (portrait.output("result").width, portrait.output("result").height) == (width * 2, height * 2)
    first, _ = _run(diary_runtime, "d4", seed=21)
    again, _ = _run(diary_runtime, "d5", seed=21)
    other, _ = _run(diary_runtime, "d6", seed=22)
    assert np.array_equal(_picture(diary_runtime, first), _picture(diary_runtime, again))
    assert not np.array_equal(_picture(diary_runtime, first), _picture(diary_runtime, other))


def test_an_empty_entry_fails_with_its_own_code(diary_runtime):
    result, _ = _run(diary_runtime, "d7", text="   \n ")
    assert (result.status, result.error.code) == (JobStatus.FAILED, "empty_entry")
    bad = JobSpec(
        job_id="d8", kind="picture_diary", output_prefix="results/d8/", params={"text": "hi", "seed": "eleven"}
    )
    assert execute(bad, ProgressReporter(), diary_runtime).error.code == "bad_params"


@pytest.mark.slow
def test_the_worker_process_serves_only_the_named_workflows_queue_and_models(redis_clean):
    done = subprocess.run(
        [sys.executable, "-m", "gpu_worker", "--burst"],
        cwd=BASE_DIR,
        env={**os.environ, "ONTOP_GPU_WORKFLOWS": "picture_diary"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "serving picture_diary from gpu-diary" in done.stderr
    assert "(models: txt2img,upscaler)" in done.stderr
    assert "loading detector" not in done.stderr
    assert "loading segmenter" not in done.stderr
    refused = subprocess.run(
        [sys.executable, "-m", "gpu_worker", "--burst"],
        cwd=BASE_DIR,
        env={**os.environ, "ONTOP_GPU_WORKFLOWS": "picture_diary", "ONTOP_GPU_QUEUES": "gpu"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert refused.returncode == 2
    assert "queue 'gpu' also carries desk_makeover, preview jobs" in refused.stderr
