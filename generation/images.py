"""Decode and normalise uploaded photos. Trust the pixels, never the filename or content type."""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError
from pillow_heif import register_heif_opener

register_heif_opener()  # iPhones upload HEIC; it is decoded here and stored as JPEG

# Anything bigger is refused before decoding (a phone photo is ~12-50 MP).
MAX_PIXELS = 64_000_000
MIN_SIDE = 64
MAX_SIDE = 12_000
ACCEPTED_FORMATS = {"JPEG", "PNG", "WEBP", "MPO", "HEIF"}


class ImageRejected(ValueError):
    """The file is not an image we can use; the message is meant for the person who sent it."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class NormalisedImage:
    data: bytes
    width: int
    height: int


def _trailing_bytes(raw: bytes, fmt: str) -> int:
    """Bytes after the image's own end: where a polyglot hides its second file."""
    if fmt in ("JPEG", "MPO"):
        end = raw.rfind(b"\xff\xd9")
        return len(raw) - (end + 2) if end >= 0 else len(raw)
    if fmt == "PNG":
        end = raw.rfind(b"IEND")
        return len(raw) - (end + 8) if end >= 0 else len(raw)
    if fmt == "WEBP" and raw[:4] == b"RIFF":
        return len(raw) - (8 + int.from_bytes(raw[4:8], "little"))
    return 0


MAX_TRAILING_BYTES = 64  # some cameras pad a few bytes after the end marker


def normalise_photo(raw: bytes, *, max_bytes: int) -> NormalisedImage:
    """Return an upright RGB JPEG without any metadata (EXIF/GPS are dropped by re-encoding)."""
    if len(raw) > max_bytes:
        raise ImageRejected("too_large", f"The photo is larger than {max_bytes // (1024 * 1024)} MB.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(raw))
            if image.format not in ACCEPTED_FORMATS:
                raise ImageRejected("unsupported_format", "Please upload a JPEG, PNG, WebP or HEIC photo.")
            if _trailing_bytes(raw, image.format) > MAX_TRAILING_BYTES:
                raise ImageRejected("not_an_image", "This file carries more than a photo. Please upload a plain photo.")
            width, height = image.size
            if width * height > MAX_PIXELS or max(width, height) > MAX_SIDE:
                raise ImageRejected("too_many_pixels", "The photo's dimensions are too large.")
            if min(width, height) < MIN_SIDE:
                raise ImageRejected("too_small", f"The photo must be at least {MIN_SIDE} pixels on each side.")
            image.seek(0)  # first frame of an animated/multi-frame file
            image.load()
    except ImageRejected:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageRejected("too_many_pixels", "The photo's dimensions are too large.") from None
    except UnidentifiedImageError:
        raise ImageRejected("not_an_image", "This file is not a photo we can read.") from None
    except (OSError, SyntaxError, ValueError):
        raise ImageRejected("not_an_image", "This photo is damaged or incomplete.") from None
    image = ImageOps.exif_transpose(image)
    if image.mode != "RGB":
        background = Image.new("RGB", image.size, (255, 255, 255))
        rgba = image.convert("RGBA")
        background.paste(rgba, mask=rgba.getchannel("A"))
        image = background
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=92, optimize=True)
    return NormalisedImage(data=out.getvalue(), width=image.width, height=image.height)
