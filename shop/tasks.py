"""Django-side RQ jobs of the shop (queue "default")."""

from shop.services import offers_refresh_stale


def refresh_stale_offers(limit: int = 50) -> int:
    return offers_refresh_stale(limit=limit)
