"""Buy links: /go/<token>/ where the token is a signed (offer, recommendation) pair.

The redirect target is always the stored offer's link, never anything from the request, and a
token that was tampered with does not verify: 404.
"""

from __future__ import annotations

from django.core import signing
from django.urls import reverse

SALT = "ontop.shop.go"


def buy_url(*, offer_id: int, recommendation_id: int | None = None) -> str:
    token = signing.Signer(salt=SALT).sign_object([offer_id, recommendation_id], compress=False)
    return reverse("shop:go", args=[token])


def read_token(token: str) -> tuple[int, int | None] | None:
    try:
        offer_id, recommendation_id = signing.Signer(salt=SALT).unsign_object(token)
    except (signing.BadSignature, ValueError, TypeError):
        return None
    if not isinstance(offer_id, int) or not (recommendation_id is None or isinstance(recommendation_id, int)):
        return None
    return offer_id, recommendation_id
