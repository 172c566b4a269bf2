"""Pose extraction: the COCO-17 → OpenPose COCO-18 mapping, the tiny ViTPose through the registry, the workflow."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gpu_worker.config import WorkerConfig
from gpu_worker.contract import JobSpec, JobStatus, encode
from gpu_worker.contract.portrait import POSE_KEYPOINTS, check_keypoints
from gpu_worker.contract.pose_extract import CONTRACT, PoseExtractError, PoseExtractParams, PoseExtractStage
from gpu_worker.jobs import execute
from gpu_worker.pose_models import COCO_KEYPOINTS, PoseEstimator
from gpu_worker.progress import ProgressReporter
from gpu_worker.registry import ModelRegistry
from gpu_worker.runtime import Runtime
from gpu_worker.stages.pose_estimate import COCO_INDEX, coco_to_openpose, estimate_pose
from gpu_worker.stages.types import Detection
from gpu_worker.storage import LocalStorage
from gpu_worker.workflow import context_for, served_workflows
from gpu_worker.workflows.pose_extract.workflow import NoPerson, largest_person
from tests.conftest import BASE_DIR

WIDTH, HEIGHT = 200, 100


def _hand_made() -> tuple[np.ndarray, np.ndarray]:
    """COCO keypoint i at (10 + 10i, 5 + 5i) px, i.e. (0.05 + 0.05i) of the 200x100 image both ways."""
    points = np.array([[10 + 10 * i, 5 + 5 * i] for i in range(17)], dtype=np.float32)
    scores = np.full(17, 0.9, dtype=np.float32)
    scores[3] = 0.1  # left ear: below the threshold
    scores[16] = 1.2  # right ankle: a heatmap peak over 1 is confidence 1
    return points, scores


def test_the_mapping_is_openpose_order_with_the_neck_between_the_shoulders():
    assert COCO_INDEX == (0, None, 6, 8, 10, 5, 7, 9, 12, 14, 16, 11, 13, 15, 2, 1, 4, 3)
    points, scores = _hand_made()
    rows = coco_to_openpose(points, scores, width=WIDTH, height=HEIGHT, min_score=0.3)
    assert rows == [
        [0.05, 0.05, 0.9],  # nose ← nose (0)
        [0.325, 0.325, 0.9],  # neck ← midpoint of left (5) and right (6) shoulder
        [0.35, 0.35, 0.9],  # right shoulder ← 6
        [0.45, 0.45, 0.9],  # right elbow ← 8
        [0.55, 0.55, 0.9],  # right wrist ← 10
        [0.3, 0.3, 0.9],  # left shoulder ← 5
        [0.4, 0.4, 0.9],  # left elbow ← 7
        [0.5, 0.5, 0.9],  # left wrist ← 9
        [0.65, 0.65, 0.9],  # right hip ← 12
        [0.75, 0.75, 0.9],  # right knee ← 14
        [0.85, 0.85, 1.0],  # right ankle ← 16 (score 1.2, capped)
        [0.6, 0.6, 0.9],  # left hip ← 11
        [0.7, 0.7, 0.9],  # left knee ← 13
        [0.8, 0.8, 0.9],  # left ankle ← 15
        [0.15, 0.15, 0.9],  # right eye ← 2
        [0.1, 0.1, 0.9],  # left eye ← 1
        [0.25, 0.25, 0.9],  # right ear ← 4
        [0.0, 0.0, 0.0],  # left ear ← 3, score 0.1 < 0.3: not seen
    ]
    check_keypoints(rows)
    assert all(type(v) is float for row in rows for v in row), "plain floats: the result is JSON"
    for name, index in zip(POSE_KEYPOINTS, COCO_INDEX, strict=True):
        assert index is None or COCO_KEYPOINTS[index] == name


def test_no_neck_without_both_shoulders_and_keypoints_off_the_image_are_not_seen():
    points, scores = _hand_made()
    scores[6] = 0.0  # right shoulder: a zero score is never seen, even with threshold 0; so no neck
    points[0] = (-30, 50)  # nose far left of the image: a guess, not seen
    points[1] = (202, 50)  # left eye 1% past the right edge: moved onto it
    scores[2] = -0.4  # right eye: a heatmap peak below zero
    rows = coco_to_openpose(points, scores, width=WIDTH, height=HEIGHT, min_score=0.0)
    assert rows[0] == [0.0, 0.0, 0.0]
    assert rows[1] == [0.0, 0.0, 0.0]
    assert rows[2] == [0.0, 0.0, 0.0]
    assert rows[5] == [0.3, 0.3, 0.9], "the left shoulder is still seen"
    assert rows[15] == [1.0, 0.5, 0.9]
    assert rows[14] == [0.0, 0.0, 0.0]
    assert rows[17] == [0.2, 0.2, 0.1], "threshold 0 keeps the low-scored left ear"


def test_the_largest_person_box_is_used():
    small = Detection("person", 0.9, (0, 0, 10, 10))
    big = Detection("person", 0.5, (0, 0, 40, 30))
    assert largest_person([small, big, Detection("face", 0.99, (0, 0, 90, 90))]) == big
    assert largest_person([]) is None


# ---- with the tiny models ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pose_runtime(tmp_path_factory) -> Runtime:
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
        workflows=("pose_extract",),
    )
    return Runtime(config=config, storage=LocalStorage(media), models=ModelRegistry(config))


def _photo(seed: int = 5, size: tuple[int, int] = (300, 400)) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))


def _jpeg(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def _spec(job_id: str, params: PoseExtractParams) -> JobSpec:
    return JobSpec(
        job_id=job_id,
        kind="pose_extract",
        output_prefix=f"results/{job_id}/",
        inputs={"photo": f"uploads/poses/{job_id}.jpg"},
        params=encode(params),
    )


def test_the_tiny_vitpose_loads_through_the_registry_with_the_pil_processor(pose_runtime):
    estimator = pose_runtime.models.get("pose_estimator")
    assert isinstance(estimator, PoseEstimator)
    assert type(estimator.processor).__name__ == "VitPoseImageProcessorPil"
    assert type(estimator.model).__name__ == "VitPoseForPoseEstimation"
    assert estimator.model.config.num_labels == 17
    assert pose_runtime.models.identifier("pose_estimator") == "tiny:pose_estimator:seed1234"
    rows = estimate_pose(estimator, _photo(), (40, 60, 260, 380), min_score=0.0)
    assert len(rows) == 18
    for x, y, confidence in rows:
        assert 0.0 <= x <= 1.0
        assert 0.0 <= y <= 1.0
        assert 0.0 <= confidence <= 1.0
    assert rows == estimate_pose(estimator, _photo(), (40, 60, 260, 380), min_score=0.0), "deterministic"
    assert "torchvision" not in sys.modules


def test_a_pose_extraction_returns_the_largest_persons_pose(pose_runtime):
    pose_runtime.storage.write("uploads/poses/pose1.jpg", _jpeg(_photo()), "image/jpeg")
    progress = ProgressReporter()
    result = execute(_spec("pose1", PoseExtractParams(min_keypoint_score=0.0)), progress, pose_runtime)
    assert result.status is JobStatus.SUCCEEDED, result.error
    data = CONTRACT.decode_result(result.data)
    check_keypoints(data.keypoints)
    assert data.aspect == 0.75
    assert data.people >= 1
    x0, y0, x1, y1 = data.person_box
    assert 0 <= x0 < x1 <= 300
    assert 0 <= y0 < y1 <= 400
    assert result.models == {"detector": "tiny:detector:seed1234", "pose_estimator": "tiny:pose_estimator:seed1234"}
    assert {"load", "detect", "pose"} <= set(result.timings)
    assert progress.history[-1].stage == PoseExtractStage.DONE


def test_a_photo_without_a_person_is_the_no_person_error(pose_runtime):
    registered = served_workflows(("pose_extract",))["pose_extract"]
    spec = _spec("pose2", PoseExtractParams())
    pose_runtime.storage.write("uploads/poses/pose2.jpg", _jpeg(_photo(6)), "image/jpeg")
    ctx = context_for(registered, spec, pose_runtime, ProgressReporter())
    # The tiny detector is blind (every box scores near 1); nothing scores above 1.01.
    ctx = replace(ctx, settings=replace(ctx.settings, box_threshold=1.01))
    with pytest.raises(NoPerson) as raised:
        registered.run(ctx, PoseExtractParams())
    assert raised.value.code == PoseExtractError.NO_PERSON == "no_person"


def test_a_keypoint_threshold_out_of_range_is_a_bad_request(pose_runtime):
    result = execute(_spec("pose3", PoseExtractParams(min_keypoint_score=1.5)), ProgressReporter(), pose_runtime)
    assert result.status is JobStatus.FAILED
    assert result.error.code == "bad_params"


def test_nothing_imports_torchvision():
    code = (
        "import sys; import gpu_worker.pose_models, gpu_worker.stages.pose_estimate, "
        "gpu_worker.workflows.pose_extract; assert 'torchvision' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=BASE_DIR)
