"""Image decoding on the GPU side: the web tier already normalised uploads, but never trust input."""

from __future__ import annotations

import io
import warnings
from collections.abc import Callable
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

from gpu_worker.errors import BadImage

MAX_PIXELS = 64_000_000
ORIENTATION_TAG = 0x0112


# EXIF orientations that turn the picture a quarter: the stored width is the upright height.
QUARTER_TURNS = (5, 6, 7, 8)


@dataclass(frozen=True)
class Photo:
    image: Image.Image  # upright RGB; possibly decoded at a reduced scale (`decode_photo`)
    size: tuple[int, int]  # the upright photo's full-resolution size


def decode_rgb(data: bytes) -> Image.Image:
    """Decode, apply EXIF orientation and convert to RGB; refuse decompression bombs."""
    return decode_photo(data).image


def decode_photo(data: bytes, *, needed: Callable[[tuple[int, int]], tuple[int, int]] | None = None) -> Photo:
    """`decode_rgb`, and the photo's full upright size. With `needed` (full upright size -> the
    upright size the caller needs at least), a JPEG at least twice that size on both sides is
    decoded in draft mode: libjpeg's DCT scaling by 1/2, 1/4 or 1/8, the smallest scale still at
    least `needed`. A 12 MP phone photo then decodes in a fraction of the time, and the caller's
    own resize has a quarter (or less) of the pixels to filter.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            if image.width * image.height > MAX_PIXELS:
                raise BadImage("The photo has too many pixels.")
            turned = image.getexif().get(ORIENTATION_TAG) in QUARTER_TURNS
            size = (image.height, image.width) if turned else image.size
            if needed is not None and image.format == "JPEG":
                width, height = needed(size)
                image.draft(None, (height, width) if turned else (width, height))
            image.load()
    except BadImage:
        raise
    except (
        UnidentifiedImageError,
        OSError,
        SyntaxError,
        ValueError,
        Image.DecompressionBombError,
        Image.DecompressionBombWarning,
    ):
        raise BadImage("The photo could not be read; it may be damaged.") from None
    return Photo(image=ImageOps.exif_transpose(image).convert("RGB"), size=size)
