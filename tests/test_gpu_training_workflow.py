"""The subject_training workflow as a worker runs it (`gpu_worker.jobs.execute`, tiny models, CPU):
photos → crops → pivotal tuning → the personal model's files, with checkpoints, previews, progress
(step, loss, ETA) and a resume from the last checkpoint that ends where an uninterrupted run ends."""

from __future__ import annotations

import io
from dataclasses import replace

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load as load_safetensors

from gpu_worker.config import WorkerConfig
from gpu_worker.contract import JobSpec, JobStatus, encode
from gpu_worker.contract.subject_training import CONTRACT, TrainingParams, TrainingStage
from gpu_worker.jobs import execute
from gpu_worker.progress import ProgressReporter
from gpu_worker.registry import ModelRegistry
from gpu_worker.runtime import Runtime
from gpu_worker.storage import LocalStorage
from gpu_worker.training.adapter_files import BaseModelMismatch, personal_model_load, personal_model_unload

STEPS, EVERY = 4, 2


@pytest.fixture(scope="module")
def training_runtime(tmp_path_factory) -> Runtime:
    media = tmp_path_factory.mktemp("media")
    config = replace(WorkerConfig.from_env(), media_root=media, workflows=("subject_training",))
    return Runtime(config=config, storage=LocalStorage(media), models=ModelRegistry(config))


def _photos(runtime: Runtime, count: int, prefix: str) -> list[str]:
    keys = []
    for seed in range(count):
        pixels = np.random.default_rng(seed).integers(0, 256, (32, 32, 3), dtype=np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(pixels).resize((256, 256), Image.Resampling.NEAREST).save(buffer, format="JPEG")
        keys.append(f"uploads/{prefix}/{seed}.jpg")
        runtime.storage.write(keys[-1], buffer.getvalue(), "image/jpeg")
    return keys


def _spec(runtime: Runtime, job_id: str, photos: int = 5) -> JobSpec:
    return JobSpec(
        job_id=job_id,
        kind=CONTRACT.kind,
        output_prefix=f"results/{job_id}/",
        inputs={"photos": _photos(runtime, photos, job_id)},
        params=encode(TrainingParams(subject_kind="dog", seed=5, steps=STEPS, checkpoint_every=EVERY)),
    )


def _lora(runtime: Runtime, result) -> dict[str, torch.Tensor]:
    return load_safetensors(runtime.storage.read(result.data["lora_key"]))


def test_photos_become_a_personal_model_with_previews_and_live_progress(training_runtime):
    runtime = training_runtime
    progress = ProgressReporter()
    result = execute(_spec(runtime, "fresh"), progress, runtime)
    assert result.status is JobStatus.SUCCEEDED, result.error
    typed = CONTRACT.decode_result(result.data)
    assert (typed.steps, typed.resumed_from_step, typed.photos_used, typed.crops) == (STEPS, 0, 5, 5)
    assert (typed.tokens, typed.class_word, typed.base_model) == (["<s0>", "<s1>"], "dog", "tiny:txt2img:seed1234")
    assert typed.preview_steps == [2, 4]
    assert typed.previews == ["results/fresh/previews/step-00002.png", "results/fresh/previews/step-00004.png"]
    assert len(typed.losses) == 2
    assert typed.final_loss == typed.losses[-1]
    assert [o.role for o in result.outputs] == ["preview"]
    with Image.open(io.BytesIO(runtime.storage.read(typed.previews[-1]))) as preview:
        assert preview.size == (128, 128)
        assert preview.info["DigitalSourceType"].endswith("trainedAlgorithmicMedia")

    training = [p for p in progress.history if p.stage == TrainingStage.TRAINING]
    assert [p.step for p in training] == [1, 2, 3, 4]
    assert all(p.total_steps == STEPS and p.loss is not None and p.eta_seconds is not None for p in training)
    assert training[-1].eta_seconds == 0.0
    assert [p.preview_key for p in training] == ["", typed.previews[0], typed.previews[0], typed.previews[1]]
    stages = list(dict.fromkeys(p.stage for p in progress.history))
    assert stages == ["preparing", "training", "saving", "done"]

    # The files are what diffusers loads, and only on the base they were trained on.
    pipeline = runtime.models.get("trainer")
    lora, embeddings = (runtime.storage.read(k) for k in (typed.lora_key, typed.embeddings_key))
    with pytest.raises(BaseModelMismatch):
        personal_model_load(pipeline, lora=lora, embeddings=embeddings, base_model="real:other", adapter_name="me")
    assert personal_model_load(
        pipeline, lora=lora, embeddings=embeddings, base_model=typed.base_model, adapter_name="me"
    ) == ("<s0>", "<s1>")
    personal_model_unload(pipeline, "me", ("<s0>", "<s1>"))


def test_a_resumed_run_ends_where_an_uninterrupted_one_ends(training_runtime):
    runtime = training_runtime
    straight = execute(_spec(runtime, "straight"), ProgressReporter(), runtime)

    spec = _spec(runtime, "interrupted")
    stop_after_checkpoint = ProgressReporter(
        cancel_requested=lambda: any(p.step >= EVERY for p in stop_after_checkpoint.history)
    )
    first = execute(spec, stop_after_checkpoint, runtime)
    assert (first.status, first.error.code) == (JobStatus.FAILED, "cancelled")
    resumed = execute(spec, ProgressReporter(), runtime)
    assert resumed.status is JobStatus.SUCCEEDED, resumed.error
    assert resumed.data["resumed_from_step"] == EVERY
    assert resumed.data["preview_steps"] == [2, 4]
    expected, actual = _lora(runtime, straight), _lora(runtime, resumed)
    assert sorted(actual) == sorted(expected)
    assert all(torch.allclose(actual[k].float(), expected[k].float(), atol=1e-3) for k in expected)
    assert resumed.data["losses"][0] == straight.data["losses"][0]


def test_too_few_usable_photos_fail_with_their_own_code(training_runtime):
    result = execute(_spec(training_runtime, "few", photos=4), ProgressReporter(), training_runtime)
    assert (result.status, result.error.code) == (JobStatus.FAILED, "too_few_photos")
    assert "at least 5" in result.error.message
