"""Buy links: /go/<token>/ where the token is a signed (offer, recommendation) pair.

The redirect target is always the stored offer's link, never anything from the request, and a
token that was tampered with does not verify: 404.

An offer's link is the page Naver gave for that very item (a product page on Naver or a mall).
Only the curated fallback links to a search, and `is_search_link` is how the pages and the API
tell the two apart: "Buy" for a product page, "Search on <mall>" for a search.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

from django.core import signing
from django.urls import reverse

SALT = "ontop.shop.go"
# The query parameters malls' search pages take (Naver: query; Coupang: q; 11st: kwd; Gmarket: keyword).
_SEARCH_PARAMETERS = {"query", "q", "kwd", "keyword", "searchkeyword", "k"}


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


def is_search_link(url: str) -> bool:
    """A search results page (search.shopping.naver.com/search/all?query=…, coupang.com/np/search?q=…),
    not one product's page (smartstore.naver.com/…/products/1, search.shopping.naver.com/catalog/1)."""
    parsed = urlparse(url or "")
    host = (parsed.hostname or "").lower()
    if host == "search.naver.com":
        return True
    searches_path = any(segment.lower().startswith("search") for segment in parsed.path.split("/"))
    asks_query = any(name.lower() in _SEARCH_PARAMETERS for name in parse_qs(parsed.query))
    return searches_path and asks_query
