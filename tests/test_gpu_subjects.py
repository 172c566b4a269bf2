"""The profile studio's subject stages and photo check on CPU: synthetic photos, tiny models, exact verdicts."""

from __future__ import annotations

import io
import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter

from gpu_worker.config import WorkerConfig
from gpu_worker.contract import JobSpec, JobStatus, encode
from gpu_worker.contract.subject_photo_check import (
    CONTRACT,
    DUPLICATE_MAX_DISTANCE,
    PhotoCheckParams,
    PhotoCheckStage,
    PhotoRejection,
    phash_distance,
)
from gpu_worker.contract.subject_training import subject_phrase
from gpu_worker.contract.tone import SkinReading, tone_decide
from gpu_worker.jobs import execute
from gpu_worker.progress import ProgressReporter
from gpu_worker.registry import ModelRegistry
from gpu_worker.runtime import Runtime
from gpu_worker.stages.photo_quality import CHECK_LONG_SIDE, check_size, perceptual_hash, sharpness
from gpu_worker.stages.skin_tone import face_box_reading, lab_to_srgb
from gpu_worker.stages.subject import (
    estimated_head,
    interpret_detections,
    photo_verdict,
    prepare_subject_crops,
    subject_matte,
    training_crops,
)
from gpu_worker.stages.types import Detection
from gpu_worker.storage import LocalStorage
from gpu_worker.workflows.subject_photo_check.settings import SubjectSettings
from tests.conftest import BASE_DIR

REAL = SubjectSettings.from_env("real")
TINY = SubjectSettings.from_env("tiny")


def _photo(seed: int, size: tuple[int, int] = (640, 480)) -> Image.Image:
    """Random flat shapes (what a perceptual hash sees) over fine grain (what sharpness sees)."""
    rng = np.random.default_rng(seed)
    width, height = size
    photo = Image.new("RGB", size, tuple(int(v) for v in rng.integers(0, 256, 3)))
    draw = ImageDraw.Draw(photo)
    for _ in range(12):
        x0, y0 = int(rng.integers(0, width)), int(rng.integers(0, height))
        box = (x0, y0, x0 + int(rng.integers(40, width // 2)), y0 + int(rng.integers(40, height // 2)))
        fill = tuple(int(v) for v in rng.integers(0, 256, 3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)(box, fill=fill)
    grain = rng.integers(-20, 21, (height, width, 1))
    return Image.fromarray(np.clip(np.asarray(photo).astype(int) + grain, 0, 255).astype(np.uint8))


def _jpeg(image: Image.Image, quality: int = 90) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def _det(label: str, box: tuple[float, float, float, float], score: float = 0.8) -> Detection:
    return Detection(label=label, score=score, box=box)


def _finding(detections: list[Detection], kind: str = "person", *, settings=REAL, scale: float = 1.0):
    return interpret_detections(detections, kind, settings=settings, scale=scale)


# ---- settings ------------------------------------------------------------------------------


def test_real_preset_uses_real_thresholds_and_tiny_lets_the_blind_detector_through():
    assert (REAL.box_threshold, REAL.min_face_px, REAL.min_sharpness, REAL.best_subject_only) == (
        0.35,
        128,
        100.0,
        False,
    )
    assert (TINY.box_threshold, TINY.min_face_px, TINY.min_sharpness, TINY.best_subject_only) == (
        0.0,
        0,
        100.0,
        True,
    )


def test_settings_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("ONTOP_GPU_SUBJECT_BOX_THRESHOLD", "0.5")
    monkeypatch.setenv("ONTOP_GPU_SUBJECT_MIN_FACE_PX", "96")
    monkeypatch.setenv("ONTOP_GPU_SUBJECT_MIN_SHARPNESS", "40")
    settings = SubjectSettings.from_env("real")
    assert (settings.box_threshold, settings.min_face_px, settings.min_sharpness) == (0.5, 96, 40.0)


# ---- sharpness and duplicates ----------------------------------------------------------------


def test_a_textured_photo_passes_and_the_same_photo_blurred_is_rejected_as_blurry():
    photo = _photo(1)
    blurred = photo.filter(ImageFilter.GaussianBlur(4))
    one_dog = _finding([_det("dog", (100, 100, 400, 400))], "dog")
    sharp_score, blurred_score = sharpness(photo), sharpness(blurred)
    assert sharp_score > 10 * REAL.min_sharpness
    assert blurred_score < REAL.min_sharpness / 10
    assert photo_verdict(one_dog, sharpness=sharp_score, subject_kind="dog", settings=REAL) == (True, "")
    assert photo_verdict(one_dog, sharpness=blurred_score, subject_kind="dog", settings=REAL) == (
        False,
        PhotoRejection.BLURRY,
    )


def test_sharpness_is_measured_at_one_check_size():
    assert check_size(4032, 3024) == (CHECK_LONG_SIDE, 384)
    assert check_size(300, 600) == (256, CHECK_LONG_SIDE)
    photo = _photo(2, (1024, 768))
    half = photo.resize((512, 384), Image.Resampling.BOX)
    assert sharpness(photo) == pytest.approx(sharpness(half), rel=0.01), "both are measured at 512 x 384"


def test_a_resized_recompressed_copy_is_a_duplicate_and_another_photo_is_not():
    photo = _photo(3)
    copy = Image.open(io.BytesIO(_jpeg(photo.resize((400, 300), Image.Resampling.LANCZOS), quality=70)))
    original_hash = perceptual_hash(photo)
    assert len(original_hash) == 16
    assert int(original_hash, 16) >= 0
    assert phash_distance(original_hash, perceptual_hash(copy)) <= DUPLICATE_MAX_DISTANCE
    for other_seed in (4, 5):
        assert phash_distance(original_hash, perceptual_hash(_photo(other_seed))) > DUPLICATE_MAX_DISTANCE


# ---- the verdict rule ----------------------------------------------------------------------

PERSON = (100, 50, 500, 900)


@pytest.mark.parametrize(
    ("detections", "scale", "expected"),
    [
        ([], 1.0, (False, PhotoRejection.NO_SUBJECT)),
        ([_det("person", PERSON, score=0.2), _det("face", (200, 80, 400, 280), score=0.3)], 1.0, (False, "no_subject")),
        (
            [_det("person", PERSON), _det("person", (520, 60, 900, 880)), _det("face", (200, 80, 400, 280))],
            1.0,
            (False, PhotoRejection.SEVERAL_SUBJECTS),
        ),
        ([_det("person", PERSON)], 1.0, (False, PhotoRejection.NO_FACE)),
        ([_det("person", PERSON), _det("face", (600, 80, 800, 280))], 1.0, (False, "no_face")),  # not its face
        ([_det("person", PERSON), _det("face", (200, 80, 300, 200))], 1.0, (False, PhotoRejection.FACE_TOO_SMALL)),
        ([_det("person", PERSON), _det("face", (200, 80, 400, 280))], 1.0, (True, "")),
        ([_det("person", PERSON), _det("face", (200, 80, 300, 190))], 2.0, (True, "")),  # 100 px at half size
        # A passer-by far behind (under a tenth of the area) is background, not a second subject.
        (
            [_det("person", PERSON), _det("person", (800, 100, 850, 200)), _det("face", (200, 80, 400, 280))],
            1.0,
            (True, ""),
        ),
        # The detector boxed the same person twice (whole body, and upper body inside it): one subject.
        (
            [_det("person", PERSON, 0.9), _det("person", (120, 60, 480, 500), 0.7), _det("face", (200, 80, 400, 280))],
            1.0,
            (True, ""),
        ),
        # Someone behind, their small face inside the subject's box: the subject's own face is judged.
        (
            [_det("person", PERSON), _det("face", (420, 60, 480, 120), 0.9), _det("face", (200, 80, 400, 280), 0.6)],
            1.0,
            (True, ""),
        ),
        # An extreme close-up: a face and no person box. The face is the person.
        ([_det("face", (100, 100, 700, 800))], 1.0, (True, "")),
        ([_det("face", (100, 100, 400, 500)), _det("face", (450, 100, 750, 500))], 1.0, (False, "several_subjects")),
    ],
)
def test_person_verdicts(detections, scale, expected):
    finding = _finding(detections, scale=scale)
    assert photo_verdict(finding, sharpness=500.0, subject_kind="person", settings=REAL) == expected


def test_a_pet_across_the_room_is_too_small_to_learn_from():
    small = _det("dog", (100, 100, 300, 300))  # 200 px: under the 256 px the real preset needs
    assert photo_verdict(_finding([small], "dog"), sharpness=500.0, subject_kind="dog", settings=REAL) == (
        False,
        PhotoRejection.SUBJECT_TOO_SMALL,
    )
    # The same box found on a half-size working copy is 400 px in the photo.
    halved = _finding([small], "dog", scale=2.0)
    assert photo_verdict(halved, sharpness=500.0, subject_kind="dog", settings=REAL) == (True, "")
    assert (REAL.min_subject_px, TINY.min_subject_px) == (256, 0)


def test_pet_verdicts_need_the_right_animal_and_no_face():
    dog = _det("dog", (100, 100, 400, 400))
    cat = _det("cat", (420, 100, 700, 400))
    assert photo_verdict(_finding([dog], "dog"), sharpness=500.0, subject_kind="dog", settings=REAL) == (True, "")
    with_cat = _finding([dog, cat], "dog")
    assert with_cat.others == (cat,)
    assert photo_verdict(with_cat, sharpness=500.0, subject_kind="dog", settings=REAL) == (True, "")
    # A cat sent as a dog: the detector calls it a cat, so there is no dog.
    assert photo_verdict(_finding([cat], "dog"), sharpness=500.0, subject_kind="dog", settings=REAL) == (
        False,
        PhotoRejection.NO_SUBJECT,
    )
    two_cats = _finding([cat, replace(cat, box=(50, 50, 300, 350))], "cat")
    assert photo_verdict(two_cats, sharpness=500.0, subject_kind="cat", settings=REAL) == (
        False,
        PhotoRejection.SEVERAL_SUBJECTS,
    )


def test_tiny_preset_counts_the_best_box_only_and_skips_the_face_check():
    people = [_det("person", PERSON, 0.9), _det("person", (520, 60, 900, 880), 0.95), _det("face", (0, 0, 9, 9), 0.01)]
    finding = _finding(people, settings=TINY)
    assert finding.subjects == (people[1],)
    assert photo_verdict(finding, sharpness=500.0, subject_kind="person", settings=TINY) == (True, "")


def test_the_finding_reports_the_face_and_the_box_in_original_pixels():
    finding = _finding([_det("person", (10, 20, 110, 220)), _det("face", (40, 30, 80, 80))], scale=4.0)
    assert finding.face_px == 160
    assert finding.subject_box_original() == [40.0, 80.0, 440.0, 880.0]
    original = finding.in_original()
    assert original.face.box == (160.0, 120.0, 320.0, 320.0)
    assert original.scale == 1.0
    assert original.face_px == 160


# ---- training crops ------------------------------------------------------------------------


def _inside(box, window) -> bool:
    return window[0] <= box[0] and window[1] <= box[1] and box[2] <= window[2] and box[3] <= window[3]


def test_a_person_gets_a_face_close_up_and_an_upper_body_crop():
    image = _photo(6, (800, 1000))
    face = (300, 150, 420, 290)
    finding = _finding([_det("person", (200, 100, 600, 1000)), _det("face", face)])
    crops = training_crops(
        image, finding, None, subject_kind="person", caption_phrase=subject_phrase("person"), size=96
    )
    assert [c.framing for c in crops] == ["face", "upper_body"]
    assert [c.caption for c in crops] == ["a close-up photo of <s0><s1> person", "a photo of <s0><s1> person"]
    for crop in crops:
        assert crop.image.size == (96, 96)
        assert crop.image.mode == "RGB"
        x0, y0, x1, y1 = crop.window
        assert x1 - x0 == y1 - y0, "square"
        assert _inside(face, crop.window)
        assert _inside(crop.window, (0, 0, 800, 1000)), "a person's crop is never padded"
    close_up, upper = (c.window for c in crops)
    assert close_up[2] - close_up[0] == round(2.2 * 140)
    assert upper[2] - upper[0] == round(4.0 * 140)
    assert upper[1] < face[1], "the crop starts above the face"
    assert upper[3] > face[3] + 2 * 140, "and goes down to the chest"
    # Exactly the photo's pixels, resized.
    expected = image.crop(close_up).resize((96, 96), Image.Resampling.LANCZOS)
    assert np.array_equal(np.asarray(crops[0].image), np.asarray(expected))


def test_a_face_near_the_edge_shifts_the_crop_into_the_photo():
    image = _photo(7, (500, 400))
    face = (0, 0, 150, 160)
    finding = _finding([_det("person", (0, 0, 300, 400)), _det("face", face)])
    crops = training_crops(image, finding, None, subject_kind="person", caption_phrase="<s0><s1> person", size=64)
    close_up, upper = (c.window for c in crops)
    assert close_up == (0, 0, 352, 352)
    assert upper == (0, 0, 400, 400), "shrunk to the photo's shorter side"


def test_without_a_face_box_the_head_is_estimated_from_the_top_of_the_person():
    head = estimated_head((100, 40, 300, 840))
    assert head == (150.0, 40, 250.0, 140)
    image = _photo(8, (400, 900))
    finding = _finding([_det("person", (100, 40, 300, 840))], settings=TINY)
    crops = training_crops(image, finding, None, subject_kind="person", caption_phrase="<s0><s1> person", size=32)
    assert all(_inside(head, c.window) for c in crops)


def test_a_pet_is_cut_out_on_white():
    image = _photo(9, (300, 300))
    box = (100, 100, 180, 180)
    mask = np.zeros((300, 300), dtype=bool)
    yy, xx = np.mgrid[:300, :300]
    mask[(xx - 140) ** 2 + (yy - 140) ** 2 <= 35**2] = True
    finding = _finding([_det("dog", box)], "dog")
    side = round(1.15 * 80)  # the crop is resized to `size`: equal sizes compare pixel for pixel
    (crop,) = training_crops(image, finding, mask, subject_kind="dog", caption_phrase=subject_phrase("dog"), size=side)
    assert crop.framing == "whole"
    assert crop.caption == "a photo of <s0><s1> dog on a white background"
    assert crop.image.size == (side, side)
    assert _inside(box, crop.window)
    x0, y0, x1, y1 = crop.window
    pixels = np.asarray(crop.image)
    inside = mask[y0:y1, x0:x1]
    assert np.array_equal(pixels[inside], np.asarray(image)[y0:y1, x0:x1][inside])
    assert (pixels[~inside] == 255).all()
    assert (~inside).sum() > 0.3 * side * side


def test_a_pet_at_the_edge_is_padded_with_white_and_resized():
    image = _photo(10, (200, 120))
    box = (0, 10, 100, 120)  # a cat filling the photo's height
    mask = np.zeros((120, 200), dtype=bool)
    mask[10:120, 0:100] = True
    finding = _finding([_det("cat", box)], "cat")
    (crop,) = training_crops(image, finding, mask, subject_kind="cat", caption_phrase=subject_phrase("cat"), size=64)
    assert crop.image.size == (64, 64)
    x0, y0, x1, y1 = crop.window
    assert x1 - x0 == y1 - y0 == round(1.15 * 110)
    assert _inside(box, crop.window)
    assert x0 == 0, "shifted into the photo where it fits"
    assert y1 > 120, "taller than the photo: it overhangs, and the overhang is white"
    assert (np.asarray(crop.image)[-1] >= 250).all()
    assert crop.caption == "a photo of <s0><s1> cat on a white background"


def test_a_failed_sam_mask_falls_back_to_the_box_and_a_good_one_is_filled_and_grown():
    box = (10.0, 10.0, 110.0, 110.0)
    failed = np.zeros((120, 120), dtype=bool)
    failed[50, 50] = True
    assert subject_matte(failed, box).sum() == 100 * 100
    ring = np.zeros((120, 120), dtype=bool)
    ring[20:100, 20:100] = True
    ring[40:80, 40:80] = False  # a hole: white fur the model missed
    matte = subject_matte(ring, box)
    assert matte[60, 60], "holes are filled"
    assert matte[19, 60], "grown by 1% of the box (1 px)"
    assert not matte[18, 60]


# ---- with the tiny models ------------------------------------------------------------------


@pytest.fixture(scope="module")
def subject_runtime(tmp_path_factory) -> Runtime:
    """A tiny-preset worker runtime that serves the photo check, with its own scratch storage."""
    media = tmp_path_factory.mktemp("media")
    model_dir = Path(os.environ.get("ONTOP_GPU_MODEL_DIR") or BASE_DIR / "var" / "models").resolve()
    config = WorkerConfig(
        redis_url="redis://unused",
        media_root=media,
        s3_bucket=None,
        s3_endpoint_url=None,
        model_preset="tiny",
        model_dir=model_dir,
        device="cpu",
        dtype="float32",
        workflows=("subject_photo_check",),
    )
    return Runtime(config=config, storage=LocalStorage(media), models=ModelRegistry(config))


def test_prepare_subject_crops_with_the_tiny_models(subject_runtime):
    models = subject_runtime.models
    photos = [_photo(11, (640, 480)), _photo(12, (300, 400))]
    crops, used = prepare_subject_crops(
        models.get("detector"),
        models.get("segmenter"),
        photos,
        subject_kind="dog",
        caption_phrase=subject_phrase("dog"),
        size=64,
        settings=TINY,
    )
    assert used == 2
    assert [c.framing for c in crops] == ["whole", "whole"]
    assert all(c.image.size == (64, 64) and c.image.mode == "RGB" for c in crops)
    people, used = prepare_subject_crops(
        models.get("detector"),
        None,
        photos[:1],
        subject_kind="person",
        caption_phrase="<s0><s1> person",
        size=32,
        settings=TINY,
    )
    assert (used, [c.framing for c in people]) == (1, ["face", "upper_body"])
    nobody = replace(TINY, box_threshold=1.01)  # nothing scores above 1: no subject anywhere
    assert prepare_subject_crops(
        models.get("detector"),
        None,
        photos[1:],
        subject_kind="cat",
        caption_phrase="<s0><s1> cat",
        size=32,
        settings=nobody,
    ) == ([], 0)


def test_the_photo_check_gives_each_photo_its_verdict(subject_runtime):
    storage = subject_runtime.storage
    good = _photo(13, (800, 600))
    photos = {
        "uploads/subjects/good.jpg": _jpeg(good),
        "uploads/subjects/blurry.jpg": _jpeg(good.filter(ImageFilter.GaussianBlur(5))),
        "uploads/subjects/broken.jpg": b"\xff\xd8\xff\xe0 this is not really a JPEG",
    }
    for key, data in photos.items():
        storage.write(key, data, "image/jpeg")
    spec = JobSpec(
        job_id="check1",
        kind="subject_photo_check",
        output_prefix="results/check1/",
        inputs={"photos": list(photos)},
        params=encode(PhotoCheckParams(subject_kind="person")),
    )
    progress = ProgressReporter()
    result = execute(spec, progress, subject_runtime)

    assert result.status is JobStatus.SUCCEEDED, result.error
    data = CONTRACT.decode_result(result.data)
    assert [(v.key, v.accepted, v.rejection) for v in data.photos] == [
        ("uploads/subjects/good.jpg", True, ""),
        ("uploads/subjects/blurry.jpg", False, "blurry"),
        ("uploads/subjects/broken.jpg", False, "unreadable"),
    ]
    good_verdict, blurry_verdict, broken_verdict = data.photos
    assert (data.min_face_px, data.min_sharpness) == (0, 100.0), "the tiny preset's documented defaults"
    assert good_verdict.sharpness > 1000 > 10 > blurry_verdict.sharpness
    assert good_verdict.subjects == blurry_verdict.subjects == 1
    x0, y0, x1, y1 = good_verdict.subject_box
    assert 0 <= x0 < x1 <= 800, "in the original photo's pixels"
    assert 0 <= y0 < y1 <= 600
    assert good_verdict.phash == perceptual_hash(Image.open(io.BytesIO(photos["uploads/subjects/good.jpg"])))
    assert phash_distance(good_verdict.phash, blurry_verdict.phash) <= DUPLICATE_MAX_DISTANCE, "blur keeps the hash"
    assert (broken_verdict.phash, broken_verdict.sharpness, broken_verdict.subject_box) == ("", 0.0, [])
    # A person's check reads skin with SAM 2. The tiny detector found no face inside the person's box
    # (its face check is off), so no skin was read: a reading needs the face box the check found.
    assert result.models == {"detector": "tiny:detector:seed1234", "segmenter": "tiny:segmenter:seed1234"}
    assert [v.skin for v in data.photos] == [None, None, None]
    assert {"load", "detect", "quality"} <= set(result.timings)
    assert "skin" not in result.timings
    checking = [(p.step, p.total_steps) for p in progress.history if p.stage == PhotoCheckStage.CHECKING]
    assert checking == [(0, 3), (1, 3), (2, 3)]
    assert progress.history[-1].stage == PhotoCheckStage.DONE
    assert progress.history[-1].percent == 100
    assert [p.percent for p in progress.history] == sorted(p.percent for p in progress.history)


def test_a_persons_skin_is_read_inside_the_face_box_the_check_found(subject_runtime):
    segmenter = subject_runtime.models.get("segmenter")
    rng = np.random.default_rng(0)
    golden = (65.0, 10.0, 24.0)  # CIELAB: golden skin, hue 67°
    skin = np.round(lab_to_srgb(np.asarray(golden) + rng.normal(0, 2, (192, 256, 3))) * 255).astype(np.uint8)
    photo = Image.new("RGB", (256, 192), (128, 128, 128))
    matte = Image.new("L", photo.size, 0)
    ImageDraw.Draw(matte).ellipse((88, 36, 168, 156), fill=255)
    photo.paste(Image.fromarray(skin), (0, 0), matte)
    reading = face_box_reading(photo, _det("face", (104.0, 56.0, 152.0, 136.0)), segmenter=segmenter)
    assert isinstance(reading, SkinReading)
    assert reading.pixels == 1968  # the tiny SAM's mask in the 48 x 80 box, lightness-trimmed
    # The rest of the face and neck outside the mask count as scene for the white balance and pull
    # the reading a little (67° drawn, 71° read): still clearly warm.
    assert tone_decide([reading]).tone == "warm"
    assert reading.hue_degrees == pytest.approx(71.03, abs=0.01)
    # A face box too small to hold MIN_SKIN_PIXELS skin pixels gives no reading.
    assert face_box_reading(photo, _det("face", (120.0, 80.0, 132.0, 92.0)), segmenter=segmenter) is None


def test_a_pet_check_has_no_skin_readings(subject_runtime):
    subject_runtime.storage.write("uploads/subjects/dog.jpg", _jpeg(_photo(14, (640, 480))), "image/jpeg")
    spec = JobSpec(
        job_id="check3",
        kind="subject_photo_check",
        output_prefix="results/check3/",
        inputs={"photos": ["uploads/subjects/dog.jpg"]},
        params=encode(PhotoCheckParams(subject_kind="dog")),
    )
    result = execute(spec, ProgressReporter(), subject_runtime)
    assert result.status is JobStatus.SUCCEEDED, result.error
    (verdict,) = CONTRACT.decode_result(result.data).photos
    assert (verdict.accepted, verdict.skin) == (True, None)
    assert "skin" not in result.timings


def test_a_photo_check_without_photos_is_a_bad_request(subject_runtime):
    spec = JobSpec(
        job_id="check2",
        kind="subject_photo_check",
        output_prefix="results/check2/",
        inputs={"photos": []},
        params={"subject_kind": "dog"},
    )
    result = execute(spec, ProgressReporter(), subject_runtime)
    assert result.status is JobStatus.FAILED
    assert result.error.code == "bad_params"
