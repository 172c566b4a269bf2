"""Profile studio training: photos → subject crops → pivotal tuning (UNet LoRA + new tokens) →
the personal model's two safetensors files.

Stages (the contract's): preparing (detect, segment, crop, caption), training (progress each
step with loss and ETA; a checkpoint and a preview picture every `checkpoint_every` steps),
saving. A retry of the same job resumes from the newest checkpoint (see checkpoints.py).
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import math
import time
from dataclasses import dataclass

from gpu_worker.contract.subject_training import (
    CLASS_WORDS,
    CONTRACT,
    MIN_PHOTOS,
    PHOTOS_INPUT,
    TOKENS,
    TrainingError,
    TrainingParams,
    TrainingResult,
    TrainingStage,
    subject_phrase,
)
from gpu_worker.errors import BadImage, WorkflowError
from gpu_worker.images import decode_rgb
from gpu_worker.stages.subject import prepare_subject_crops
from gpu_worker.training.pivotal import STATE_FORMAT, PivotalTuner, TrainingExample
from gpu_worker.training.settings import TrainingSettings
from gpu_worker.workflow import WorkflowContext, ai_generated_pnginfo, workflow
from gpu_worker.workflows.subject_photo_check.settings import SubjectSettings
from gpu_worker.workflows.subject_training.checkpoints import (
    Manifest,
    checkpoint_discard,
    checkpoint_save,
    manifest_load,
    state_key,
)

logger = logging.getLogger(__name__)

PREPARE_END, TRAIN_END = 8.0, 95.0
# The checkpoint preview: the same prompt and seed every time, so the pictures show the model
# learning, not the noise changing.
PREVIEW_SEED = 1234
LOSS_SMOOTHING = 0.9  # the loss people see is an exponential moving average: one step is noisy


class TooFewPhotos(WorkflowError):
    code = TrainingError.TOO_FEW_PHOTOS


class TrainingDiverged(WorkflowError):
    code = TrainingError.DIVERGED


@dataclass(frozen=True)
class StudioTrainingSettings:
    training: TrainingSettings
    subject: SubjectSettings

    @classmethod
    def from_env(cls, preset: str) -> StudioTrainingSettings:
        return cls(training=TrainingSettings.from_env(preset), subject=SubjectSettings.from_env(preset))


def sample(size: int) -> tuple[TrainingParams, dict[str, bytes | list[bytes]]]:
    """The benchmark's job: six distinct textured photos of a 'dog', four steps, two checkpoints."""
    import numpy as np
    from PIL import Image

    photos = []
    for seed in range(6):
        pixels = np.random.default_rng(seed).integers(0, 256, (size // 8, size // 8, 3), dtype=np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(pixels).resize((size, size), Image.Resampling.NEAREST).save(buffer, format="JPEG")
        photos.append(buffer.getvalue())
    return TrainingParams(subject_kind="dog", seed=0, steps=4, checkpoint_every=2), {PHOTOS_INPUT: photos}


@workflow(
    CONTRACT, models=("trainer", "detector", "segmenter"), settings=StudioTrainingSettings.from_env, sample=sample
)
def run(ctx: WorkflowContext, params: TrainingParams) -> TrainingResult:
    settings: StudioTrainingSettings = ctx.settings
    training = settings.training
    steps = params.steps or training.steps
    every = params.checkpoint_every or training.checkpoint_every
    prefix = ctx.spec.output_prefix
    phrase = subject_phrase(params.subject_kind)
    base_model = ctx.models.identifier("trainer")

    ctx.progress.report(TrainingStage.PREPARING, 1)
    with ctx.timed("prepare"):
        examples, photos_used = _examples(ctx, params, phrase, settings)
    if photos_used < MIN_PHOTOS:
        raise TooFewPhotos(
            f"Only {photos_used} of the photos show the {CLASS_WORDS[params.subject_kind]} clearly; "
            f"training needs at least {MIN_PHOTOS}."
        )
    ctx.progress.report(TrainingStage.PREPARING, PREPARE_END)

    pipeline = ctx.models.get("trainer")
    fingerprint = _fingerprint(ctx, params, training, steps, examples)

    def new_tuner() -> PivotalTuner:
        return PivotalTuner(
            pipeline,
            training,
            examples,
            tokens=TOKENS,
            initializer_word=CLASS_WORDS[params.subject_kind],
            seed=params.seed,
            total_steps=steps,
        )

    with ctx.models.exclusive(pipeline):
        tuner = new_tuner()
        try:
            manifest = _resume(ctx, tuner, fingerprint, photos_used, len(examples))
            if manifest is None:  # the checkpoint does not fit this run: start again, cleanly
                tuner.close()
                tuner = new_tuner()
                manifest = Manifest(
                    step=0, state_key="", fingerprint=fingerprint, photos_used=photos_used, crops=len(examples)
                )
            resumed_from = manifest.step
            with ctx.timed("train"):
                _train(ctx, tuner, manifest, steps=steps, every=every, phrase=phrase, settings=training)
            ctx.progress.report(TrainingStage.SAVING, TRAIN_END + 1)
            with ctx.timed("save"):
                lora, embeddings = tuner.adapter_files(base_model=base_model)
        finally:
            tuner.close()
        lora_key, embeddings_key = f"{prefix}personal-lora.safetensors", f"{prefix}personal-embeddings.safetensors"
        ctx.storage.write(lora_key, lora, "application/octet-stream")
        ctx.storage.write(embeddings_key, embeddings, "application/octet-stream")
        # The model is saved: the resumable state (optimiser moments, ~3x the LoRA) is not needed.
        checkpoint_discard(ctx.storage, prefix)
    if manifest.previews:
        ctx.outputs.append(_preview_output(ctx, manifest.previews[-1]))
    ctx.progress.report(TrainingStage.DONE, 100)
    return TrainingResult(
        lora_key=lora_key,
        lora_sha256=hashlib.sha256(lora).hexdigest(),
        embeddings_key=embeddings_key,
        embeddings_sha256=hashlib.sha256(embeddings).hexdigest(),
        tokens=list(TOKENS),
        class_word=CLASS_WORDS[params.subject_kind],
        base_model=base_model,
        rank=training.rank,
        steps=tuner.step,
        final_loss=round(manifest.losses[-1], 6) if manifest.losses else 0.0,
        losses=[round(v, 6) for v in manifest.losses],
        previews=list(manifest.previews),
        preview_steps=list(manifest.preview_steps),
        resumed_from_step=resumed_from,
        photos_used=photos_used,
        crops=len(examples),
        seconds=round(manifest.seconds, 3),
    )


def _examples(ctx: WorkflowContext, params: TrainingParams, phrase: str, settings: StudioTrainingSettings):
    keys = ctx.spec.inputs.get(PHOTOS_INPUT, [])
    keys = [keys] if isinstance(keys, str) else keys
    images = []
    for key in keys:
        try:
            images.append(decode_rgb(ctx.storage.read(key)))
        except BadImage:
            logger.warning("job %s: photo %s is unreadable; skipped", ctx.job_id, key)
    crops, used = prepare_subject_crops(
        ctx.models.get("detector"),
        ctx.models.get("segmenter"),
        images,
        subject_kind=params.subject_kind,
        caption_phrase=phrase,
        size=settings.training.resolution,
        settings=settings.subject,
    )
    return [TrainingExample(image=c.image, caption=c.caption) for c in crops], used


def _fingerprint(
    ctx: WorkflowContext, params: TrainingParams, training: TrainingSettings, steps: int, examples: list
) -> str:
    """What a checkpoint must have been made with to be resumed: the same photos and crops, the same
    run length and LoRA shape. A deploy that changed any of these starts the training again."""
    keys = ctx.spec.inputs.get(PHOTOS_INPUT, [])
    described = json.dumps(
        [
            sorted([keys] if isinstance(keys, str) else keys),
            params.seed,
            steps,
            len(examples),
            training.rank,
            training.resolution,
            training.batch_size,
            training.gradient_accumulation,
            STATE_FORMAT,
        ],
    )
    return hashlib.sha256(described.encode()).hexdigest()[:32]


def _resume(
    ctx: WorkflowContext, tuner: PivotalTuner, fingerprint: str, photos_used: int, crops: int
) -> Manifest | None:
    """The newest checkpoint loaded into the tuner; a fresh manifest when there is none; None when
    there is one that cannot be used (made for another run, or damaged): the caller starts over."""
    manifest = manifest_load(ctx.storage, ctx.spec.output_prefix)
    if manifest is None:
        return Manifest(step=0, state_key="", fingerprint=fingerprint, photos_used=photos_used, crops=crops)
    if manifest.fingerprint != fingerprint:
        logger.warning("job %s: its checkpoint was made for another run; training starts again", ctx.job_id)
        return None
    try:
        tuner.load_state(ctx.storage.read(manifest.state_key))
    except Exception:
        logger.exception("job %s: its checkpoint cannot be loaded; training starts again", ctx.job_id)
        return None
    logger.info("job %s resumes training at step %d", ctx.job_id, manifest.step)
    return manifest


def _train(
    ctx: WorkflowContext,
    tuner: PivotalTuner,
    manifest: Manifest,
    *,
    steps: int,
    every: int,
    phrase: str,
    settings: TrainingSettings,
) -> None:
    started, first_step = time.perf_counter(), tuner.step
    smoothed: float | None = None
    interval: list[float] = []
    latest_preview = manifest.previews[-1] if manifest.previews else ""
    while tuner.step < steps:
        loss = tuner.train_step()
        if not math.isfinite(loss):
            raise TrainingDiverged(f"The training loss became {loss} at step {tuner.step}; the model cannot be saved.")
        interval.append(loss)
        smoothed = loss if smoothed is None else LOSS_SMOOTHING * smoothed + (1 - LOSS_SMOOTHING) * loss
        done = tuner.step - first_step
        elapsed = time.perf_counter() - started
        eta = elapsed / done * (steps - tuner.step)
        if tuner.step % every == 0 or tuner.step == steps:
            latest_preview = _checkpoint(ctx, tuner, manifest, interval, phrase, settings, elapsed)
            interval = []
            started, first_step = time.perf_counter(), tuner.step
        ctx.progress.report(
            TrainingStage.TRAINING,
            PREPARE_END + (TRAIN_END - PREPARE_END) * tuner.step / steps,
            step=tuner.step,
            total_steps=steps,
            loss=smoothed,
            eta_seconds=eta,
            preview_key=latest_preview,
        )


def _checkpoint(
    ctx: WorkflowContext,
    tuner: PivotalTuner,
    manifest: Manifest,
    interval: list[float],
    phrase: str,
    settings: TrainingSettings,
    elapsed: float,
) -> str:
    prefix = ctx.spec.output_prefix
    image = tuner.preview(
        prompt=f"a photo of {phrase}", seed=PREVIEW_SEED, size=settings.resolution, steps=settings.preview_steps
    )
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", pnginfo=ai_generated_pnginfo(ctx.spec.kind))
    preview_key = f"{prefix}previews/step-{tuner.step:05d}.png"
    ctx.storage.write(preview_key, buffer.getvalue(), "image/png")
    manifest.step = tuner.step
    manifest.state_key = state_key(prefix, tuner.step)
    manifest.losses.append(sum(interval) / len(interval))
    manifest.previews.append(preview_key)
    manifest.preview_steps.append(tuner.step)
    manifest.seconds += elapsed
    checkpoint_save(ctx.storage, prefix, manifest, tuner.state_bytes())
    return preview_key


def _preview_output(ctx: WorkflowContext, key: str):
    from PIL import Image

    from gpu_worker.contract import OutputImage

    with Image.open(io.BytesIO(ctx.storage.read(key))) as image:
        return OutputImage(role="preview", key=key, width=image.width, height=image.height)
