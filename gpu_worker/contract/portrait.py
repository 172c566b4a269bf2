"""The profile studio's portraits: one picture of a pack, painted with a person's or pet's personal model.

A pack is N jobs of this kind (one per picture, each with its own seed), so pictures show as they
finish, each has its own progress, and "more like this" is the same params with new seeds. The
web tier resolves everything a person chose into these params when the pack is made (the
concept, pose and tone as they were then; editing a concept later changes nothing).

The human studio runs, in order: text-to-image with the personal model (and the pose through
ControlNet), a face fix, an image-to-image "filter" pass, a second face fix, the warm/cool grade and
a ×2 upscale. A pet's picture follows the owner's own words: the prompt writer turns the
instruction into the prompt with the subject's tokens.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from typing import Literal

from gpu_worker.contract import ContractError, LoraSpec, WorkflowContract, check_key
from gpu_worker.contract.subject_photo_check import SUBJECT_KINDS, SubjectKind
from gpu_worker.contract.tone import TONES, Tone

KIND = "portrait"
SUBJECT_SLOT = "{subject}"
MAX_INSTRUCTION_CHARS = 500
PACK_MIN, PACK_DEFAULT, PACK_MAX = 1, 4, 12
# OpenPose's COCO-18 body keypoints, in this order (what OpenPose ControlNets were trained on).
POSE_KEYPOINTS: tuple[str, ...] = (
    "nose",
    "neck",
    "right_shoulder",
    "right_elbow",
    "right_wrist",
    "left_shoulder",
    "left_elbow",
    "left_wrist",
    "right_hip",
    "right_knee",
    "right_ankle",
    "left_hip",
    "left_knee",
    "left_ankle",
    "right_eye",
    "left_eye",
    "right_ear",
    "left_ear",
)

Scheduler = Literal["default", "euler", "euler_a", "dpmpp_2m_karras", "dpmpp_sde_karras"]
SCHEDULERS: tuple[str, ...] = ("default", "euler", "euler_a", "dpmpp_2m_karras", "dpmpp_sde_karras")
# The tone's scheduler, as the profile seed found: cool pictures come out crisper with DPM++ 2M
# Karras (or Euler a), warm ones softer with DPM++ SDE Karras (or Euler). Neutral keeps the concept's.
TONE_SCHEDULERS: dict[str, str] = {"cool": "dpmpp_2m_karras", "warm": "dpmpp_sde_karras"}
# Words the tone adds to the prompt.
TONE_WORDS: dict[str, str] = {
    "warm": "warm golden light, soft warm tones",
    "cool": "cool soft daylight, clean cool tones",
    "neutral": "",
}


def check_keypoints(keypoints: list[list[float]]) -> None:
    """18 [x, y, confidence] rows; x and y in 0-1 of the pose's frame, confidence 0 = not seen."""
    if len(keypoints) != len(POSE_KEYPOINTS):
        raise ContractError(f"a pose has {len(POSE_KEYPOINTS)} keypoints, not {len(keypoints)}")
    for row in keypoints:
        if len(row) != 3:
            raise ContractError("each keypoint is [x, y, confidence]")
        x, y, confidence = row
        if not (0.0 <= confidence <= 1.0):
            raise ContractError("a keypoint's confidence is between 0 and 1")
        if confidence > 0 and not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
            raise ContractError("a seen keypoint lies inside its frame (0-1)")
    if sum(1 for row in keypoints if row[2] > 0) < 2:
        raise ContractError("a pose needs at least two seen keypoints")


class PortraitStage(enum.StrEnum):
    WRITING = "writing"  # a pet's instruction becomes the prompt
    PAINTING = "painting"
    DETAILING = "detailing"  # the face (and hand) fix
    FILTERING = "filtering"  # the image-to-image "filter" pass
    GRADING = "grading"  # the warm/cool colour grade
    UPSCALING = "upscaling"
    SAVING = "saving"
    DONE = "done"


class PortraitError(enum.StrEnum):
    MODEL_MISMATCH = "model_mismatch"  # the personal model was trained on another base model
    MODEL_INVALID = "model_invalid"  # its files are missing, altered or not a personal model


@dataclass(frozen=True)
class PersonalModelSpec:
    """A trained personal model, pinned by the content hashes of its two files."""

    lora: LoraSpec
    embeddings_key: str
    embeddings_sha256: str
    tokens: list[str]
    class_word: str
    base_model: str

    def __post_init__(self) -> None:
        check_key(self.embeddings_key, "embeddings key")
        if not self.embeddings_key.endswith(".safetensors") or not re.fullmatch(
            r"[0-9a-f]{64}", self.embeddings_sha256
        ):
            raise ContractError("embeddings must be a .safetensors file with a lower-case hex SHA-256")
        if not self.tokens or not all(re.fullmatch(r"<[a-z0-9_]{1,16}>", t) for t in self.tokens):
            raise ContractError("a personal model's tokens look like <s0>")

    @property
    def phrase(self) -> str:
        """What the prompt calls the subject: "<s0><s1> dog"."""
        return f"{''.join(self.tokens)} {self.class_word}"


@dataclass(frozen=True)
class ConceptSpec:
    """What an admin-curated concept said when the pack was made."""

    slug: str
    prompt_template: str  # with a {subject} slot
    negative_prompt: str = ""
    style_lora: LoraSpec | None = None
    steps: int = 30
    guidance: float = 7.0
    scheduler: Scheduler = "default"
    control_scale: float = 0.8  # how strongly the pose holds (ControlNet conditioning scale)
    filter_strength: float = 0.25  # the img2img filter pass; 0 skips it
    face_fix: bool = True
    hand_fix: bool = False

    def __post_init__(self) -> None:
        if self.prompt_template.count(SUBJECT_SLOT) != 1:
            raise ContractError("a concept's prompt template has exactly one {subject} slot")
        if not 1 <= self.steps <= 100:
            raise ContractError("steps must be between 1 and 100")
        if not 0.0 <= self.guidance <= 30.0:
            raise ContractError("guidance must be between 0 and 30")
        if self.scheduler not in SCHEDULERS:
            raise ContractError(f"unknown scheduler {self.scheduler!r}")
        if not 0.0 <= self.control_scale <= 2.0:
            raise ContractError("control_scale must be between 0 and 2")
        if not 0.0 <= self.filter_strength <= 0.6:
            raise ContractError("filter_strength must be between 0 and 0.6")


@dataclass(frozen=True)
class PoseSpec:
    slug: str
    keypoints: list[list[float]]  # POSE_KEYPOINTS order, [x, y, confidence], 0-1 of the pose's frame
    aspect: float = 0.8  # the frame's width / height, so the renderer keeps the pose's proportions

    def __post_init__(self) -> None:
        check_keypoints(self.keypoints)
        if not 0.2 <= self.aspect <= 5.0:
            raise ContractError("a pose's aspect is between 0.2 and 5")


@dataclass(frozen=True)
class PortraitParams:
    subject_kind: SubjectKind
    model: PersonalModelSpec
    concept: ConceptSpec
    seed: int
    tone: Tone = "neutral"  # already decided: the web tier resolves "auto" from the skin readings
    pose: PoseSpec | None = None  # people only
    instruction: str = ""  # pets only: the owner's own words, Korean or English
    orientation: Literal["portrait", "square"] = "portrait"  # 4:5 or 1:1

    def __post_init__(self) -> None:
        if self.subject_kind not in SUBJECT_KINDS:
            raise ContractError(f"unknown subject kind {self.subject_kind!r}")
        if self.tone not in TONES:
            raise ContractError(f"unknown tone {self.tone!r}")
        if len(self.instruction) > MAX_INSTRUCTION_CHARS:
            raise ContractError(f"an instruction has at most {MAX_INSTRUCTION_CHARS} characters")
        if self.instruction and self.subject_kind == "person":
            raise ContractError("only a pet's portrait takes a free-text instruction")
        if self.pose is not None and self.subject_kind != "person":
            raise ContractError("poses are for people")


@dataclass(frozen=True)
class PortraitResult:
    seed: int
    prompt: str
    negative_prompt: str
    writer: str  # "template", "local" or "openai:<model>"
    writer_fallback_reason: str | None
    scheduler: str
    tone: str
    steps: int
    guidance: float
    stages: list[str]  # the stages that ran, in order (e.g. no pose, no filter)
    faces_fixed: int  # faces found and repainted, summed over both fixes
    width: int
    height: int


CONTRACT = WorkflowContract(
    kind=KIND,
    queue="gpu-studio",
    timeout_seconds=10 * 60,
    params=PortraitParams,
    result=PortraitResult,
    stages=PortraitStage,
    errors=PortraitError,
)
