"""Skin colour and the warm/cool grade (contract/tone.py says how a reading becomes a tone).

Reading a photo's skin: grey-world white balance estimated on the photo around the skin (the
room's light would otherwise be read as the skin's undertone; see skin_reading for why the skin
itself is left out of the estimate), CIELAB, then the median over the skin mask. A face's skin mask
comes from Grounding DINO's "face" box and SAM 2.

Grading a portrait: a Reinhard colour transfer in CIELAB (the picture's a*/b* mean and spread moved
to a warm or cool reference), blended with the original by a strength.

Colour science is our own numpy (sRGB IEC 61966-2-1 and CIE 1976 L*a*b* with the D65 white): it is
a dozen lines, and the libraries that have it (scikit-image, colour-science) would be a large
dependency for them.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from gpu_worker.contract.tone import MIN_SKIN_PIXELS, SkinReading
from gpu_worker.stages.detect import detect
from gpu_worker.stages.segment import segment
from gpu_worker.stages.types import Detection

# ---- colour conversions --------------------------------------------------------------------

# Linear sRGB → CIE XYZ (D65), IEC 61966-2-1; its inverse is computed rather than typed in.
SRGB_TO_XYZ = np.array(
    [
        [0.4124564, 0.3575761, 0.1804375],
        [0.2126729, 0.7151522, 0.0721750],
        [0.0193339, 0.1191920, 0.9503041],
    ]
)
XYZ_TO_SRGB = np.linalg.inv(SRGB_TO_XYZ)
# The D65 reference white as the matrix maps sRGB white (1, 1, 1), so white is exactly L* 100, a* = b* = 0.
D65_WHITE = SRGB_TO_XYZ.sum(axis=1)
_DELTA = 6 / 29  # CIELAB's linear-segment knee


def srgb_to_linear(rgb: np.ndarray) -> np.ndarray:
    """sRGB-encoded 0-1 → linear light 0-1 (the standard piecewise curve)."""
    rgb = np.asarray(rgb, dtype=np.float64)
    return np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(linear: np.ndarray) -> np.ndarray:
    linear = np.clip(np.asarray(linear, dtype=np.float64), 0.0, 1.0)
    return np.where(linear <= 0.0031308, linear * 12.92, 1.055 * linear ** (1 / 2.4) - 0.055)


def srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """sRGB 0-1 (..., 3) → CIELAB (..., 3) under D65:

    XYZ = M · linear(rgb);  f(t) = t^(1/3) above (6/29)^3, else t / (3 (6/29)^2) + 4/29;
    L* = 116 f(Y/Yn) - 16;  a* = 500 (f(X/Xn) - f(Y/Yn));  b* = 200 (f(Y/Yn) - f(Z/Zn)).
    """
    xyz = srgb_to_linear(rgb) @ SRGB_TO_XYZ.T / D65_WHITE
    f = np.where(xyz > _DELTA**3, np.cbrt(xyz), xyz / (3 * _DELTA**2) + 4 / 29)
    fx, fy, fz = f[..., 0], f[..., 1], f[..., 2]
    return np.stack([116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)], axis=-1)


def lab_to_srgb(lab: np.ndarray) -> np.ndarray:
    """CIELAB (..., 3) → sRGB 0-1 (..., 3), the exact inverse of `srgb_to_lab`; out-of-gamut colours are clipped."""
    lab = np.asarray(lab, dtype=np.float64)
    fy = (lab[..., 0] + 16) / 116
    f = np.stack([fy + lab[..., 1] / 500, fy, fy - lab[..., 2] / 200], axis=-1)
    xyz = np.where(f > _DELTA, f**3, 3 * _DELTA**2 * (f - 4 / 29)) * D65_WHITE
    return linear_to_srgb(xyz @ XYZ_TO_SRGB.T)


def _to_float(rgb: np.ndarray) -> np.ndarray:
    rgb = np.asarray(rgb)
    return rgb.astype(np.float64) / 255 if rgb.dtype == np.uint8 else rgb.astype(np.float64)


# ---- white balance and the skin reading ----------------------------------------------------


def grey_world(rgb: np.ndarray, *, ignore: np.ndarray | None = None) -> np.ndarray:
    """Grey-world white balance: sRGB 0-1 (H, W, 3) in, sRGB 0-1 out (uint8 input is read as /255).

    The grey-world assumption: a scene averages to grey, so a channel whose mean stands out is the
    light's colour, not the scene's. Each channel gets one gain, in linear light (a light's cast is
    a per-channel multiplication there, not on the gamma-encoded values), so that the three
    channel means become equal to their common average (overall brightness is kept). Values
    pushed past 1 are clipped; a channel with no light at all is left alone.

    `ignore` (bool, H x W) leaves pixels out of the estimate (they are still corrected): the skin
    being measured, whose own orange would otherwise be taken for the light's (see skin_reading).
    """
    linear = srgb_to_linear(_to_float(rgb))
    estimate = linear if ignore is None else linear[~ignore]
    means = estimate.reshape(-1, 3).mean(axis=0) if estimate.size else linear.reshape(-1, 3).mean(axis=0)
    target = means.mean()
    gains = np.where(means > 1e-6, target / np.maximum(means, 1e-6), 1.0)
    return linear_to_srgb(linear * gains)


# Eyes, brows, nostrils and stray hair are the darkest pixels of a face mask, specular highlights
# the lightest: only pixels whose L* lies in this percentile range are measured.
TRIM_PERCENTILES = (10.0, 90.0)


# The white balance is estimated from the photo outside the skin mask when at least this share of
# the photo is left there; a face filling almost the whole photo is balanced on all of it.
MIN_SCENE_SHARE = 0.1


def skin_reading(image: Image.Image, mask: np.ndarray) -> SkinReading | None:
    """The median CIELAB colour of the skin under `mask` (bool, H x W) after grey-world balance.

    The balance's estimate leaves the skin itself out: measured on synthetic patches, a face
    covering a quarter of the photo and included in the grey-world mean lost half its a* and moved
    a neutral skin's hue from 58° to 65° (called warm), because the correction removes the skin's
    own orange as if it were the light's. Of the mask's pixels only those inside the central
    lightness range (TRIM_PERCENTILES) are measured; `pixels` counts them. None when fewer than
    MIN_SKIN_PIXELS are left.
    """
    rgb = np.asarray(image.convert("RGB"))
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != rgb.shape[:2]:
        raise ValueError(f"the mask is {mask.shape[::-1]}, the image {image.size}")
    if int(mask.sum()) < MIN_SKIN_PIXELS:
        return None
    scene_share = 1 - mask.mean()
    balanced = grey_world(rgb, ignore=mask if scene_share >= MIN_SCENE_SHARE else None)
    lab = srgb_to_lab(balanced[mask])
    low, high = np.percentile(lab[:, 0], TRIM_PERCENTILES)
    kept = lab[(lab[:, 0] >= low) & (lab[:, 0] <= high)]
    if len(kept) < MIN_SKIN_PIXELS:
        return None
    lightness, a, b = np.median(kept, axis=0).tolist()
    return SkinReading(lightness=round(lightness, 3), a=round(a, 3), b=round(b, 3), pixels=len(kept))


FACE_LABEL = "face"
# A SAM mask covering less than this share of the face box is a failed segmentation (the tiny
# preset's random SAM always fails); the face's skin is then read from an ellipse in the box.
MIN_FACE_MASK_SHARE = 0.2
# That fallback ellipse spans this share of the box's width and height around its centre: cheeks,
# nose and forehead, little hair or background. The lightness trim removes the eyes.
FALLBACK_ELLIPSE = 0.7


def face_skin_mask(segmenter, image: Image.Image, face: Detection) -> np.ndarray:
    """The face's skin pixels: SAM 2 prompted by the face box, kept strictly inside the box (its
    mask may spill onto hair and shoulders); `face_ellipse` when SAM found too little."""
    (mask,) = segment(segmenter, image, [face])
    box = _box_mask(image.size, face.box)
    mask = mask & box
    if mask.sum() < MIN_FACE_MASK_SHARE * box.sum():
        return face_ellipse(image.size, face.box)
    return mask


def face_ellipse(size: tuple[int, int], box: tuple[float, ...]) -> np.ndarray:
    """The central ellipse of a face box (FALLBACK_ELLIPSE of its width and height), as a mask of `size`."""
    width, height = size
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    rx = max(0.5, FALLBACK_ELLIPSE * (box[2] - box[0]) / 2)
    ry = max(0.5, FALLBACK_ELLIPSE * (box[3] - box[1]) / 2)
    yy, xx = np.mgrid[:height, :width]
    return ((xx + 0.5 - cx) / rx) ** 2 + ((yy + 0.5 - cy) / ry) ** 2 <= 1.0


def face_box_reading(image: Image.Image, face: Detection, *, segmenter) -> SkinReading | None:
    """The skin reading of a face already found (the photo check has its box): SAM 2 → skin_reading."""
    image = image.convert("RGB")
    return skin_reading(image, face_skin_mask(segmenter, image, face))


def face_skin_reading(image: Image.Image, *, detector, segmenter, box_threshold: float = 0.3) -> SkinReading | None:
    """The skin reading of the best-scoring face in `image`; None without a face or enough skin."""
    image = image.convert("RGB")
    faces = detect(detector, image, [FACE_LABEL], box_threshold=box_threshold, max_detections=1)
    if not faces:
        return None
    return face_box_reading(image, faces[0], segmenter=segmenter)


def _box_mask(size: tuple[int, int], box: tuple[float, ...]) -> np.ndarray:
    width, height = size
    mask = np.zeros((height, width), dtype=bool)
    x0, y0 = max(0, int(np.floor(box[0]))), max(0, int(np.floor(box[1])))
    x1, y1 = min(width, int(np.ceil(box[2]))), min(height, int(np.ceil(box[3])))
    mask[y0:y1, x0:x1] = True
    return mask


# ---- the warm/cool grade -------------------------------------------------------------------

# The grade's targets: the a*/b* mean and spread a portrait is moved towards. Hand-picked, not
# measured: warm is a golden-hour cast (mean hue ~73°, the yellow-orange of low sun), cool an
# overcast-daylight one (slightly blue; a* stays a little red so skin does not turn grey); the spreads are
# about an ordinary portrait's, so a grade shifts colour rather than saturating it. Lightness is
# not transferred: the grade changes colour, never exposure. Re-tune on real pictures.
TONE_REFERENCES: dict[str, dict[str, tuple[float, float]]] = {
    "warm": {"a": (6.0, 12.0), "b": (20.0, 16.0)},  # channel: (mean, standard deviation)
    "cool": {"a": (2.0, 10.0), "b": (-8.0, 12.0)},
}
_LAB_CHANNELS = (("a", 1), ("b", 2))
# A flat picture (a tiny spread) would have its few colours blown up by std_ref / std_src: the
# spread's scale factor stays within these bounds.
SPREAD_SCALE_BOUNDS = (0.5, 2.0)


def tone_grade(image: Image.Image, tone: str, *, strength: float = 0.35) -> Image.Image:
    """The picture moved towards the warm or cool reference by `strength` (0-1); "neutral": a copy."""
    if tone == "neutral" or strength == 0:
        return image.copy()
    if tone not in TONE_REFERENCES:
        raise ValueError(f"unknown tone {tone!r}")
    if not 0.0 <= strength <= 1.0:
        raise ValueError("strength is between 0 and 1")
    lab = srgb_to_lab(np.asarray(image.convert("RGB"), dtype=np.float64) / 255)
    graded = lab.copy()
    for name, channel in _LAB_CHANNELS:
        ref_mean, ref_std = TONE_REFERENCES[tone][name]
        values = lab[..., channel]
        mean, std = float(values.mean()), float(values.std())
        scale = float(np.clip(ref_std / std, *SPREAD_SCALE_BOUNDS)) if std > 1e-6 else 1.0
        transferred = (values - mean) * scale + ref_mean  # Reinhard et al. 2001, per channel
        graded[..., channel] = (1 - strength) * values + strength * transferred
    rgb = lab_to_srgb(graded)
    return Image.fromarray(np.round(rgb * 255).astype(np.uint8))
