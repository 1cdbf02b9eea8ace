"""Web console sessions (API.md §10), on every backend: a session is found by the hash of
its token until it expires or is deleted, always with its key as stored now; the
console's signing secret is made once per database."""

from __future__ import annotations

import asyncio

from nexio_lite.models import ApiKey
from nexio_lite.store.base import Store
from tests.store.conftest import MakeStore

NOW = 1_750_000_000_000
HOUR = 3_600_000


async def _key(store: Store, org: str = "acme", key_id: str = "key_1") -> ApiKey:
    if await store.get_org(org) is None:
        await store.create_org(org, "whsec_dGVzdA==", NOW)
    key = ApiKey(key_id, org, "console", ("jobs:read", "traces:read"), NOW)
    await store.create_key(key, f"hash-{key_id}")
    return key


async def test_a_session_is_found_with_its_key_until_it_expires(store: Store) -> None:
    key = await _key(store)
    await store.create_session("s" * 64, key.id, key.org_id, NOW, NOW + 12 * HOUR)
    found = await store.get_session("s" * 64, NOW + 1)
    assert found is not None
    assert (found.id, found.created_at, found.expires_at) == ("s" * 64, NOW, NOW + 12 * HOUR)
    assert found.key == key
    assert await store.get_session("s" * 64, NOW + 12 * HOUR) is None, "expired"
    assert await store.get_session("t" * 64, NOW + 1) is None, "unknown"
    assert await store.get_session("s\x00", NOW + 1) is None, "unstorable"


async def test_a_session_sees_its_key_revoked_and_its_scopes_as_stored(store: Store) -> None:
    key = await _key(store)
    await store.create_session("a" * 64, key.id, key.org_id, NOW, NOW + HOUR)
    assert await store.revoke_key(key.id, NOW + 5)
    found = await store.get_session("a" * 64, NOW + 10)
    assert found is not None
    assert found.key.revoked_at == NOW + 5
    assert not found.key.active
    assert found.key.scopes == ("jobs:read", "traces:read")


async def test_a_deleted_session_is_gone_for_every_store_on_the_database(
    make_store: MakeStore,
) -> None:
    one, two = make_store(), make_store()
    await one.open()
    await two.open()
    try:
        key = await _key(one)
        await one.create_session("d" * 64, key.id, key.org_id, NOW, NOW + HOUR)
        assert await two.get_session("d" * 64, NOW) is not None, "shared by every process"
        assert await two.delete_session("d" * 64)
        assert await one.get_session("d" * 64, NOW) is None
        assert not await one.delete_session("d" * 64), "already gone"
    finally:
        await one.close()
        await two.close()


async def test_purge_deletes_only_expired_sessions(store: Store) -> None:
    key = await _key(store)
    await store.create_session("1" * 64, key.id, key.org_id, NOW, NOW + HOUR)
    await store.create_session("2" * 64, key.id, key.org_id, NOW, NOW + 2 * HOUR)
    await store.create_session("3" * 64, key.id, key.org_id, NOW, NOW + 3 * HOUR)
    assert await store.purge_sessions(NOW + 2 * HOUR) == 2
    assert await store.get_session("3" * 64, NOW + 2 * HOUR) is not None
    assert await store.purge_sessions(NOW + 2 * HOUR) == 0


async def test_a_session_of_an_unknown_key_is_never_found(store: Store) -> None:
    await store.create_org("acme", "whsec_dGVzdA==", NOW)
    await store.create_session("u" * 64, "key_missing", "acme", NOW, NOW + HOUR)
    assert await store.get_session("u" * 64, NOW) is None


async def test_the_signing_secret_is_made_once_per_database(make_store: MakeStore) -> None:
    one, two = make_store(), make_store()
    await one.open()
    await two.open()
    try:
        first, second = await asyncio.gather(
            one.ui_secret("secret-one", NOW), two.ui_secret("secret-two", NOW)
        )
        assert first == second
        assert first in ("secret-one", "secret-two")
        assert await one.ui_secret("secret-three", NOW + 1) == first
    finally:
        await one.close()
        await two.close()
