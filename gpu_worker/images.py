"""Image decoding on the GPU side: the web tier already normalised uploads, but never trust input."""

from __future__ import annotations

import io
import warnings

from PIL import Image, ImageOps, UnidentifiedImageError

from gpu_worker.errors import BadImage

MAX_PIXELS = 64_000_000


def decode_rgb(data: bytes) -> Image.Image:
    """Decode, apply EXIF orientation and convert to RGB; refuse decompression bombs."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            if image.width * image.height > MAX_PIXELS:
                raise BadImage("The photo has too many pixels.")
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
    return ImageOps.exif_transpose(image).convert("RGB")
