"""Leases: one holder at a time, renewed by it, taken over once expired (every backend)."""

from __future__ import annotations

from nexio_lite.store.base import Store

NOW = 1_750_000_000_000


async def test_a_free_lease_is_taken_and_refused_to_another_holder(store: Store) -> None:
    assert await store.take_lease("maintenance", "a", NOW, 30_000)
    assert not await store.take_lease("maintenance", "b", NOW + 1, 30_000)
    assert await store.take_lease("other", "b", NOW + 1, 30_000), "leases are by name"


async def test_the_holder_renews_and_another_takes_over_only_after_expiry(store: Store) -> None:
    assert await store.take_lease("maintenance", "a", NOW, 30_000)
    assert await store.take_lease("maintenance", "a", NOW + 20_000, 30_000)  # renewed
    assert not await store.take_lease("maintenance", "b", NOW + 40_000, 30_000)
    assert await store.take_lease("maintenance", "b", NOW + 50_001, 30_000)  # expired
    assert not await store.take_lease("maintenance", "a", NOW + 50_002, 30_000)


async def test_a_dropped_lease_is_free_at_once(store: Store) -> None:
    assert await store.take_lease("maintenance", "a", NOW, 30_000)
    await store.drop_lease("maintenance", "b")  # not b's: nothing happens
    assert not await store.take_lease("maintenance", "b", NOW + 1, 30_000)
    await store.drop_lease("maintenance", "a")
    assert await store.take_lease("maintenance", "b", NOW + 2, 30_000)
