"""Skin readings, the warm/cool decision and the grade, on synthetic skin patches built from chosen CIELAB values.

The patch colours are typical skin (L* 65, chroma ~25): golden at a hue of 67°, pink at 39°, one in
the middle of the unsure band at 58°, and a washed-out one with a chroma of 5.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from gpu_worker.config import WorkerConfig
from gpu_worker.contract.tone import (
    COOL_MAX_HUE,
    MIN_SKIN_PIXELS,
    TONE_FULL_CONFIDENCE_DEGREES,
    WARM_MIN_HUE,
    SkinReading,
    ToneDecision,
    tone_decide,
)
from gpu_worker.registry import ModelRegistry
from gpu_worker.stages.detect import detect
from gpu_worker.stages.segment import segment
from gpu_worker.stages.skin_tone import (
    TONE_REFERENCES,
    face_box_reading,
    face_ellipse,
    face_skin_reading,
    grey_world,
    lab_to_srgb,
    linear_to_srgb,
    skin_reading,
    srgb_to_lab,
    srgb_to_linear,
    tone_grade,
)
from tests.conftest import BASE_DIR

GOLDEN = (65.0, 10.0, 24.0)  # h = 67.4°
PINK = (65.0, 17.0, 14.0)  # h = 39.5°
IN_BAND = (65.0, 13.0, 21.0)  # h = 58.2°, between COOL_MAX_HUE and WARM_MIN_HUE
WASHED_OUT = (65.0, 3.0, 4.0)  # C* = 5, under MIN_CHROMA


def _hue(lab: tuple[float, float, float]) -> float:
    return math.degrees(math.atan2(lab[2], lab[1]))


def _skin(lab: tuple[float, float, float], side: int, *, seed: int = 0, noise: float = 2.0) -> np.ndarray:
    """A side x side uint8 sRGB patch of `lab` with Gaussian noise (as skin texture and sensor noise)."""
    rng = np.random.default_rng(seed)
    values = np.asarray(lab) + rng.normal(0.0, noise, (side, side, 3))
    return np.round(lab_to_srgb(values) * 255).astype(np.uint8)


def _scene(lab: tuple[float, float, float], *, size: int = 64, skin: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """A mid-grey scene with a skin square in its middle (a quarter of the photo), and the square's mask."""
    photo = np.full((size, size, 3), 128, dtype=np.uint8)
    mask = np.zeros((size, size), dtype=bool)
    start = (size - skin) // 2
    mask[start : start + skin, start : start + skin] = True
    photo[mask] = _skin(lab, skin).reshape(-1, 3)
    return photo, mask


def _reading(lab: tuple[float, float, float]) -> SkinReading:
    photo, mask = _scene(lab)
    reading = skin_reading(Image.fromarray(photo), mask)
    assert reading is not None
    return reading


def _at(hue: float, chroma: float = 25.0, pixels: int = 1000) -> SkinReading:
    angle = math.radians(hue)
    return SkinReading(lightness=65.0, a=chroma * math.cos(angle), b=chroma * math.sin(angle), pixels=pixels)


# ---- colour conversions --------------------------------------------------------------------


def test_srgb_to_lab_matches_published_reference_values():
    # sRGB primaries in CIELAB (D65), as published by Bruce Lindbloom's calculator.
    assert srgb_to_lab(np.array([1.0, 1.0, 1.0])) == pytest.approx([100.0, 0.0, 0.0], abs=1e-9)
    assert srgb_to_lab(np.array([0.0, 0.0, 0.0])) == pytest.approx([0.0, 0.0, 0.0], abs=1e-9)
    assert srgb_to_lab(np.array([1.0, 0.0, 0.0])) == pytest.approx([53.2408, 80.0925, 67.2032], abs=1e-3)
    assert srgb_to_lab(np.array([0.0, 0.0, 1.0])) == pytest.approx([32.2970, 79.1875, -107.8602], abs=1e-3)


def test_lab_to_srgb_inverts_srgb_to_lab():
    rgb = np.random.default_rng(0).random((50, 3))
    assert np.abs(lab_to_srgb(srgb_to_lab(rgb)) - rgb).max() < 1e-9
    assert np.abs(linear_to_srgb(srgb_to_linear(rgb)) - rgb).max() < 1e-12


# ---- grey world ------------------------------------------------------------------------------


def test_grey_world_makes_the_linear_channel_means_equal_and_keeps_the_brightness():
    rng = np.random.default_rng(1)
    photo = (rng.random((20, 30, 3)) * np.array([0.6, 0.45, 0.3]) + 0.05).astype(np.float64)  # an orange cast
    balanced = grey_world(photo)
    before = srgb_to_linear(photo).reshape(-1, 3).mean(axis=0)
    after = srgb_to_linear(balanced).reshape(-1, 3).mean(axis=0)
    assert after == pytest.approx([before.mean()] * 3, rel=1e-9)
    assert balanced.shape == photo.shape
    # uint8 is read as /255; a grey photo is left as it is.
    grey = np.full((4, 4, 3), 128, dtype=np.uint8)
    assert np.abs(grey_world(grey) - 128 / 255).max() < 1e-12


def test_grey_world_removes_a_warm_cast_so_neutral_skin_is_not_called_warm():
    photo, mask = _scene(IN_BAND)
    cast = np.array([1.3, 1.0, 0.6])  # a strong tungsten-like cast, applied in linear light
    lit = np.round(linear_to_srgb(srgb_to_linear(photo / 255) * cast) * 255).astype(np.uint8)
    uncorrected = np.median(srgb_to_lab(lit[mask] / 255), axis=0)
    assert _hue(tuple(uncorrected)) > WARM_MIN_HUE, "without white balance the cast reads as warm"
    reading = skin_reading(Image.fromarray(lit), mask)
    assert COOL_MAX_HUE < reading.hue_degrees < WARM_MIN_HUE
    assert reading.hue_degrees == pytest.approx(_hue(IN_BAND), abs=0.5)
    assert tone_decide([reading]).tone == "neutral"


def test_the_skin_is_left_out_of_the_white_balance_estimate():
    # Balanced over the whole photo (skin included), the skin's own orange is taken for the light's:
    # the in-band skin then reads 7° warmer. Leaving it out recovers its colour.
    photo, mask = _scene(IN_BAND)
    whole = np.median(srgb_to_lab(grey_world(photo)[mask]), axis=0)
    assert _hue(tuple(whole)) > WARM_MIN_HUE
    reading = _reading(IN_BAND)
    assert (reading.a, reading.b) == pytest.approx(IN_BAND[1:], abs=0.3)


# ---- skin readings and the decision ----------------------------------------------------------


def test_golden_skin_is_warm():
    reading = _reading(GOLDEN)
    assert reading.hue_degrees == pytest.approx(_hue(GOLDEN), abs=0.5)
    assert reading.lightness == pytest.approx(65.0, abs=0.5)
    decision = tone_decide([reading])
    beyond = reading.hue_degrees - WARM_MIN_HUE
    assert decision == ToneDecision(
        tone="warm",
        confidence=round(0.5 + 0.5 * beyond / TONE_FULL_CONFIDENCE_DEGREES, 3),
        hue_degrees=round(reading.hue_degrees, 2),
        readings=1,
    )
    assert 0.85 < decision.confidence < 0.92


def test_pink_skin_is_cool_with_full_confidence():
    reading = _reading(PINK)
    assert reading.hue_degrees == pytest.approx(_hue(PINK), abs=0.5)
    assert COOL_MAX_HUE - reading.hue_degrees > TONE_FULL_CONFIDENCE_DEGREES
    assert tone_decide([reading]) == ToneDecision("cool", 1.0, round(reading.hue_degrees, 2), 1)


def test_skin_in_the_band_is_neutral_and_surest_in_its_middle():
    reading = _reading(IN_BAND)
    middle, half = (COOL_MAX_HUE + WARM_MIN_HUE) / 2, (WARM_MIN_HUE - COOL_MAX_HUE) / 2
    decision = tone_decide([reading])
    assert decision.tone == "neutral"
    assert decision.confidence == round(0.5 + 0.5 * (1 - abs(reading.hue_degrees - middle) / half), 3)
    assert decision.confidence > 0.95, "58° is the band's middle"


def test_washed_out_skin_says_nothing():
    reading = _reading(WASHED_OUT)
    assert reading.chroma == pytest.approx(5.0, abs=0.5)
    assert tone_decide([reading]) == ToneDecision("neutral", 0.0, round(reading.hue_degrees, 2), 1)


def test_too_little_skin_is_no_reading_and_the_count_is_of_the_trimmed_pixels():
    photo, _ = _scene(GOLDEN)
    small = np.zeros((64, 64), dtype=bool)
    small[20:39, 20:30] = True  # 190 pixels
    assert small.sum() < MIN_SKIN_PIXELS
    assert skin_reading(Image.fromarray(photo), small) is None
    # 32 x 32 = 1024 mask pixels; the central 10-90 % of their lightness keeps 818 of them.
    assert _reading(GOLDEN).pixels == 818


def test_eyes_and_highlights_inside_the_mask_are_trimmed():
    photo, mask = _scene(GOLDEN)
    clean = skin_reading(Image.fromarray(photo), mask)
    marked = photo.copy()
    marked[22:25, 22:42] = (40, 25, 20)  # dark brows/eyes: 60 of 1024 mask pixels (6 %)
    marked[40:42, 28:36] = (255, 250, 245)  # a specular highlight: 16 pixels
    reading = skin_reading(Image.fromarray(marked), mask)
    assert (reading.a, reading.b) == pytest.approx((clean.a, clean.b), abs=0.3)
    assert tone_decide([reading]).tone == "warm"


def test_tone_decide_takes_the_median_and_scales_by_agreement():
    # Two warm photos and one cool: the median (66°) is warm, two of three agree.
    decision = tone_decide([_at(70.0), _at(66.0), _at(45.0)])
    assert decision == ToneDecision("warm", round((0.5 + 0.5 * 5 / 8) * 2 / 3, 3), 66.0, 3)
    # All agree: no scaling.
    assert tone_decide([_at(44.0), _at(46.0), _at(40.0)]) == ToneDecision("cool", 1.0, 44.0, 3)
    # A reading with too few pixels is not counted at all.
    assert tone_decide([_at(67.0), _at(30.0, pixels=MIN_SKIN_PIXELS - 1)]) == ToneDecision("warm", 0.875, 67.0, 1)
    assert tone_decide([]) == ToneDecision("neutral", 0.0, None, 0)


# ---- the grade -------------------------------------------------------------------------------


def _picture() -> Image.Image:
    """A colourful 48 x 40 test picture: coloured blocks over fine noise (grading must keep it in gamut)."""
    rng = np.random.default_rng(3)
    pixels = rng.integers(60, 200, (40, 48, 3)).astype(np.uint8)
    picture = Image.fromarray(pixels)
    draw = ImageDraw.Draw(picture)
    draw.rectangle((0, 0, 20, 20), fill=(200, 150, 120))
    draw.rectangle((28, 20, 47, 39), fill=(70, 110, 160))
    return picture


def _lab_means(picture: Image.Image) -> np.ndarray:
    return srgb_to_lab(np.asarray(picture) / 255).reshape(-1, 3).mean(axis=0)


@pytest.mark.parametrize("tone", ["warm", "cool"])
def test_the_grade_moves_the_colour_means_towards_the_reference_by_the_strength(tone):
    picture = _picture()
    before = _lab_means(picture)
    graded = tone_grade(picture, tone, strength=0.35)
    after = _lab_means(graded)
    assert graded.size == picture.size
    assert graded.mode == "RGB"
    reference = TONE_REFERENCES[tone]
    # The transfer's mean is the reference's, blended by the strength; uint8 rounding costs a little.
    for channel, name in ((1, "a"), (2, "b")):
        expected = before[channel] + 0.35 * (reference[name][0] - before[channel])
        assert after[channel] == pytest.approx(expected, abs=0.3)
    assert after[0] == pytest.approx(before[0], abs=0.3), "lightness is not graded"
    shift = after[2] - before[2]
    assert (3.0 < shift < 8.0) if tone == "warm" else (-5.0 < shift < -2.0)


def test_a_neutral_grade_is_the_picture_unchanged():
    picture = _picture()
    same = tone_grade(picture, "neutral")
    assert same is not picture
    assert np.array_equal(np.asarray(same), np.asarray(picture))
    with pytest.raises(ValueError, match="unknown tone"):
        tone_grade(picture, "sepia")


# ---- with the tiny models ------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_models() -> ModelRegistry:
    model_dir = Path(os.environ.get("ONTOP_GPU_MODEL_DIR") or BASE_DIR / "var" / "models").resolve()
    config = WorkerConfig(
        redis_url="redis://unused",
        media_root=BASE_DIR / "var" / "unused-media",
        s3_bucket=None,
        s3_endpoint_url=None,
        model_preset="tiny",
        model_dir=model_dir,
        device="cpu",
        dtype="float32",
        workflows=("subject_photo_check",),
    )
    return ModelRegistry(config)


def _portrait(size: tuple[int, int]) -> Image.Image:
    """A golden face on a grey wall."""
    width, height = size
    photo = Image.new("RGB", size, (128, 128, 128))
    face = Image.fromarray(_skin(GOLDEN, max(size)))
    mask = Image.new("L", size, 0)
    ImageDraw.Draw(mask).ellipse((width * 0.2, height * 0.1, width * 0.8, height * 0.9), fill=255)
    photo.paste(face.crop((0, 0, width, height)), (0, 0), mask)
    return photo


def test_the_fallback_face_ellipse_is_the_middle_of_the_box():
    ellipse = face_ellipse((40, 30), (10.0, 5.0, 30.0, 25.0))  # a 20 x 20 box centred at (20, 15)
    assert ellipse.shape == (30, 40)
    # Radius 0.7 x 10 px = 7 around (20, 15): pixel centres 13.5 .. 26.5 across, 8.5 .. 21.5 down.
    assert ellipse[15].nonzero()[0].tolist() == list(range(13, 27))
    assert ellipse[:, 20].nonzero()[0].tolist() == list(range(8, 22))
    assert not ellipse[5, 10], "the box's corners are hair or background"
    assert ellipse.sum() == 156  # pi x 7 x 7 = 154


def test_face_skin_reading_with_the_tiny_models(tiny_models):
    detector, segmenter = tiny_models.get("detector"), tiny_models.get("segmenter")
    photo = _portrait((320, 256))
    (face,) = detect(detector, photo, ["face"], box_threshold=0.3, max_detections=1)
    # The reading is SAM 2's mask for the best face box, cut to the box (SAM covers enough of it here).
    (sam,) = segment(segmenter, photo, [face])
    x0, y0, x1, y1 = face.box
    box = np.zeros(sam.shape, dtype=bool)
    box[math.floor(y0) : math.ceil(y1), math.floor(x0) : math.ceil(x1)] = True
    assert (sam & box).sum() >= 0.2 * box.sum()
    reading = face_skin_reading(photo, detector=detector, segmenter=segmenter)
    assert isinstance(reading, SkinReading)
    assert reading == skin_reading(photo, sam & box)
    assert reading == face_box_reading(photo, face, segmenter=segmenter)
    assert face_skin_reading(photo, detector=detector, segmenter=segmenter) == reading, "deterministic"
    # No face above the threshold: no reading.
    assert face_skin_reading(photo, detector=detector, segmenter=segmenter, box_threshold=1.01) is None
    # On a small photo the tiny detector's boxes hold fewer than MIN_SKIN_PIXELS: no reading.
    assert face_skin_reading(_portrait((96, 128)), detector=detector, segmenter=segmenter) is None
