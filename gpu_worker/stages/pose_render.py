"""Draw a pose the way OpenPose ControlNets were trained to read it (our own renderer, no OpenCV).

The picture is what the OpenPose annotator of ControlNet 1.1 draws for a body: a black canvas, the
17 body limbs as filled ellipses in their standard colours, the whole canvas then dimmed to 60 %
(so limbs are darker than joints), and the 18 joints as filled dots in full colour on top. The
model learnt limbs and joints by these exact colours, so they are part of the conditioning, not
decoration.

A pose is stored in its own frame (x, y in 0-1, frame width / height = `aspect`). The frame is
fitted into the canvas with its proportions kept (letterboxed, centred), so a 4:5 pose drawn on a
1:1 canvas stays a 4:5 body rather than being stretched.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw

from gpu_worker.contract.portrait import POSE_KEYPOINTS

# The 17 body limbs as (from, to) indices into POSE_KEYPOINTS (COCO-18 order), in OpenPose's order:
# neck-shoulders, arms, neck-hips, legs, neck-nose, then the eyes and ears. (OpenPose lists two more,
# ear-shoulder, but its ControlNet annotator never draws them.)
LIMBS: tuple[tuple[int, int], ...] = (
    (1, 2),
    (1, 5),
    (2, 3),
    (3, 4),
    (5, 6),
    (6, 7),
    (1, 8),
    (8, 9),
    (9, 10),
    (1, 11),
    (11, 12),
    (12, 13),
    (1, 0),
    (0, 14),
    (14, 16),
    (0, 15),
    (15, 17),
)
# OpenPose's 18 standard colours (RGB): joint i is drawn in COLORS[i], limb i in COLORS[i] dimmed.
COLORS: tuple[tuple[int, int, int], ...] = (
    (255, 0, 0),
    (255, 85, 0),
    (255, 170, 0),
    (255, 255, 0),
    (170, 255, 0),
    (85, 255, 0),
    (0, 255, 0),
    (0, 255, 85),
    (0, 255, 170),
    (0, 255, 255),
    (0, 170, 255),
    (0, 85, 255),
    (0, 0, 255),
    (85, 0, 255),
    (170, 0, 255),
    (255, 0, 255),
    (255, 0, 170),
    (255, 0, 85),
)
# The annotator dims the limb layer to 60 % before the joints go on (uint8 truncation, as there).
LIMB_DIMMING = 0.6
# At the annotator's usual 512 px the limbs are ellipses 4 px thick (half-width) and joints dots of
# radius 4; both grow with the canvas so a 1024 px picture sees the same proportions.
REFERENCE_SIDE = 512
REFERENCE_STICK = 4.0


def _frame(aspect: float, width: int, height: int) -> tuple[float, float, float, float]:
    """(left, top, frame width, frame height) of the pose's frame letterboxed into the canvas."""
    if aspect <= 0:
        raise ValueError("a pose's aspect must be positive")
    if width / height > aspect:  # the canvas is wider than the frame: bars left and right
        frame_w, frame_h = height * aspect, float(height)
    else:  # taller (or the same): bars above and below
        frame_w, frame_h = float(width), width / aspect
    return (width - frame_w) / 2, (height - frame_h) / 2, frame_w, frame_h


def keypoint_pixels(
    keypoints: list[list[float]], *, aspect: float, width: int, height: int
) -> list[tuple[int, int] | None]:
    """Each keypoint's canvas pixel (x, y), or None where it was not seen (confidence 0)."""
    left, top, frame_w, frame_h = _frame(aspect, width, height)
    pixels: list[tuple[int, int] | None] = []
    for x, y, confidence in keypoints:
        if confidence <= 0:
            pixels.append(None)
            continue
        # x = 1 is the frame's far edge; clamped so an edge keypoint is still drawn on the canvas.
        px = min(width - 1, max(0, math.floor(left + x * frame_w)))
        py = min(height - 1, max(0, math.floor(top + y * frame_h)))
        pixels.append((px, py))
    return pixels


def _limb_polygon(start: tuple[int, int], end: tuple[int, int], half_width: float) -> list[tuple[float, float]]:
    """The filled ellipse OpenPose draws for a limb: its long axis from joint to joint."""
    (x0, y0), (x1, y1) = start, end
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    half_length = math.hypot(x1 - x0, y1 - y0) / 2
    angle = math.atan2(y1 - y0, x1 - x0)
    t = np.linspace(0.0, 2 * math.pi, 72, endpoint=False)
    ex, ey = half_length * np.cos(t), half_width * np.sin(t)
    cos, sin = math.cos(angle), math.sin(angle)
    return list(zip((cx + ex * cos - ey * sin).tolist(), (cy + ex * sin + ey * cos).tolist(), strict=True))


def render_pose(keypoints: list[list[float]], *, aspect: float, width: int, height: int) -> Image.Image:
    """The OpenPose picture of one body (POSE_KEYPOINTS order) on a width x height black RGB canvas."""
    if len(keypoints) != len(POSE_KEYPOINTS):
        raise ValueError(f"a pose has {len(POSE_KEYPOINTS)} keypoints, not {len(keypoints)}")
    points = keypoint_pixels(keypoints, aspect=aspect, width=width, height=height)
    stick = max(1.0, REFERENCE_STICK * min(width, height) / REFERENCE_SIDE)
    limbs = Image.new("RGB", (width, height))
    draw = ImageDraw.Draw(limbs)
    for (a, b), color in zip(LIMBS, COLORS, strict=False):
        start, end = points[a], points[b]
        if start is None or end is None:
            continue  # a limb needs both of its joints
        draw.polygon(_limb_polygon(start, end, stick), fill=color)
    dimmed = (np.asarray(limbs) * LIMB_DIMMING).astype(np.uint8)  # float64, as numpy did there
    canvas = Image.fromarray(dimmed)
    draw = ImageDraw.Draw(canvas)
    radius = round(stick)
    for point, color in zip(points, COLORS, strict=True):
        if point is None:
            continue
        x, y = point
        draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=color)
    return canvas
