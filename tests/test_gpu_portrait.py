"""Portraits and the one-photo studio profile on the GPU tier (tiny preset): the whole chain of
passes, tone, schedulers, and above all that one person's model never reaches another's picture."""

from __future__ import annotations

import io
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

from gpu_worker.config import WorkerConfig
from gpu_worker.contract import JobSpec, JobStatus, LoraSpec, encode
from gpu_worker.contract.one_photo_profile import OnePhotoParams, OnePhotoResult
from gpu_worker.contract.portrait import (
    CONTRACT,
    TONE_WORDS,
    ConceptSpec,
    PortraitParams,
    PortraitResult,
    PortraitStage,
    PoseSpec,
)
from gpu_worker.contract.tone import tone_decide
from gpu_worker.jobs import execute
from gpu_worker.progress import ProgressReporter
from gpu_worker.registry import ModelRegistry
from gpu_worker.runtime import Runtime
from gpu_worker.storage import LocalStorage
from gpu_worker.workflows.one_photo_profile.workflow import head_and_shoulders
from tests.personal_models import personal_model_make

# Each test runs whole portrait jobs, several on workers of their own (the isolation tests need
# fresh ones): the slow tier.
pytestmark = pytest.mark.slow

FRONT = [
    [0.5, 0.3, 1],
    [0.5, 0.45, 1],
    [0.35, 0.45, 1],
    [0.3, 0.7, 1],
    [0.3, 0.9, 1],
    [0.65, 0.45, 1],
    [0.7, 0.7, 1],
    [0.7, 0.9, 1],
    [0.4, 0.95, 1],
    [0, 0, 0],
    [0, 0, 0],
    [0.6, 0.95, 1],
    [0, 0, 0],
    [0, 0, 0],
    [0.47, 0.27, 1],
    [0.53, 0.27, 1],
    [0.43, 0.29, 1],
    [0.57, 0.29, 1],
]
CONCEPT = ConceptSpec(
    slug="studio-headshot",
    prompt_template="studio headshot photo of {subject}, grey backdrop",
    negative_prompt="blurry",
    steps=30,
    guidance=6.0,
    scheduler="euler",
    filter_strength=0.3,
)


def _runtime(media, **changes) -> Runtime:
    config = replace(WorkerConfig.from_env(), media_root=media, **changes)
    return Runtime(config=config, storage=LocalStorage(media), models=ModelRegistry(config))


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="module")
def people(media):
    """Two people's real (tiny) personal models in storage, trained on the worker's own base."""
    probe = _runtime(media)
    base_model = probe.models.identifier("txt2img")
    source = probe.models.source("txt2img")
    storage = LocalStorage(media)
    return {
        name: personal_model_make(
            storage=storage,
            tiny_txt2img=source,
            base_model=base_model,
            key_prefix=f"studio/models/{name}/",
            colour=colour,
            seed=seed,
        )
        for name, colour, seed in (("ana", (220, 40, 40), 1), ("bo", (30, 60, 220), 2))
    }


def _run(runtime: Runtime, job_id: str, params: PortraitParams):
    spec = JobSpec(
        job_id=job_id,
        kind="portrait",
        output_prefix=f"results/{job_id}/",
        params=CONTRACT.encode_params(params),
    )
    progress = ProgressReporter()
    return execute(spec, progress, runtime), progress


def _params(model, **changes) -> PortraitParams:
    return PortraitParams(**{"subject_kind": "person", "model": model, "concept": CONCEPT, "seed": 7, **changes})


def _picture(runtime: Runtime, result) -> np.ndarray:
    return np.asarray(Image.open(runtime.config.media_root / result.output("result").key))


def test_a_person_portrait_runs_every_pass_with_the_pose_and_the_tone(media, people):
    runtime = _runtime(media)
    pose = PoseSpec(slug="front", keypoints=FRONT, aspect=0.8)
    result, progress = _run(runtime, "p-warm", _params(people["ana"], tone="warm", pose=pose))
    assert result.status is JobStatus.SUCCEEDED, result.error
    data = CONTRACT.decode_result(result.data)
    assert isinstance(data, PortraitResult)
    assert data.stages == ["pose", "paint", "detail_face", "filter", "detail_face", "grade", "upscale"]
    assert data.scheduler == "dpmpp_sde_karras"  # warm's, not the concept's euler
    assert data.prompt == f"studio headshot photo of <s0><s1> person, grey backdrop, {TONE_WORDS['warm']}"
    assert data.writer == "template"
    assert data.steps == 3  # the tiny preset's cap, below the concept's 30
    picture = _picture(runtime, result)
    # The tiny preset's 4:5 bucket is 128 x 192 (its area is too small for a closer one), upscaled x2.
    assert picture.shape == (data.height, data.width, 3) == (384, 256, 3)
    stages = [p.stage for p in progress.history]
    assert stages[0] == PortraitStage.WRITING
    assert stages[-1] == PortraitStage.DONE
    percents = [p.percent for p in progress.history]
    assert percents == sorted(percents)
    # The pipeline's own scheduler is back for the next job.
    assert type(runtime.models.get("txt2img").scheduler).__name__ == "EulerDiscreteScheduler"


def test_neutral_tone_skips_the_grade_and_keeps_the_concept_scheduler(media, people):
    runtime = _runtime(media)
    result, _ = _run(runtime, "p-neutral", _params(people["ana"], tone="neutral"))
    data = CONTRACT.decode_result(result.data)
    assert data.stages == ["paint", "detail_face", "filter", "detail_face", "upscale"]
    assert data.scheduler == "euler"
    assert data.prompt == "studio headshot photo of <s0><s1> person, grey backdrop"


def test_one_persons_model_never_reaches_anothers_picture(media, people):
    """Bo's picture is the same, bit for bit, whether Ana's job ran on the worker before or not;
    and Ana's model really changes a picture (else the comparison would prove nothing)."""
    fresh = _runtime(media)
    alone, _ = _run(fresh, "bo-alone", _params(people["bo"], tone="neutral"))
    shared = _runtime(media)
    ana, _ = _run(shared, "ana-first", _params(people["ana"], tone="neutral"))
    after, _ = _run(shared, "bo-after", _params(people["bo"], tone="neutral"))
    assert np.array_equal(_picture(fresh, alone), _picture(shared, after))
    assert not np.array_equal(_picture(shared, ana), _picture(shared, after))
    # Back to Ana on the same worker (her adapter still loaded): her picture again, bit for bit.
    again, _ = _run(shared, "ana-again", _params(people["ana"], tone="neutral"))
    assert np.array_equal(_picture(shared, ana), _picture(shared, again))


def test_a_job_without_a_personal_model_gets_nobodys_tokens(media, people):
    """After a portrait, a job without a personal model finds the tokens' rows blank in both text
    encoders: a diary prompt that says "<s0><s1>" paints the same picture whether Ana's or Bo's job
    ran on the worker before it."""
    from gpu_worker.contract.picture_diary import DiaryParams

    def diary(runtime: Runtime, job_id: str):
        spec = JobSpec(
            job_id=job_id,
            kind="picture_diary",
            output_prefix=f"results/{job_id}/",
            params=encode(DiaryParams(text="<s0><s1> person in the park", seed=3)),
        )
        result = execute(spec, ProgressReporter(), runtime)
        assert result.status is JobStatus.SUCCEEDED, result.error
        return _picture(runtime, result)

    after_ana, after_bo = _runtime(media), _runtime(media)
    _run(after_ana, "ana-before-diary", _params(people["ana"], tone="neutral"))
    _run(after_bo, "bo-before-diary", _params(people["bo"], tone="neutral"))
    assert np.array_equal(diary(after_ana, "diary-after-ana"), diary(after_bo, "diary-after-bo"))
    pipeline = after_ana.models.get("txt2img")
    for tokenizer, encoder in (
        (pipeline.tokenizer, pipeline.text_encoder),
        (pipeline.tokenizer_2, pipeline.text_encoder_2),
    ):
        ids = tokenizer.convert_tokens_to_ids(["<s0>", "<s1>"])
        assert float(encoder.get_input_embeddings().weight[ids].detach().abs().sum()) == 0.0


def test_least_recently_used_people_are_evicted_and_come_back_the_same(media, people, tmp_path):
    runtime = _runtime(media, diffusion=replace(WorkerConfig.from_env().diffusion, max_adapters=1))
    first, _ = _run(runtime, "ana-1", _params(people["ana"], tone="neutral"))
    _run(runtime, "bo-1", _params(people["bo"], tone="neutral"))
    manager = runtime.loras(runtime.models.get("txt2img"))
    assert manager.loaded == {f"person_{people['bo'].lora.sha256[:16]}"}
    back, _ = _run(runtime, "ana-2", _params(people["ana"], tone="neutral"))
    assert np.array_equal(_picture(runtime, first), _picture(runtime, back))


def test_the_bound_holds_styles_and_people_together_and_never_evicts_the_jobs_own(media, people):
    """Two adapters at most: a style and a person active together, then the next person with the same
    style evicts the previous person (least recently used), never the style the job needs."""
    import hashlib

    from gpu_worker.tiny_models import build_style_lora

    runtime = _runtime(media, diffusion=replace(WorkerConfig.from_env().diffusion, max_adapters=2))
    path = build_style_lora(runtime.models.source("txt2img"), media / "style-lru.safetensors", seed=8)
    runtime.storage.write("styles/lru/style.safetensors", path.read_bytes(), "application/octet-stream")
    style = LoraSpec(key="styles/lru/style.safetensors", sha256=hashlib.sha256(path.read_bytes()).hexdigest())
    styled = replace(CONCEPT, style_lora=style)
    ana, bo = people["ana"], people["bo"]
    first, _ = _run(runtime, "lru-ana", _params(ana, tone="neutral", concept=styled))
    assert first.status is JobStatus.SUCCEEDED, first.error
    manager = runtime.loras(runtime.models.get("txt2img"))
    style_name, ana_name, bo_name = (f"style_{style.sha256[:16]}", *(f"person_{p.lora.sha256[:16]}" for p in (ana, bo)))
    assert manager.loaded == {style_name, ana_name}
    second, _ = _run(runtime, "lru-bo", _params(bo, tone="neutral", concept=styled))
    assert second.status is JobStatus.SUCCEEDED, second.error
    assert manager.loaded == {style_name, bo_name}
    # Bo's styled picture is what a fresh worker paints for him: Ana left nothing behind.
    fresh, _ = _run(_runtime(media), "lru-bo-fresh", _params(bo, tone="neutral", concept=styled))
    assert np.array_equal(_picture(runtime, second), _picture(runtime, fresh))


def test_a_model_for_another_base_or_altered_files_fail_with_their_codes(media, people):
    runtime = _runtime(media)
    ana = people["ana"]
    # The base the web recorded is checked first, before any file is read.
    other_base = replace(ana, base_model="real:stabilityai/stable-diffusion-xl-base-1.0")
    result, _ = _run(runtime, "spec-base", _params(other_base, tone="neutral"))
    assert (result.status, result.error.code) == (JobStatus.FAILED, "model_mismatch")
    bad_hash = replace(ana, lora=LoraSpec(key=ana.lora.key, sha256="0" * 64))
    result, _ = _run(runtime, "bad-hash", _params(bad_hash, tone="neutral"))
    assert (result.status, result.error.code) == (JobStatus.FAILED, "model_invalid")
    # On a worker that has not loaded Ana yet (a loaded model is content-addressed: its hash is its name).
    missing = replace(ana, embeddings_key="studio/models/nobody/embeddings.safetensors")
    result, _ = _run(_runtime(media), "missing", _params(missing, tone="neutral"))
    assert (result.status, result.error.code) == (JobStatus.FAILED, "model_invalid")


def test_a_model_trained_on_another_base_is_refused(media, people, tmp_path):
    storage = LocalStorage(media)
    probe = _runtime(media)
    stranger = personal_model_make(
        storage=storage,
        tiny_txt2img=probe.models.source("txt2img"),
        base_model="real:some/other-sdxl",
        key_prefix="studio/models/stranger/",
        colour=(10, 200, 10),
        seed=3,
    )
    # Even when the web's record claims this worker's base, the files' own metadata is checked.
    claimed = replace(stranger, base_model=probe.models.identifier("txt2img"))
    result, _ = _run(probe, "stranger", _params(claimed, tone="neutral"))
    assert (result.status, result.error.code) == (JobStatus.FAILED, "model_mismatch")
    assert "real:some/other-sdxl" in result.error.message


def test_a_pets_portrait_follows_the_owners_words(media, people):
    runtime = _runtime(media)
    dog = replace(people["bo"], class_word="dog")
    concept = replace(CONCEPT, slug="pet-birthday", prompt_template="{subject} at a birthday party, confetti")
    params = PortraitParams(
        subject_kind="dog", model=dog, concept=concept, seed=4, tone="neutral", instruction="르네상스 초상화처럼"
    )
    result, _ = _run(runtime, "pet", params)
    assert result.status is JobStatus.SUCCEEDED, result.error
    data = CONTRACT.decode_result(result.data)
    assert data.writer == "local"
    assert data.prompt.count("<s0><s1> dog") == 1
    assert "Renaissance" in data.prompt
    assert data.stages == ["paint", "filter", "upscale"]  # no pose, no face fix for a pet
    assert data.faces_fixed == 0


# ---- the one-photo studio profile ------------------------------------------------------------


def test_the_head_and_shoulders_frame_has_the_painting_shape_around_the_face_and_inside_the_photo():
    # 3.2 face widths wide (640), 4:5, the face 12 % of the height below the top edge.
    assert head_and_shoulders((1000, 1500), (400, 300, 600, 550)) == (180, 204, 820, 1004)
    # The real preset's bucket (896 x 1152): the window has its shape, so nothing is stretched.
    x0, y0, x1, y1 = head_and_shoulders((1000, 1500), (400, 300, 600, 550), aspect=896 / 1152)
    assert ((x1 - x0), round((x1 - x0) / (y1 - y0), 3)) == (640, round(896 / 1152, 3))
    # A face near the edge: the frame is shifted in, never out of the photo.
    x0, y0, x1, y1 = head_and_shoulders((1000, 1500), (0, 0, 200, 250))
    assert (x0, y0) == (0, 0)
    assert (x1 - x0) * 5 == (y1 - y0) * 4
    # A small photo: the frame shrinks to fit.
    assert head_and_shoulders((400, 300), (150, 50, 250, 150)) == (80, 0, 320, 300)


def _photo() -> bytes:
    rng = np.random.default_rng(5)
    pixels = rng.integers(60, 200, size=(320, 256, 3), dtype=np.uint8)
    pixels[40:140, 90:170] = (224, 172, 140)  # a face-coloured patch
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.mark.parametrize("tone", ["auto", "cool"])
def test_a_one_photo_profile_is_a_graded_studio_portrait(media, tone):
    from gpu_worker.contract.one_photo_profile import CONTRACT as ONE_PHOTO

    runtime = _runtime(media)
    storage = LocalStorage(media)
    storage.write(f"uploads/one-{tone}.png", _photo(), "image/png")
    spec = JobSpec(
        job_id=f"one-{tone}",
        kind="one_photo_profile",
        output_prefix=f"results/one-{tone}/",
        inputs={"photo": f"uploads/one-{tone}.png"},
        params=ONE_PHOTO.encode_params(OnePhotoParams(seed=1, tone=tone, background="sky_blue")),
    )
    result = execute(spec, ProgressReporter(), runtime)
    assert result.status is JobStatus.SUCCEEDED, result.error
    data = ONE_PHOTO.decode_result(result.data)
    assert isinstance(data, OnePhotoResult)
    assert data.tone_requested == tone
    if tone == "cool":
        assert (data.tone, data.tone_confidence, data.scheduler) == ("cool", 1.0, "dpmpp_2m_karras")
    else:
        decided = tone_decide([data.skin] if data.skin else [])
        assert (data.tone, data.tone_confidence) == (decided.tone, round(decided.confidence, 3))
    assert "plain soft sky blue studio backdrop" in data.prompt
    picture = np.asarray(Image.open(media / result.output("result").key))
    assert picture.shape == (data.height, data.width, 3) == (384, 256, 3)
