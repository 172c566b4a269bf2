from django import template
from django.utils.translation import get_language

from diary.models import MOOD_EMOJI, Mood

register = template.Library()


def _korean() -> bool:
    return (get_language() or "").startswith("ko")


@register.filter
def style_name(style) -> str:
    if style is None:
        return ""
    return style.name_ko if _korean() else style.name_en


@register.filter
def style_description(style) -> str:
    if style is None:
        return ""
    return style.description_ko if _korean() else style.description_en


@register.filter
def mood_label(code: str) -> str:
    """'happy' → '😊 Happy' in the reader's language ('' for no mood)."""
    if not code:
        return ""
    return f"{MOOD_EMOJI.get(code, '')} {Mood(code).label}".strip()


@register.filter
def mood_emoji(code: str) -> str:
    return MOOD_EMOJI.get(code, "")
