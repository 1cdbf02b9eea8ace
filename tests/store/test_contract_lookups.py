"""Lookups by values that no row can hold find nothing, on every backend (PostgreSQL's
TEXT refuses NUL characters that SQLite would store: a request naming such a pool is a
422, never a 500)."""

from __future__ import annotations

from nexio_lite.store.base import Store

NOW = 1_750_000_000_000


async def test_lookups_by_ids_with_a_nul_character_find_nothing(store: Store) -> None:
    await store.create_org("acme", "whsec_dGVzdA==", NOW)
    assert await store.current_pool("acme", "carriers\x00all") is None
    assert await store.get_pool_version("acme", "carriers\x00all", 1) is None
    assert await store.get_job("acme", "eval_\x00") is None
    assert await store.get_org("ac\x00me") is None
    assert await store.find_key("hash\x00") is None
