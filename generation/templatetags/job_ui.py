"""Template helpers shared by every product's pages: words in the reader's language, local times,
and the colours of a style that has no preview picture."""

from __future__ import annotations

import hashlib
import math
import re
from datetime import datetime
from zoneinfo import ZoneInfo

from django import template
from django.utils import formats, timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import get_language
from django.utils.translation import gettext as _

register = template.Library()

# The fallback a page shows before (or without) JavaScript, which writes it in the reader's own zone.
SERVER_ZONE = ZoneInfo("Asia/Seoul")


def _field(obj, name: str):
    if isinstance(obj, dict):
        return obj.get(name)
    return getattr(obj, name, None)


@register.simple_tag
def in_language(obj, field: str) -> str:
    """obj.<field>_ko on Korean pages when there is one (and it is not empty), else obj.<field>.

    For values a product writes in both languages (a planned item's name and placement)."""
    if (get_language() or "").startswith("ko"):
        korean = _field(obj, f"{field}_ko")
        if korean:
            return str(korean)
    value = _field(obj, field)
    return "" if value is None else str(value)


@register.simple_tag
def local_time(value: datetime | None) -> SafeString | str:
    """A <time> that the page's local-time.js rewrites in the reader's time zone and language; until
    then (or without JavaScript) it reads as Korea's time, saying so."""
    if value is None:
        return ""
    if timezone.is_naive(value):
        value = timezone.make_aware(value)
    seoul = timezone.localtime(value, SERVER_ZONE)
    fallback = _("%(when)s (Korea time)") % {"when": formats.date_format(seoul, "DATETIME_FORMAT")}
    return format_html('<time datetime="{}" data-local-time>{}</time>', value.isoformat(), fallback)


# Words in a style's name or prompt that say what colour it is.
COLOUR_WORDS: dict[str, str] = {
    "white": "#f5f2ec",
    "minimal": "#e7e4dd",
    "minimalist": "#e7e4dd",
    "clean": "#eef1f3",
    "cream": "#f3ead8",
    "beige": "#e6d5b8",
    "light": "#fff4dc",
    "soft": "#f1e1d1",
    "wood": "#a8744f",
    "wooden": "#a8744f",
    "oak": "#c49a6c",
    "walnut": "#6b4a34",
    "warm": "#e3a56f",
    "cozy": "#d2936a",
    "black": "#1e1e24",
    "dark": "#272733",
    "neon": "#ff2bd6",
    "rgb": "#00d9ff",
    "gaming": "#7c3aed",
    "gamer": "#7c3aed",
    "plant": "#4f8a5b",
    "plants": "#4f8a5b",
    "green": "#3f8f5a",
    "blue": "#3b6fd8",
    "navy": "#243b6b",
    "cool": "#8fb8de",
    "pink": "#f4a6c0",
    "pastel": "#f6d5e2",
    "red": "#d64545",
    "orange": "#f08a3c",
    "yellow": "#f2c94c",
    "gold": "#d4af37",
    "purple": "#8e5bd8",
    "grey": "#9aa0a6",
    "gray": "#9aa0a6",
    "industrial": "#6d6f73",
    "concrete": "#a3a19c",
    "retro": "#e07a3f",
    "vintage": "#b98b5e",
}


def style_colours(style) -> list[str]:
    """Two or three colours for a style: those its own words name (name, slug, prompt), in order, then
    ones derived from its slug, so that every style's placeholder looks different."""
    text = " ".join(str(_field(style, name) or "") for name in ("name_en", "slug", "prompt_addition", "description_en"))
    colours: list[str] = []
    for word in re.findall(r"[a-z]+", text.lower()):
        colour = COLOUR_WORDS.get(word)
        if colour and colour not in colours:
            colours.append(colour)
    digest = hashlib.sha256(str(_field(style, "slug") or "").encode()).digest()
    hue = int.from_bytes(digest[:2], "big") % 360
    derived = [f"hsl({(hue + 150) % 360}, 45%, 62%)", f"hsl({hue}, 55%, 72%)"]
    base = (colours + derived)[:2] if colours else derived
    return [*base, f"hsl({(hue + 60) % 360}, 60%, 80%)"]


@register.filter
def style_swatch(style) -> str:
    """A CSS background for a style without a preview picture (deterministic: the same style always
    looks the same, and two styles do not look alike)."""
    digest = hashlib.sha256(str(_field(style, "slug") or "").encode()).digest()
    angle = 110 + digest[2] % 70
    first, second, third = style_colours(style)
    return (
        f"background: radial-gradient(circle at {20 + digest[3] % 60}% 30%, {third} 0 18%, transparent 19%),"
        f" linear-gradient({angle}deg, {first}, {second});"
    )


def _minutes(seconds: float) -> int:
    return max(1, math.ceil(seconds / 60))


@register.simple_tag
def job_eta_text(state) -> str:
    """What a progress page says next to the stage, as static/js/job.js writes it while it polls.

    Queued: how many jobs are ahead (0: "You're next") and about how long the wait is. Running:
    the time left, never while the job is only starting (no steps done, nothing to go on)."""
    position, eta = state.queue_position, state.eta_seconds
    if state.status == "queued" or position is not None:
        if position is None:
            return ""
        parts = [_("%(n)s ahead of you") % {"n": position} if position > 0 else _("You're next")]
        if eta:
            parts.append(_("less than a minute") if eta < 60 else _("about %(m)s min") % {"m": _minutes(eta)})
        return " · ".join(parts)
    if state.stage == "starting" or not eta:
        return ""
    if eta < 60:
        return _("about %(s)s s left") % {"s": eta}
    return _("about %(m)s min left") % {"m": _minutes(eta)}
