"""Naver Shopping Search API client: `GET /v1/search/shop.json`.

https://developers.naver.com/docs/serviceapi/search/shopping/shopping.md
Explicit timeouts; retries with exponential backoff on 5xx and network errors only; a bad
key (401/403) or a spent quota (429) fails at once with its own exception. Titles lose their
<b> highlight tags, prices become integers, and only https links to trusted hosts are kept.
"""

from __future__ import annotations

import html
import re
import time
from dataclasses import dataclass
from urllib.parse import urlparse

import httpx

SEARCH_PATH = "/v1/search/shop.json"
SORTS = ("sim", "date", "asc", "dsc")
_TAG = re.compile(r"<[^>]+>")


class NaverError(Exception):
    """Base class: the caller degrades to cached or curated offers."""


class NaverAuthError(NaverError):
    """401/403: the client id/secret are wrong or the app lacks the Search API. Never retried."""


class NaverQuotaExceeded(NaverError):
    """429: the app's daily call quota is spent."""


class NaverUnavailable(NaverError):
    """5xx, timeouts or network errors that outlasted the retries."""


class NaverBadResponse(NaverError):
    """The answer was not the JSON the API documents."""


@dataclass(frozen=True)
class NaverItem:
    title: str
    link: str
    image: str
    lprice: int | None
    hprice: int | None
    mall_name: str
    product_id: str
    product_type: int | None
    brand: str
    maker: str
    categories: tuple[str, ...]


@dataclass(frozen=True)
class NaverSearchResult:
    total: int
    items: list[NaverItem]


def clean_title(raw: str) -> str:
    return " ".join(html.unescape(_TAG.sub("", raw or "")).split())


def parse_price(raw) -> int | None:
    if raw is None or raw == "":
        return None
    try:
        value = int(str(raw).replace(",", "").strip())
    except ValueError:
        return None
    return value if value > 0 else None


def is_trusted_link(url: str, trusted_hosts: tuple[str, ...]) -> bool:
    parsed = urlparse(url or "")
    host = (parsed.hostname or "").lower()
    if parsed.scheme != "https" or not host or parsed.username or parsed.password:
        return False
    return any(host == trusted or host.endswith("." + trusted) for trusted in trusted_hosts)


class NaverShoppingClient:
    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        base_url: str = "https://openapi.naver.com",
        trusted_hosts: tuple[str, ...] = ("naver.com",),
        timeout: float = 5.0,
        max_retries: int = 2,
        backoff_seconds: float = 0.5,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.trusted_hosts = trusted_hosts
        self.max_retries = max_retries
        self.backoff_seconds = backoff_seconds
        self._http = httpx.Client(
            base_url=base_url,
            headers={"X-Naver-Client-Id": client_id, "X-Naver-Client-Secret": client_secret},
            timeout=httpx.Timeout(timeout, connect=min(timeout, 3.0)),
            transport=transport,
        )

    def close(self) -> None:
        self._http.close()

    def search(self, query: str, *, display: int = 20, start: int = 1, sort: str = "sim") -> NaverSearchResult:
        query = " ".join((query or "").split())
        if not query:
            raise ValueError("query must not be empty")
        if not 1 <= display <= 100:
            raise ValueError("display must be between 1 and 100")
        if not 1 <= start <= 1000:
            raise ValueError("start must be between 1 and 1000")
        if sort not in SORTS:
            raise ValueError(f"sort must be one of {', '.join(SORTS)}")
        response = self._get({"query": query, "display": display, "start": start, "sort": sort})
        try:
            payload = response.json()
            raw_items = payload["items"]
            total = int(payload.get("total", len(raw_items)))
        except (ValueError, KeyError, TypeError) as exc:
            raise NaverBadResponse("Naver returned a response we could not read") from exc
        if not isinstance(raw_items, list):
            raise NaverBadResponse("Naver's items is not a list")
        items = [item for raw in raw_items if (item := self._item(raw)) is not None]
        return NaverSearchResult(total=total, items=items)

    def _get(self, params: dict) -> httpx.Response:
        attempt = 0
        while True:
            try:
                response = self._http.get(SEARCH_PATH, params=params)
            except (httpx.TimeoutException, httpx.NetworkError) as exc:
                if attempt >= self.max_retries:
                    raise NaverUnavailable(f"Naver did not answer: {type(exc).__name__}") from exc
            else:
                if response.status_code in (401, 403):
                    raise NaverAuthError(f"Naver rejected the credentials (HTTP {response.status_code})")
                if response.status_code == 429:
                    raise NaverQuotaExceeded("Naver's daily call quota is spent")
                if response.status_code < 500:
                    if response.status_code >= 400:
                        raise NaverBadResponse(f"Naver answered HTTP {response.status_code}")
                    return response
                if attempt >= self.max_retries:
                    raise NaverUnavailable(f"Naver answered HTTP {response.status_code}")
            time.sleep(self.backoff_seconds * 2**attempt)
            attempt += 1

    def _item(self, raw) -> NaverItem | None:
        if not isinstance(raw, dict):
            return None
        link = str(raw.get("link", ""))
        title = clean_title(str(raw.get("title", "")))
        if not title or not is_trusted_link(link, self.trusted_hosts):
            return None
        image = str(raw.get("image", ""))
        try:
            product_type = int(raw["productType"]) if raw.get("productType") not in (None, "") else None
        except (TypeError, ValueError):
            product_type = None
        return NaverItem(
            title=title,
            link=link,
            image=image if is_trusted_link(image, ("pstatic.net", "naver.net", "naver.com")) else "",
            lprice=parse_price(raw.get("lprice")),
            hprice=parse_price(raw.get("hprice")),
            mall_name=clean_title(str(raw.get("mallName", ""))) or "네이버",
            product_id=str(raw.get("productId", "")).strip(),
            product_type=product_type,
            brand=clean_title(str(raw.get("brand", ""))),
            maker=clean_title(str(raw.get("maker", ""))),
            categories=tuple(c for c in (str(raw.get(f"category{i}", "")).strip() for i in range(1, 5)) if c),
        )
