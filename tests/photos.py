"""Synthetic test photos (no Django here: GPU-tier tests use them too)."""

from __future__ import annotations

import io

from PIL import Image, ImageDraw


def make_desk_photo(
    size: tuple[int, int] = (320, 240), *, fmt: str = "JPEG", exif_orientation: int | None = None
) -> bytes:
    """A synthetic desk: wood-coloured top, a dark 'monitor' and a 'keyboard'."""
    image = Image.new("RGB", size, (181, 136, 99))
    draw = ImageDraw.Draw(image)
    w, h = size
    draw.rectangle([w * 0.3, h * 0.1, w * 0.7, h * 0.45], fill=(20, 20, 25))
    draw.rectangle([w * 0.3, h * 0.6, w * 0.65, h * 0.72], fill=(230, 230, 230))
    buffer = io.BytesIO()
    if exif_orientation is not None:
        exif = Image.Exif()
        exif[0x0112] = exif_orientation
        exif[0x8825] = {1: "N", 2: (37.0, 33.0, 0.0)}  # GPS latitude: must never be stored
        image.save(buffer, format=fmt, exif=exif)
    else:
        image.save(buffer, format=fmt)
    return buffer.getvalue()
