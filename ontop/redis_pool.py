"""One Redis connection pool per process, shared by progress reads, the cache (so DRF's throttles) and RQ.

django_rq built a new client, with a pool of its own, on every `get_connection()`: each status poll
opened a new TCP connection. Django's RedisCache kept yet another pool per thread. Now all of them
borrow from the one pool here: `CACHES` names `SharedPoolRedisCache`, and `RQ_QUEUES` says
`USE_REDIS_CACHE`, which makes django_rq take its client from that cache (`_client`).

The pool is made at first use, not at import, and is keyed by URL (a test may point the cache at
another server). It is fork-safe: redis-py's ConnectionPool remembers the pid that made it, and a
forked child (a gunicorn worker) drops the parent's connections and opens its own on first use.
"""

from __future__ import annotations

import threading

import redis
from django.conf import settings
from django.core.cache.backends.redis import RedisCache, RedisCacheClient

_pools: dict[str, redis.ConnectionPool] = {}
# A Redis that is cut off or frozen (rather than refusing connections) must give the web a quick
# 503, not hang every thread. RQ workers raise the read timeout above their blocking dequeue
# themselves (rq's Worker._set_connection).
CONNECT_TIMEOUT_SECONDS = 2
READ_TIMEOUT_SECONDS = 5
_lock = threading.Lock()


def connection_pool(url: str | None = None) -> redis.ConnectionPool:
    """The process's pool for `url` (default: REDIS_URL), made on first use."""
    url = url or settings.REDIS_URL
    pool = _pools.get(url)
    if pool is None:
        with _lock:  # two threads' first requests must not make two pools
            pool = _pools.get(url)
            if pool is None:
                pool = _pools[url] = redis.ConnectionPool.from_url(
                    url,
                    socket_connect_timeout=CONNECT_TIMEOUT_SECONDS,
                    socket_timeout=READ_TIMEOUT_SECONDS,
                    health_check_interval=30,
                )
    return pool


def connection(url: str | None = None) -> redis.Redis:
    """A client on the shared pool (cheap: clients hold no sockets of their own)."""
    return redis.Redis(connection_pool=connection_pool(url))


class _SharedPoolCacheClient(RedisCacheClient):
    def _get_connection_pool(self, write: bool) -> redis.ConnectionPool:
        return connection_pool(self._servers[self._get_connection_pool_index(write)])


class SharedPoolRedisCache(RedisCache):
    """Django's RedisCache on the shared pool. OPTIONS that would shape a pool of its own are refused."""

    def __init__(self, server, params) -> None:
        super().__init__(server, params)
        if self._options:
            raise ValueError("SharedPoolRedisCache takes no OPTIONS: the pool is shared (ontop/redis_pool.py).")
        self._class = _SharedPoolCacheClient

    @property
    def _client(self) -> redis.Redis:
        # What django_rq reads for a queue configured with USE_REDIS_CACHE.
        return self._cache.get_client(write=True)
