"""Photo quality for the profile studio: how sharp a photo is, and a perceptual hash to spot duplicates.

Sharpness is the variance of the Laplacian of the grey photo (Pech-Pacheco et al., 2000; the
"blur detection" rule of thumb that OpenCV users know): edges and fine texture give large second
derivatives, blur flattens them. The number depends on the image's scale (downscaling a photo
makes its edges steeper), so every photo is measured at one fixed check size: its longer side
resized to `CHECK_LONG_SIDE` px. At that size the usual threshold of 100 (grey levels 0-255, the
4-neighbour Laplacian kernel that both `cv2.Laplacian` and `scipy.ndimage.laplace` use) separates
photos that are clearly out of focus or shaken from usable ones.

512 px is deliberately coarse: the area-averaging downscale hides mild softness and the blurred
background of a phone's portrait mode (the subject's edges still dominate the variance), so only
photos a person would also call blurry fail. Training at 1024 px tolerates mild softness far
better than a rejected photo annoys its owner.
"""

from __future__ import annotations

import imagehash
import numpy as np
from PIL import Image
from scipy import ndimage

CHECK_LONG_SIDE = 512
# The default minimum sharpness at CHECK_LONG_SIDE (ONTOP_GPU_SUBJECT_MIN_SHARPNESS overrides it).
DEFAULT_MIN_SHARPNESS = 100.0


def check_size(width: int, height: int) -> tuple[int, int]:
    """The photo's size at the check scale: longer side CHECK_LONG_SIDE, aspect ratio kept."""
    scale = CHECK_LONG_SIDE / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def sharpness(image: Image.Image) -> float:
    """Variance of the Laplacian of the grey image resized to the check size (higher is sharper)."""
    grey = image.convert("L")
    size = check_size(*grey.size)
    if size != grey.size:
        # Area averaging when shrinking (no ringing that would invent edges); bilinear when
        # enlarging a small photo (no overshoot either), which rightly makes it score softer.
        shrinking = size[0] < grey.width
        grey = grey.resize(size, Image.Resampling.BOX if shrinking else Image.Resampling.BILINEAR)
    pixels = np.asarray(grey, dtype=np.float64)
    return float(ndimage.laplace(pixels, mode="reflect").var())


def perceptual_hash(image: Image.Image) -> str:
    """imagehash's 64-bit DCT hash as 16 hex digits; compare with the contract's `phash_distance`."""
    return str(imagehash.phash(image.convert("RGB"), hash_size=8))
