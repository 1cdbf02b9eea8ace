"""API keys: how they are made, hashed and checked.

A key is `nx_live_` + 32 random base62 characters (about 190 bits). Only its SHA-256 is
stored; a slow hash adds nothing for keys of that entropy. A lookup finds the row by
hash and the hashes are compared again in constant time. Lookups are cached for at most
`CACHE_SECONDS`, so a key revoked with the CLI stops working within that time (API.md
promises 5 s), and last-use times are written in batches, not on every request.
"""

from __future__ import annotations

import hashlib
import hmac
import time

import attrs

from nexio_lite.models import ApiKey, random_id
from nexio_lite.store.base import Store

KEY_PREFIX = "nx_live_"
CACHE_SECONDS = 2.0


def new_api_key() -> str:
    return random_id(KEY_PREFIX, 32)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


@attrs.define
class _Cached:
    key: ApiKey | None
    key_hash: str
    expires: float


class KeyChecker:
    """Resolves a presented key to an active ApiKey (or None), with a short cache."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._cache: dict[str, _Cached] = {}
        self._last_used: dict[str, int] = {}

    async def check(self, presented: str, now_ms: int) -> ApiKey | None:
        digest = hash_key(presented)
        mono = time.monotonic()
        cached = self._cache.get(digest)
        if cached is None or cached.expires < mono:
            if len(self._cache) > 10_000:
                self._cache.clear()
            key = await self.store.find_key(digest)
            cached = _Cached(key, digest, mono + CACHE_SECONDS)
            self._cache[digest] = cached
        key = cached.key
        if key is None or not key.active or not hmac.compare_digest(cached.key_hash, digest):
            return None
        self._last_used[key.id] = now_ms
        return key

    async def flush_last_used(self) -> None:
        """Write the last-use times gathered since the previous flush."""
        pending, self._last_used = self._last_used, {}
        await self.store.touch_keys(pending)
