"""The client's network address, as login lockout and reset limits count it.

REMOTE_ADDR, unless settings.TRUSTED_PROXY_COUNT (env ONTOP_TRUSTED_PROXY_COUNT) says how many
proxies of ours stand in front of Django. Each appends the address it saw to X-Forwarded-For, so
the client is the N-th entry from the right; whatever a client wrote further left is ignored, as
it could be forged. DRF's throttles read the same count (REST_FRAMEWORK["NUM_PROXIES"]).
"""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.http import HttpRequest

# One IPv6 customer usually gets a whole /64: counting single addresses there would let an
# attacker take a fresh address for every guess.
IPV6_PREFIX = 64


def client_address(request: HttpRequest) -> str:
    address = request.META.get("REMOTE_ADDR", "") or ""
    proxies = settings.TRUSTED_PROXY_COUNT
    if proxies:
        forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        forwarded = [part for part in forwarded if part]
        if forwarded:
            address = forwarded[-min(proxies, len(forwarded))]
    return address


def lockout_address(address: str) -> str:
    """The address as one client: an IPv4 address, or the /64 an IPv6 address belongs to."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address[:100] or "unknown"
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.ip_network(f"{parsed}/{IPV6_PREFIX}", strict=False))
    return str(parsed)
