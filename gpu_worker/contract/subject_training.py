"""The profile studio's training: 5-20 accepted photos of one subject become a personal model.

The model is a pivotal-tuning adapter for the SDXL base: a UNet LoRA plus new text-embedding
tokens for both text encoders, saved as two safetensors files that diffusers'
`load_lora_weights` and `load_textual_inversion` read. Each file records the base model it was
trained on; using it with another base is refused.

Training checkpoints under the job's output prefix. When a worker dies mid-run, the web tier
enqueues the same job again (bounded attempts) and the workflow resumes from the last checkpoint.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from gpu_worker.contract import ContractError, WorkflowContract
from gpu_worker.contract.subject_photo_check import SUBJECT_KINDS, SubjectKind

KIND = "subject_training"
PHOTOS_INPUT = "photos"
MIN_PHOTOS = 5
MAX_PHOTOS = 20
# The new tokens a personal model adds; prompts say "a photo of <s0><s1> dog".
TOKENS: tuple[str, ...] = ("<s0>", "<s1>")
# What the prompt calls the subject after its tokens.
CLASS_WORDS = {"person": "person", "dog": "dog", "cat": "cat"}


def subject_phrase(subject_kind: str) -> str:
    return f"{''.join(TOKENS)} {CLASS_WORDS[subject_kind]}"


class TrainingStage(enum.StrEnum):
    PREPARING = "preparing"  # detect, segment, crop and caption the photos
    TRAINING = "training"
    SAVING = "saving"
    DONE = "done"


class TrainingError(enum.StrEnum):
    TOO_FEW_PHOTOS = "too_few_photos"  # fewer than MIN_PHOTOS usable photos after preprocessing
    DIVERGED = "diverged"  # the loss became NaN or infinite (e.g. fp16 overflow): nothing worth saving


@dataclass(frozen=True)
class TrainingParams:
    subject_kind: SubjectKind
    seed: int
    # None: the worker's configured defaults (ONTOP_GPU_TRAIN_*). Set by tests and admins.
    steps: int | None = None
    checkpoint_every: int | None = None

    def __post_init__(self) -> None:
        if self.subject_kind not in SUBJECT_KINDS:
            raise ContractError(f"unknown subject kind {self.subject_kind!r}")
        if self.steps is not None and not 1 <= self.steps <= 5000:
            raise ContractError("training steps must be between 1 and 5000")
        if self.checkpoint_every is not None and self.checkpoint_every < 1:
            raise ContractError("checkpoint_every must be at least 1")


@dataclass(frozen=True)
class TrainingResult:
    lora_key: str  # safetensors, diffusers' LoRA format (`load_lora_weights`)
    lora_sha256: str
    embeddings_key: str  # safetensors with "clip_l" and "clip_g" (`load_textual_inversion`)
    embeddings_sha256: str
    tokens: list[str]
    class_word: str
    base_model: str  # the identity of the SDXL base it was trained on
    rank: int
    steps: int
    final_loss: float
    losses: list[float]  # the loss curve, one mean per checkpoint interval
    previews: list[str]  # storage keys of the checkpoint previews, in step order
    preview_steps: list[int]
    resumed_from_step: int  # 0 when the run started fresh
    photos_used: int
    crops: int
    seconds: float


CONTRACT = WorkflowContract(
    kind=KIND,
    queue="gpu-train",
    timeout_seconds=45 * 60,
    params=TrainingParams,
    result=TrainingResult,
    stages=TrainingStage,
    errors=TrainingError,
)
