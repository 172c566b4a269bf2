"""A month of the diary as one printable A4 page: a calendar grid with each day's picture.

Made with Pillow only (`Image.save(..., "PDF")`). The first words of each entry are written under
its picture when a CJK-capable font (Noto Sans CJK) is installed; without one the sheet still has
the dates and pictures, and its title falls back to digits so no glyph is ever a blank box.
"""

from __future__ import annotations

import calendar
import datetime
import functools
import glob
import io
import logging
import subprocess
from dataclasses import dataclass

from django.core.files.storage import default_storage
from django.utils import translation
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from PIL import Image, ImageDraw, ImageFont, ImageOps

from diary import selectors
from generation import selectors as job_selectors

logger = logging.getLogger(__name__)

DPI = 150
PAGE = (1240, 1754)  # A4 at 150 dpi
MARGIN = 60
TITLE_HEIGHT = 120
HEADER_HEIGHT = 44
FOOTER_HEIGHT = 40
CELL_PADDING = 6
DATE_HEIGHT = 30
TEXT_SIZE = 17
LINE_HEIGHT = 24  # Noto CJK's line spacing at TEXT_SIZE
MIN_TEXT_LINES = 2  # room kept under every picture for the first words
MAX_TEXT_LINES = 6

INK = (40, 40, 48)
MUTED = (140, 140, 150)
GRID = (205, 205, 212)
SUNDAY = (200, 60, 60)
SATURDAY = (50, 90, 170)
BLANK = (246, 246, 248)
NO_PICTURE = (232, 232, 236)


@dataclass(frozen=True)
class Fonts:
    title: ImageFont.FreeTypeFont | ImageFont.ImageFont
    label: ImageFont.FreeTypeFont | ImageFont.ImageFont
    text: ImageFont.FreeTypeFont | ImageFont.ImageFont | None  # None: no CJK font, no entry text
    cjk: bool


@functools.cache
def cjk_font() -> tuple[str, int] | None:
    """(path, face index) of a font with Hangul (and Latin), or None. fontconfig first, then a glob."""
    try:
        found = subprocess.run(
            ["fc-match", "-f", "%{file}|%{index}", "Noto Sans CJK KR"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        found = ""
    if "|" in found:
        path, index = found.rsplit("|", 1)
        if "cjk" in path.lower():  # fontconfig answers its best guess (DejaVu) when there is none
            return path, int(index or 0)
    for pattern in ("/usr/share/fonts/**/NotoSansCJK*-Regular.tt[cf]", "/usr/share/fonts/**/NotoSansCJK*.otf"):
        paths = sorted(glob.glob(pattern, recursive=True))
        if paths:
            # In the collection the faces are JP, KR, SC, TC, HK: take the Korean one.
            return paths[0], 1 if paths[0].endswith(".ttc") else 0
    return None


def _fonts(font: tuple[str, int] | None) -> Fonts:
    if font is not None:
        path, index = font
        try:
            return Fonts(
                title=ImageFont.truetype(path, 46, index=index),
                label=ImageFont.truetype(path, 20, index=index),
                text=ImageFont.truetype(path, TEXT_SIZE, index=index),
                cjk=True,
            )
        except OSError:
            logger.warning("could not load the CJK font %s; the diary export goes without text", path)
    return Fonts(title=ImageFont.load_default(46), label=ImageFont.load_default(20), text=None, cjk=False)


@dataclass(frozen=True)
class SheetLayout:
    """Where everything goes on the page (pixels at 150 dpi), so tests can look where a picture must be."""

    year: int
    month: int
    weeks: list[list[datetime.date]]

    @property
    def cell_size(self) -> tuple[int, int]:
        width = (PAGE[0] - 2 * MARGIN) // 7
        grid_height = PAGE[1] - 2 * MARGIN - TITLE_HEIGHT - HEADER_HEIGHT - FOOTER_HEIGHT
        return width, grid_height // len(self.weeks)

    @property
    def grid_top(self) -> int:
        return MARGIN + TITLE_HEIGHT + HEADER_HEIGHT

    def cell_box(self, day: datetime.date) -> tuple[int, int, int, int]:
        for row, week in enumerate(self.weeks):
            if day in week:
                width, height = self.cell_size
                left = MARGIN + week.index(day) * width
                top = self.grid_top + row * height
                return left, top, left + width, top + height
        raise KeyError(day)

    def picture_box(self, day: datetime.date) -> tuple[int, int, int, int]:
        """The area a day's picture is fitted into: aspect kept, at the top, centred across.
        The first words of the entry go under the picture, in what is left of the cell."""
        left, top, right, bottom = self.cell_box(day)
        return (
            left + CELL_PADDING,
            top + DATE_HEIGHT,
            right - CELL_PADDING,
            bottom - MIN_TEXT_LINES * LINE_HEIGHT - CELL_PADDING,
        )


def sheet_layout(year: int, month: int) -> SheetLayout:
    weeks = calendar.Calendar(selectors.FIRST_WEEKDAY).monthdatescalendar(year, month)
    return SheetLayout(year=year, month=month, weeks=weeks)


def month_sheet(*, owner, year: int, month: int, language: str) -> Image.Image:
    """The month's page as an RGB image (the PDF is this image)."""
    fonts = _fonts(cjk_font())
    layout = sheet_layout(year, month)
    entries = {e.entry_date: e for e in selectors.diary_entries_in_month(owner=owner, year=year, month=month)}
    sheet = Image.new("RGB", PAGE, "white")
    draw = ImageDraw.Draw(sheet)
    # Without a CJK font only Latin letters and digits can be drawn: labels then stay in English.
    with translation.override(language if fonts.cjk else "en"):
        title = date_format(datetime.date(year, month, 1), "YEAR_MONTH_FORMAT")
        subtitle = _("Picture diary")
        weekdays = [str(name) for name in selectors.WEEKDAY_SHORT]
    draw.text((MARGIN, MARGIN + TITLE_HEIGHT // 2), title, font=fonts.title, fill=INK, anchor="lm")
    title_end = MARGIN + draw.textlength(title, font=fonts.title) + 24
    draw.text((title_end, MARGIN + TITLE_HEIGHT // 2 + 8), subtitle, font=fonts.label, fill=MUTED, anchor="lm")
    width, _height = layout.cell_size
    colours = {0: SUNDAY, 6: SATURDAY}
    for column, name in enumerate(weekdays):
        center = (MARGIN + column * width + width // 2, MARGIN + TITLE_HEIGHT + HEADER_HEIGHT // 2)
        draw.text(center, name, font=fonts.label, fill=colours.get(column, MUTED), anchor="mm")
    for week in layout.weeks:
        for day in week:
            _draw_day(sheet, draw, layout, fonts, day, entries.get(day) if day.month == month else None)
    footer = (MARGIN, PAGE[1] - MARGIN - FOOTER_HEIGHT // 2)
    draw.text(footer, "OnTop", font=fonts.label, fill=MUTED, anchor="lm")
    return sheet


def _draw_day(sheet, draw, layout: SheetLayout, fonts: Fonts, day: datetime.date, entry) -> None:
    box = layout.cell_box(day)
    in_month = day.month == layout.month
    draw.rectangle(box, fill="white" if in_month else BLANK, outline=GRID, width=1)
    if not in_month:
        return
    colour = {calendar.SUNDAY: SUNDAY, calendar.SATURDAY: SATURDAY}.get(day.weekday(), INK)
    draw.text((box[0] + CELL_PADDING, box[1] + 4), str(day.day), font=fonts.label, fill=colour)
    if entry is None:
        return
    area = layout.picture_box(day)
    width, height = area[2] - area[0], area[3] - area[1]
    picture = _picture_of(entry, size=(width, height))
    if picture is None:
        # Nothing painted yet (or it failed): a quiet placeholder of the picture's shape.
        shape = (width, round(width * 3 / 4)) if entry.orientation == "landscape" else (width, height)
        picture_bottom = area[1] + min(shape[1], height)
        draw.rectangle((area[0], area[1], area[2], picture_bottom), fill=NO_PICTURE)
    else:
        sheet.paste(picture, (area[0] + (width - picture.width) // 2, area[1]))
        picture_bottom = area[1] + picture.height
    if fonts.text is not None:
        top = picture_bottom + CELL_PADDING
        room = min(MAX_TEXT_LINES, (box[3] - CELL_PADDING - top) // LINE_HEIGHT)
        for line in _first_words(entry.text, fonts.text, width, room):
            draw.text((area[0], top), line, font=fonts.text, fill=INK)
            top += LINE_HEIGHT


def _picture_of(entry, *, size: tuple[int, int]) -> Image.Image | None:
    picture = selectors.picture_of_the_day(entry)
    key = job_selectors.job_output_key(job=picture.job, role="result") if picture else None
    if not key:
        return None
    try:
        with default_storage.open(key, "rb") as handle:
            image = Image.open(handle)
            image.draft("RGB", size)  # JPEGs decode at a smaller scale; PNGs ignore it
            return ImageOps.contain(image.convert("RGB"), size, Image.Resampling.LANCZOS)
    except (OSError, ValueError):
        logger.warning("diary picture %s could not be read for the export", key)
        return None


def _first_words(text: str, font, width: int, max_lines: int) -> list[str]:
    """The text's beginning, wrapped to `width` pixels at spaces; a word too long for a line (or a run
    of Korean without spaces) is broken between characters. Cut with "…" when it does not fit."""
    if max_lines <= 0:
        return []
    lines: list[str] = []
    current = ""
    for word in " ".join(text.split()).split(" "):
        candidate = f"{current} {word}" if current else word
        if font.getlength(candidate) <= width:
            current = candidate
            continue
        if current and font.getlength(word) <= width:
            lines.append(current)
            current = word
        else:
            for char in f" {word}" if current else word:
                if font.getlength(current + char) <= width:
                    current += char
                else:
                    lines.append(current.rstrip())
                    current = char.lstrip()
        if len(lines) >= max_lines:
            break
    else:
        if current:
            lines.append(current)
        return lines[:max_lines]
    lines = lines[:max_lines]
    last = lines[-1]
    while last and font.getlength(last + "…") > width:
        last = last[:-1]
    lines[-1] = last.rstrip() + "…"
    return lines


def month_pdf(*, owner, year: int, month: int, language: str) -> bytes | None:
    """The month's page as a one-page PDF, or None when the person wrote nothing that month."""
    if not selectors.diary_entries_in_month(owner=owner, year=year, month=month).exists():
        return None
    sheet = month_sheet(owner=owner, year=year, month=month, language=language)
    buffer = io.BytesIO()
    sheet.save(buffer, "PDF", resolution=DPI, title=f"OnTop diary {year:04d}-{month:02d}")
    return buffer.getvalue()
