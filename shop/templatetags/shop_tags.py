from django import template

from shop import selectors
from shop.links import buy_url

register = template.Library()


@register.filter
def won(value) -> str:
    """12345 → '12,345원' (prices are KRW integers)."""
    if value is None:
        return ""
    return f"{round(value):,}원"


@register.filter
def discount_percent(product) -> int | None:
    """12 when the product is 12 % under its reference price (a deal); None otherwise."""
    return selectors.discount_percent(product)


@register.simple_tag
def buy_link(offer, recommendation=None) -> str:
    return buy_url(offer_id=offer.pk, recommendation_id=recommendation.pk if recommendation else None)


@register.simple_tag(takes_context=True)
def localized(context, obj, field: str) -> str:
    """obj.<field>_ko in Korean, obj.<field>_en otherwise."""
    language = context.get("LANGUAGE_CODE", "en")
    return getattr(obj, f"{field}_ko" if language == "ko" else f"{field}_en", "")
