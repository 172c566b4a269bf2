"""Budget- and cache-aware Naver search: what the rest of `shop` calls instead of the raw client.

- Results are cached by normalised query (Redis) for NAVER_CACHE_SECONDS; entries are kept a
  week longer so a stale answer can be served when Naver is down or the day's budget is spent.
- Every real call is counted per day (Asia/Seoul) in NaverApiUsage; at NAVER_DAILY_CALL_LIMIT we
  stop calling and serve the cache, or nothing (the caller then uses the curated catalog).
- Nothing here raises for Naver's sake: the outcome says where the items came from and why.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import asdict, dataclass, field
from functools import cache

from django.conf import settings
from django.core.cache import cache as django_cache
from django.db.models import F
from django.utils import timezone

from ontop.metrics import naver_search_record
from shop.models import NaverApiUsage
from shop.naver.client import NaverError, NaverItem, NaverShoppingClient

logger = logging.getLogger(__name__)
STALE_KEEP_SECONDS = 7 * 24 * 3600


@dataclass
class SearchOutcome:
    items: list[NaverItem] = field(default_factory=list)
    source: str = "none"  # "naver", "cache", "stale-cache" or "none"
    error: str | None = None


def naver_configured() -> bool:
    return bool(settings.NAVER_CLIENT_ID and settings.NAVER_CLIENT_SECRET)


@cache
def _client(client_id: str, base_url: str, timeout: int, retries: int, hosts: tuple[str, ...]) -> NaverShoppingClient:
    return NaverShoppingClient(
        client_id=client_id,
        client_secret=settings.NAVER_CLIENT_SECRET,
        base_url=base_url,
        trusted_hosts=hosts,
        timeout=timeout,
        max_retries=retries,
    )


def client() -> NaverShoppingClient:
    # Keyed by the settings so tests (and a reconfigured process) never reuse a stale client.
    return _client(
        settings.NAVER_CLIENT_ID,
        settings.NAVER_API_BASE_URL,
        settings.NAVER_TIMEOUT_SECONDS,
        settings.NAVER_MAX_RETRIES,
        tuple(settings.NAVER_TRUSTED_HOSTS),
    )


def normalise_query(query: str) -> str:
    return " ".join(query.lower().split())


def _cache_key(query: str, display: int, sort: str) -> str:
    digest = hashlib.sha256(f"{normalise_query(query)}|{display}|{sort}".encode()).hexdigest()[:32]
    return f"naver:shop:{digest}"


def _cache_get(key: str) -> dict | None:
    try:
        return django_cache.get(key)
    except Exception:  # noqa: BLE001 - a cache outage must not break shopping
        logger.warning("cache unavailable for Naver results")
        return None


def _cache_set(key: str, items: list[NaverItem]) -> None:
    entry = {"at": time.time(), "items": [asdict(item) for item in items]}
    try:
        django_cache.set(key, entry, timeout=settings.NAVER_CACHE_SECONDS + STALE_KEEP_SECONDS)
    except Exception:  # noqa: BLE001
        logger.warning("cache unavailable for Naver results")


def _items(entry: dict) -> list[NaverItem]:
    return [NaverItem(**{**raw, "categories": tuple(raw["categories"])}) for raw in entry["items"]]


def budget_take() -> bool:
    """Count one call against today's budget; False (and nothing counted) when it is spent."""
    today = timezone.localdate()
    NaverApiUsage.objects.get_or_create(day=today)
    limit = settings.NAVER_DAILY_CALL_LIMIT
    return NaverApiUsage.objects.filter(day=today, calls__lt=limit).update(calls=F("calls") + 1) == 1


def _record_failure() -> None:
    NaverApiUsage.objects.filter(day=timezone.localdate()).update(failures=F("failures") + 1)


def search_shopping(query: str, *, display: int = 40, sort: str = "sim") -> SearchOutcome:
    key = _cache_key(query, display, sort)
    entry = _cache_get(key)
    if entry and time.time() - entry["at"] < settings.NAVER_CACHE_SECONDS:
        naver_search_record(source="cache")
        return SearchOutcome(items=_items(entry), source="cache")
    stale = SearchOutcome(items=_items(entry), source="stale-cache") if entry else SearchOutcome()
    if not naver_configured():
        stale.error = "naver not configured"
        naver_search_record(source=stale.source, fallback="not_configured")
        return stale
    if not budget_take():
        stale.error = "daily Naver budget spent"
        naver_search_record(source=stale.source, fallback="budget_spent")
        return stale
    try:
        result = client().search(query, display=display, sort=sort)
    except NaverError as exc:
        logger.warning("Naver search failed for %r: %s", query, exc)
        _record_failure()
        stale.error = str(exc)
        naver_search_record(source=stale.source, fallback="error", call_outcome=type(exc).__name__)
        return stale
    _cache_set(key, result.items)
    naver_search_record(source="naver", call_outcome="ok")
    return SearchOutcome(items=result.items, source="naver")
