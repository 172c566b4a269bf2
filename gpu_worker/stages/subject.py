"""The profile studio's subject: find the person or pet in a photo, judge the photo, make training crops.

Finding asks Grounding DINO for the subject's class together with a competing phrase: a person
with "face", a dog with "cat" and a cat with "dog". The detector gives each box its best phrase,
so a cat in a photo sent as a dog is labelled "cat" and does not count as the dog (asked for
"dog" alone, an open-vocabulary detector happily calls a cat a dog), and a person's face box is
labelled "face" rather than counting as a second person.

Crops are square and cut from the original photo (the detection runs on a smaller working copy):
for a person a face close-up and an upper-body crop, for a pet the whole animal with everything
outside its SAM mask painted white, so hands, leads and sofas do not leak into the personal model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image
from scipy import ndimage

from gpu_worker.contract.subject_photo_check import PhotoRejection
from gpu_worker.stages.detect import detect
from gpu_worker.stages.segment import segment
from gpu_worker.stages.types import Detection

if TYPE_CHECKING:
    from gpu_worker.workflows.subject_photo_check.settings import SubjectSettings

FACE_LABEL = "face"
# The phrases asked for each subject kind: the subject's own first, then the competing one.
QUERY_LABELS: dict[str, tuple[str, str]] = {
    "person": ("person", FACE_LABEL),
    "dog": ("dog", "cat"),
    "cat": ("cat", "dog"),
}
# A face box counts as the subject's face when at least this share of it lies in the subject box.
FACE_INSIDE_SHARE = 0.7
# A subject box with at least this share inside a better-scoring subject box is the same subject.
NESTED_SHARE = 0.8

# Crop geometry, in units of the face box's longer side (person) or the animal box's (pet).
FACE_CROP_SIDE = 2.2  # the face fills ~45% of the close-up: hair, ears and chin stay in
UPPER_BODY_SIDE = 4.0  # head to mid-chest, shoulders included
UPPER_BODY_FACE_AT = 0.3  # the face's centre sits this far down the upper-body crop
PET_CROP_SIDE = 1.15  # the whole animal plus a 7.5% white margin on each side
WHITE = 255
# A SAM mask covering less than this share of its box is a failed segmentation (the tiny preset's
# random SAM always fails): the box itself is then the matte, which still whitens the surroundings.
MIN_MASK_SHARE = 0.05


@dataclass(frozen=True)
class SubjectFinding:
    """What the detector found, with boxes in the pixels of the image it looked at."""

    subject_kind: str
    subjects: tuple[Detection, ...]  # the subject boxes that count, best score first
    face: Detection | None = None  # a person's best face box inside the main subject box
    others: tuple[Detection, ...] = ()  # the competing animal's boxes (a cat in a dog's photo)
    scale: float = 1.0  # original photo pixels per pixel of the image the boxes are in

    @property
    def subject(self) -> Detection | None:
        return self.subjects[0] if self.subjects else None

    @property
    def face_px(self) -> int:
        """The face box's shorter side in the original photo's pixels (0 without a face)."""
        if self.face is None:
            return 0
        x0, y0, x1, y1 = self.face.box
        return round(min(x1 - x0, y1 - y0) * self.scale)

    def subject_box_original(self) -> list[float]:
        """x0, y0, x1, y1 of the main subject in the original photo's pixels ([] when none)."""
        if self.subject is None:
            return []
        return [round(v * self.scale, 1) for v in self.subject.box]

    def in_original(self) -> SubjectFinding:
        """The same finding with every box in the original photo's pixels."""

        def scaled(d: Detection) -> Detection:
            return replace(d, box=tuple(v * self.scale for v in d.box))

        return SubjectFinding(
            subject_kind=self.subject_kind,
            subjects=tuple(scaled(d) for d in self.subjects),
            face=scaled(self.face) if self.face else None,
            others=tuple(scaled(d) for d in self.others),
            scale=1.0,
        )


@dataclass(frozen=True)
class SubjectCrop:
    image: Image.Image  # size x size, RGB
    caption: str
    framing: str  # "face", "upper_body" or "whole"
    window: tuple[int, int, int, int] = (0, 0, 0, 0)  # x0, y0, x1, y1 cut from the source (may overhang it)


# ---- finding -------------------------------------------------------------------------------


def working_copy(image: Image.Image, long_side: int) -> tuple[Image.Image, float]:
    """The photo downscaled (never enlarged) to `long_side`, and original pixels per working pixel."""
    image = image.convert("RGB")
    factor = long_side / max(image.size)
    if factor >= 1:
        return image, 1.0
    size = (max(1, round(image.width * factor)), max(1, round(image.height * factor)))
    return image.resize(size, Image.Resampling.LANCZOS), image.width / size[0]


def find_subject(
    detector, image: Image.Image, subject_kind: str, *, settings: SubjectSettings, scale: float = 1.0
) -> SubjectFinding:
    """Detect the subject (and a person's face) in `image`; `scale` maps its pixels to the original's."""
    detections = detect(
        detector,
        image,
        QUERY_LABELS[subject_kind],
        box_threshold=settings.box_threshold,
        max_detections=settings.max_detections,
    )
    return interpret_detections(detections, subject_kind, settings=settings, scale=scale)


def interpret_detections(
    detections: list[Detection], subject_kind: str, *, settings: SubjectSettings, scale: float = 1.0
) -> SubjectFinding:
    """Which detections are the subject, its face and the competing animal (pure; tests build these)."""
    subject_label, other_label = QUERY_LABELS[subject_kind]
    confident = sorted((d for d in detections if d.score >= settings.box_threshold), key=lambda d: -d.score)
    subjects = [d for d in confident if d.label == subject_label]
    if subject_kind == "person" and not subjects:
        # An extreme close-up: the detector sees a face, not a person. Each face is then a person.
        subjects = [d for d in confident if d.label == FACE_LABEL]
    if settings.best_subject_only:
        subjects = subjects[:1]
    elif subjects:
        largest = max(d.area for d in subjects)
        subjects = [d for d in subjects if d.area >= settings.background_area_ratio * largest]
        subjects = _without_nested(subjects)
    face = None
    if subject_kind == "person" and subjects:
        main = subjects[0]
        faces = [d for d in confident if d.label == FACE_LABEL and _share_inside(d.box, main.box) >= FACE_INSIDE_SHARE]
        # The largest face in the subject's box is theirs; a smaller one is someone behind them.
        face = max(faces, key=lambda d: d.area) if faces else None
    others = tuple(d for d in confident if d.label == other_label and subject_kind != "person")
    return SubjectFinding(subject_kind=subject_kind, subjects=tuple(subjects), face=face, others=others, scale=scale)


def _without_nested(subjects: list[Detection]) -> list[Detection]:
    """The detector often boxes one person twice (the whole body, and the upper body inside it):
    a box mostly inside a better-scoring one is the same subject, not a second one."""
    kept: list[Detection] = []
    for candidate in subjects:  # best score first
        if all(_share_inside(candidate.box, other.box) < NESTED_SHARE for other in kept):
            kept.append(candidate)
    return kept


def _share_inside(inner: tuple[float, ...], outer: tuple[float, ...]) -> float:
    x0, y0 = max(inner[0], outer[0]), max(inner[1], outer[1])
    x1, y1 = min(inner[2], outer[2]), min(inner[3], outer[3])
    area = (inner[2] - inner[0]) * (inner[3] - inner[1])
    return max(0.0, x1 - x0) * max(0.0, y1 - y0) / area if area > 0 else 0.0


# ---- the verdict ---------------------------------------------------------------------------


def photo_verdict(
    finding: SubjectFinding, *, sharpness: float, subject_kind: str, settings: SubjectSettings
) -> tuple[bool, str]:
    """(accepted, "") or (False, a PhotoRejection), checked in the order people fix them:
    exactly one subject, then (a person) a large enough face, then sharpness."""
    if not finding.subjects:
        return False, PhotoRejection.NO_SUBJECT
    if len(finding.subjects) > 1:
        return False, PhotoRejection.SEVERAL_SUBJECTS
    if subject_kind == "person" and settings.min_face_px > 0:
        if finding.face is None:
            return False, PhotoRejection.NO_FACE
        if finding.face_px < settings.min_face_px:
            return False, PhotoRejection.FACE_TOO_SMALL
    if subject_kind != "person" and settings.min_subject_px > 0:
        x0, y0, x1, y1 = finding.subject_box_original()
        if min(x1 - x0, y1 - y0) < settings.min_subject_px:
            return False, PhotoRejection.SUBJECT_TOO_SMALL
    if sharpness < settings.min_sharpness:
        return False, PhotoRejection.BLURRY
    return True, ""


# ---- training crops ------------------------------------------------------------------------


def training_crops(
    image: Image.Image,
    finding: SubjectFinding,
    mask: np.ndarray | None,
    *,
    subject_kind: str,
    caption_phrase: str,
    size: int,
) -> list[SubjectCrop]:
    """Square size x size crops of the subject, with captions; the finding's boxes are in `image`'s pixels.

    A person: a face close-up and an upper-body crop, never padded (bars would be learned too).
    Without a face box (the face check off) the head is estimated from the top of the subject box.
    A pet: the whole animal, white outside `mask` (a bool array of `image`'s size; None: its box).
    """
    subject = finding.subject
    if subject is None:
        raise ValueError("training crops need a subject")
    image = image.convert("RGB")
    if subject_kind == "person":
        face = finding.face.box if finding.face else estimated_head(subject.box)
        face_side = max(face[2] - face[0], face[3] - face[1])
        cx, cy = (face[0] + face[2]) / 2, (face[1] + face[3]) / 2
        close_up = _window(image.size, cx, cy, FACE_CROP_SIDE * face_side, keep=face, pad=False)
        upper_side = UPPER_BODY_SIDE * face_side
        upper = _window(image.size, cx, cy + (0.5 - UPPER_BODY_FACE_AT) * upper_side, upper_side, keep=face, pad=False)
        return [
            SubjectCrop(_cut(image, close_up, size), f"a close-up photo of {caption_phrase}", "face", close_up),
            SubjectCrop(_cut(image, upper, size), f"a photo of {caption_phrase}", "upper_body", upper),
        ]
    box = subject.box
    side = PET_CROP_SIDE * max(box[2] - box[0], box[3] - box[1])
    whole = _window(image.size, (box[0] + box[2]) / 2, (box[1] + box[3]) / 2, side, keep=box, pad=True)
    matte = mask if mask is not None else _box_mask(image.size, box)
    if matte.shape != (image.height, image.width):
        raise ValueError(f"the mask is {matte.shape[::-1]}, the image {image.size}")
    cut = _cut(image, whole, size, matte=matte)
    # Saying what the background is keeps "white background" out of the subject's new tokens.
    return [SubjectCrop(cut, f"a photo of {caption_phrase} on a white background", "whole", whole)]


def estimated_head(box: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
    """A square at the top centre of a person's box: a quarter of its height, at most half its width."""
    x0, y0, x1, y1 = box
    side = max(1.0, min((x1 - x0) / 2, (y1 - y0) / 4))
    cx = (x0 + x1) / 2
    return cx - side / 2, y0, cx + side / 2, y0 + side


def _window(
    image_size: tuple[int, int], cx: float, cy: float, side: float, *, keep: tuple[float, ...], pad: bool
) -> tuple[int, int, int, int]:
    """A square (x0, y0, x1, y1) of about `side` centred at (cx, cy) that contains `keep`.

    Without padding it is shrunk to fit and shifted into the image; with padding it keeps its size
    and may overhang the image (the overhang is filled with white)."""
    width, height = image_size
    kx0, ky0 = math.floor(keep[0]), math.floor(keep[1])
    kx1, ky1 = math.ceil(keep[2]), math.ceil(keep[3])
    edge = max(round(side), kx1 - kx0, ky1 - ky0, 1)
    if not pad:
        edge = min(edge, width, height)

    def place(centre: float, low: int, high: int, extent: int) -> int:
        start = round(centre - edge / 2)
        start = max(min(start, low), high - edge)  # the kept box stays inside
        if not pad or edge <= extent:
            start = min(max(start, 0), extent - edge)  # no overhang when it fits
        return start

    x0, y0 = place(cx, kx0, kx1, width), place(cy, ky0, ky1, height)
    return x0, y0, x0 + edge, y0 + edge


def _cut(
    image: Image.Image, window: tuple[int, int, int, int], size: int, *, matte: np.ndarray | None = None
) -> Image.Image:
    x0, y0, x1, y1 = window
    pixels = np.asarray(image)
    canvas = np.full((y1 - y0, x1 - x0, 3), WHITE, dtype=np.uint8)
    sx0, sy0 = max(0, x0), max(0, y0)
    sx1, sy1 = min(image.width, x1), min(image.height, y1)
    region = pixels[sy0:sy1, sx0:sx1]
    if matte is not None:
        region = np.where(matte[sy0:sy1, sx0:sx1, None], region, WHITE)
    canvas[sy0 - y0 : sy1 - y0, sx0 - x0 : sx1 - x0] = region
    crop = Image.fromarray(canvas)
    # Whitened before resizing, so the resize softens the matte's edge like a real photo's.
    return crop if crop.size == (size, size) else crop.resize((size, size), Image.Resampling.LANCZOS)


def _box_mask(image_size: tuple[int, int], box: tuple[float, ...]) -> np.ndarray:
    width, height = image_size
    mask = np.zeros((height, width), dtype=bool)
    x0, y0 = max(0, math.floor(box[0])), max(0, math.floor(box[1]))
    mask[y0 : math.ceil(box[3]), x0 : math.ceil(box[2])] = True
    return mask


def subject_matte(mask: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    """A pet's SAM mask made fit for whitening: holes filled (a patch of white fur is still the dog)
    and grown by ~1% of the box so the fur's fringe survives; the box itself when SAM failed."""
    box_mask = _box_mask((mask.shape[1], mask.shape[0]), box)
    if mask.sum() < MIN_MASK_SHARE * max(1, box_mask.sum()):
        return box_mask
    grow = max(1, round(0.01 * max(box[2] - box[0], box[3] - box[1])))
    return ndimage.binary_dilation(ndimage.binary_fill_holes(mask), iterations=grow)


def prepare_subject_crops(
    detector,
    segmenter,
    images: list[Image.Image],
    *,
    subject_kind: str,
    caption_phrase: str,
    size: int,
    settings: SubjectSettings,
) -> tuple[list[SubjectCrop], int]:
    """The training crops of every usable photo, and how many photos were used.

    A photo without exactly one subject is skipped (not fatal: the caller decides whether enough
    photos are left). The face and sharpness were judged by the photo check when they were
    uploaded; a person without a detected face still gets crops around the estimated head.
    `segmenter` is only used for pets (None is fine for a person)."""
    crops: list[SubjectCrop] = []
    used = 0
    for photo in images:
        original = photo.convert("RGB")
        work, scale = working_copy(original, settings.work_long_side)
        finding = find_subject(detector, work, subject_kind, settings=settings, scale=scale)
        if len(finding.subjects) != 1:
            continue
        mask = None
        if subject_kind != "person":
            (work_mask,) = segment(segmenter, work, [finding.subjects[0]])
            matte = subject_matte(work_mask, finding.subjects[0].box)
            resized = Image.fromarray(matte.astype(np.uint8) * 255).resize(original.size, Image.Resampling.BILINEAR)
            mask = np.asarray(resized) >= 128
        crops += training_crops(
            original,
            finding.in_original(),
            mask,
            subject_kind=subject_kind,
            caption_phrase=caption_phrase,
            size=size,
        )
        used += 1
    return crops, used
