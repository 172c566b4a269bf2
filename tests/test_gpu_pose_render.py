"""Our OpenPose renderer: joints in their standard colours where the pose puts them, letterboxed on any canvas."""

from __future__ import annotations

import numpy as np
import pytest

from gpu_worker.contract.portrait import POSE_KEYPOINTS
from gpu_worker.stages.pose_render import COLORS, LIMBS, keypoint_pixels, render_pose

# A standing person in a 4:5 frame (x, y in 0-1 of the frame), every joint seen and well apart.
STANDING: list[list[float]] = [
    [0.50, 0.10, 1.0],  # nose
    [0.50, 0.22, 1.0],  # neck
    [0.38, 0.22, 1.0],  # right shoulder
    [0.32, 0.38, 1.0],  # right elbow
    [0.28, 0.54, 1.0],  # right wrist
    [0.62, 0.22, 1.0],  # left shoulder
    [0.68, 0.38, 1.0],  # left elbow
    [0.72, 0.54, 1.0],  # left wrist
    [0.43, 0.55, 1.0],  # right hip
    [0.42, 0.74, 1.0],  # right knee
    [0.41, 0.93, 1.0],  # right ankle
    [0.57, 0.55, 1.0],  # left hip
    [0.58, 0.74, 1.0],  # left knee
    [0.59, 0.93, 1.0],  # left ankle
    [0.46, 0.07, 1.0],  # right eye
    [0.54, 0.07, 1.0],  # left eye
    [0.42, 0.09, 1.0],  # right ear
    [0.58, 0.09, 1.0],  # left ear
]


def _pixels(image) -> np.ndarray:
    return np.asarray(image)


def test_the_standard_tables_have_the_contracts_sizes():
    assert len(COLORS) == len(POSE_KEYPOINTS) == 18
    assert len(LIMBS) == 17
    assert COLORS[0] == (255, 0, 0)
    assert COLORS[1] == (255, 85, 0)
    assert LIMBS[0] == (1, 2), "neck to right shoulder first, as OpenPose"


def test_keypoints_land_in_their_joint_colours_on_a_canvas_of_the_poses_aspect():
    image = render_pose(STANDING, aspect=0.8, width=400, height=500)
    assert (image.size, image.mode) == ((400, 500), "RGB")
    points = keypoint_pixels(STANDING, aspect=0.8, width=400, height=500)
    assert points[1] == (200, 110), "the same aspect: no bars, x * 400 and y * 500"
    pixels = _pixels(image)
    for index, point in enumerate(points):
        x, y = point
        assert tuple(pixels[y, x]) == COLORS[index], POSE_KEYPOINTS[index]


def test_limbs_are_drawn_dimmed_between_their_joints():
    image = render_pose(STANDING, aspect=0.8, width=400, height=500)
    points = keypoint_pixels(STANDING, aspect=0.8, width=400, height=500)
    pixels = _pixels(image)
    for index, (a, b) in enumerate(LIMBS):
        (xa, ya), (xb, yb) = points[a], points[b]
        middle = ((xa + xb) // 2, (ya + yb) // 2)
        expected = tuple(int(c * 0.6) for c in COLORS[index])
        assert tuple(pixels[middle[1], middle[0]]) == expected, f"limb {POSE_KEYPOINTS[a]}-{POSE_KEYPOINTS[b]}"


@pytest.mark.parametrize(
    ("width", "height", "frame"),
    [
        (600, 500, (100, 0, 400, 500)),  # wider than 4:5: bars left and right
        (400, 700, (0, 100, 400, 500)),  # taller: bars above and below
    ],
)
def test_the_frame_is_letterboxed_and_centred(width, height, frame):
    left, top, frame_w, frame_h = frame
    points = keypoint_pixels(STANDING, aspect=0.8, width=width, height=height)
    for (x, y, _), point in zip(STANDING, points, strict=True):
        assert point == (int(left + x * frame_w), int(top + y * frame_h))
    pixels = _pixels(render_pose(STANDING, aspect=0.8, width=width, height=height))
    for index, (x, y) in enumerate(points):
        assert tuple(pixels[y, x]) == COLORS[index]
    # The bars stay black.
    if left:
        assert not pixels[:, :left].any()
        assert not pixels[:, left + frame_w :].any()
    else:
        assert not pixels[:top].any()
        assert not pixels[top + frame_h :].any()


def test_unseen_keypoints_and_their_limbs_are_not_drawn():
    pose = [row.copy() for row in STANDING]
    pose[4][2] = 0.0  # right wrist unseen
    pose[10] = [0.0, 0.0, 0.0]  # right ankle unseen (and at the origin, as detectors leave them)
    image = render_pose(pose, aspect=0.8, width=400, height=500)
    full = render_pose(STANDING, aspect=0.8, width=400, height=500)
    points = keypoint_pixels(pose, aspect=0.8, width=400, height=500)
    assert points[4] is None
    assert points[10] is None
    pixels, full_pixels = _pixels(image), _pixels(full)
    wrist = keypoint_pixels(STANDING, aspect=0.8, width=400, height=500)[4]
    assert tuple(pixels[wrist[1], wrist[0]]) == (0, 0, 0)
    assert tuple(full_pixels[wrist[1], wrist[0]]) == COLORS[4]
    # Nothing at all is drawn near the origin, and the elbow-wrist limb (index 3) is gone.
    assert not pixels[:20, :20].any()
    limb_colour = np.array([int(c * 0.6) for c in COLORS[3]])
    assert not (pixels == limb_colour).all(axis=-1).any()
    assert (full_pixels == limb_colour).all(axis=-1).sum() > 100


def test_a_region_away_from_the_body_stays_black_and_lines_thicken_with_the_canvas():
    small = _pixels(render_pose(STANDING, aspect=0.8, width=256, height=320))
    large = _pixels(render_pose(STANDING, aspect=0.8, width=1024, height=1280))
    assert not small[:, :50].any(), "left of the right wrist (x 0.28) nothing is drawn"
    assert not large[:, :200].any()
    # The drawn share of the canvas is about the same: thickness grows with the canvas.
    small_share = small.any(axis=-1).mean()
    large_share = large.any(axis=-1).mean()
    assert large_share == pytest.approx(small_share, rel=0.15)
    assert 0.02 < small_share < 0.08


def test_a_pose_needs_all_eighteen_keypoints():
    with pytest.raises(ValueError, match="18 keypoints"):
        render_pose(STANDING[:17], aspect=0.8, width=64, height=80)
