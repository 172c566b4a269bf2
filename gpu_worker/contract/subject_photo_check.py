"""The profile studio's photo check: is each photo usable to train a personal model of this subject?

A subject is a person or a pet (dog or cat). Each photo gets a verdict: the detector must find
exactly one subject of the chosen kind (and, for a person, a face of at least `min_face_px`), and
the photo must be sharp. The GPU tier also returns each photo's perceptual hash; the web tier
compares hashes across all of a subject's photos (uploaded in several batches) to catch
near-duplicates, with `phash_distance` and `DUPLICATE_MAX_DISTANCE` below.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Literal

from gpu_worker.contract import ContractError, WorkflowContract
from gpu_worker.contract.tone import SkinReading

KIND = "subject_photo_check"
PHOTOS_INPUT = "photos"
MAX_PHOTOS = 20
SubjectKind = Literal["person", "dog", "cat"]
SUBJECT_KINDS: tuple[str, ...] = ("person", "dog", "cat")

# Two 64-bit perceptual hashes at most this many bits apart are the same picture (a re-save, a
# resize, a small crop). imagehash's authors suggest 0-10 for "similar"; 6 keeps bursts of
# different poses apart in our tests while catching re-encodes and screenshots of the same photo.
DUPLICATE_MAX_DISTANCE = 6


def phash_distance(a: str, b: str) -> int:
    """Hamming distance between two hex perceptual hashes of the same length."""
    if len(a) != len(b):
        raise ContractError("perceptual hashes of different lengths")
    return (int(a, 16) ^ int(b, 16)).bit_count()


class PhotoCheckStage(enum.StrEnum):
    CHECKING = "checking"
    DONE = "done"


class PhotoRejection(enum.StrEnum):
    """Why a photo cannot be used. DUPLICATE is decided by the web tier (it sees every batch)."""

    UNREADABLE = "unreadable"
    NO_SUBJECT = "no_subject"
    SEVERAL_SUBJECTS = "several_subjects"
    NO_FACE = "no_face"
    FACE_TOO_SMALL = "face_too_small"
    SUBJECT_TOO_SMALL = "subject_too_small"  # a pet smaller than min_subject_px: its crop would be mush
    BLURRY = "blurry"
    DUPLICATE = "duplicate"


@dataclass(frozen=True)
class PhotoCheckParams:
    subject_kind: SubjectKind

    def __post_init__(self) -> None:
        if self.subject_kind not in SUBJECT_KINDS:
            raise ContractError(f"unknown subject kind {self.subject_kind!r}")


@dataclass(frozen=True)
class PhotoVerdict:
    key: str  # the photo's storage key, as sent in the job's inputs
    accepted: bool
    rejection: str  # "" when accepted, else a PhotoRejection
    sharpness: float  # variance of the Laplacian of the grey photo at the check size
    phash: str  # 16 hex digits ("" when the photo could not be read)
    subjects: int  # subject detections counted
    face_px: int  # the face box's shorter side in the original photo's pixels (0: none or a pet)
    subject_box: list[float]  # x0, y0, x1, y1 in the original photo's pixels ([] when none)
    # A person's skin colour (contract/tone.py), for the "auto" tone; None for pets, or too little skin.
    skin: SkinReading | None = None


@dataclass(frozen=True)
class PhotoCheckResult:
    photos: list[PhotoVerdict]
    min_face_px: int
    min_sharpness: float


CONTRACT = WorkflowContract(
    kind=KIND,
    queue="gpu",
    timeout_seconds=5 * 60,
    params=PhotoCheckParams,
    result=PhotoCheckResult,
    stages=PhotoCheckStage,
    errors=None,
)
