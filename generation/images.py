"""Decode and normalise uploaded photos. Trust the pixels, never the filename or content type."""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from django.conf import settings
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _
from PIL import Image, ImageOps, UnidentifiedImageError
from pillow_heif import register_heif_opener

register_heif_opener()  # iPhones upload HEIC; it is decoded here and stored as JPEG

# Anything bigger is refused before decoding (a phone photo is ~12-50 MP).
MAX_PIXELS = 64_000_000
MIN_SIDE = 64
MAX_SIDE = 12_000
ACCEPTED_FORMATS = {"JPEG", "PNG", "WEBP", "MPO", "HEIF"}


# What each rejection says to the person, looked up when it is shown (in the reader's language).
REJECTION_MESSAGES: dict[str, Promise] = {
    "too_large": _("The photo is larger than %(max_mb)s MB."),
    "unsupported_format": _("Please upload a JPEG, PNG, WebP or HEIC photo."),
    "not_an_image": _("This file is not a photo we can read."),
    "damaged": _("This photo is damaged or incomplete."),
    "polyglot": _("This file carries more than a photo. Please upload a plain photo."),
    "too_many_pixels": _("The photo's dimensions are too large."),
    "too_small": _("The photo must be at least %(min_side)s pixels on each side."),
}


class ImageRejected(ValueError):
    """The file is not an image we can use. Carries a code and parameters, not a sentence: `message`
    is the sentence for the person who sent it, in the language active when it is read.

    `reason` picks the words when one code has several (the API's code stays "not_an_image" for a
    damaged file and for one that hides a second file).
    """

    def __init__(
        self, code: str, message: str | Promise | None = None, *, reason: str = "", params: dict | None = None
    ) -> None:
        super().__init__(code)
        self.code = code
        self.reason = reason or code
        self.params = dict(params or {})
        self._message = message

    @classmethod
    def too_large(cls, max_bytes: int) -> ImageRejected:
        return cls("too_large", params={"max_mb": max_bytes // (1024 * 1024)})

    @property
    def message(self) -> str:
        template = REJECTION_MESSAGES.get(self.reason)
        if template is None:  # a code without words of ours: the caller's own sentence
            template = self._message if self._message is not None else REJECTION_MESSAGES["not_an_image"]
        text = str(template)
        if "%(" not in text:
            return text
        # Callers that only say "too_large" get the configured limit.
        defaults = {"max_mb": settings.UPLOAD_MAX_BYTES // (1024 * 1024), "min_side": MIN_SIDE}
        return text % {**defaults, **self.params}

    def __str__(self) -> str:
        return self.message


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


# 16-bit greyscale PNGs open as one of these (values 0..65535). Converting them to 8 bits directly
# clips every value above 255 to white: they are scaled instead.
WIDE_GREY_MODES = {"I", "I;16", "I;16L", "I;16B", "I;16N"}
WIDE_GREY_MAX = 65535


def _wide_grey_to_8_bit(image: Image.Image) -> Image.Image:
    """0..65535 → 0..255 by scaling (v / 257, rounded); a 32-bit value past 65535 ends up white."""
    wide = image.convert("I") if image.mode != "I" else image
    # Pillow applies a linear `point` on "I" images exactly (scale and offset, truncated): +0.5 rounds.
    scaled = wide.point(lambda value: value * (255 / WIDE_GREY_MAX) + 0.5)
    return scaled.convert("L")  # "I" → "L" clamps to 0..255, which a 16-bit value never leaves


MAX_TRAILING_BYTES = 64  # some cameras pad a few bytes after the end marker


def normalise_photo(raw: bytes, *, max_bytes: int) -> NormalisedImage:
    """Return an upright RGB JPEG without any metadata (EXIF/GPS are dropped by re-encoding)."""
    if len(raw) > max_bytes:
        raise ImageRejected.too_large(max_bytes)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(raw))
            if image.format not in ACCEPTED_FORMATS:
                raise ImageRejected("unsupported_format")
            if _trailing_bytes(raw, image.format) > MAX_TRAILING_BYTES:
                raise ImageRejected("not_an_image", reason="polyglot")
            width, height = image.size
            if width * height > MAX_PIXELS or max(width, height) > MAX_SIDE:
                raise ImageRejected("too_many_pixels")
            if min(width, height) < MIN_SIDE:
                raise ImageRejected("too_small", params={"min_side": MIN_SIDE})
            image.seek(0)  # first frame of an animated/multi-frame file
            image.load()
    except ImageRejected:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageRejected("too_many_pixels") from None
    except UnidentifiedImageError:
        raise ImageRejected("not_an_image") from None
    except (OSError, SyntaxError, ValueError):
        raise ImageRejected("not_an_image", reason="damaged") from None
    image = ImageOps.exif_transpose(image)
    if image.mode in WIDE_GREY_MODES:
        image = _wide_grey_to_8_bit(image)
    if image.mode != "RGB":
        background = Image.new("RGB", image.size, (255, 255, 255))
        rgba = image.convert("RGBA")
        background.paste(rgba, mask=rgba.getchannel("A"))
        image = background
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=92, optimize=True)
    return NormalisedImage(data=out.getvalue(), width=image.width, height=image.height)
