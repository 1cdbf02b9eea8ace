"""Screening rule books (SCREEN.md §2), on every backend: immutable versions numbered from
1 per organization and rule book id, the canonical JSON kept byte for byte, identical
content making no new version, and distinct versions for concurrent imports."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from nexio_lite.models import NewJob, RulebookVersion
from nexio_lite.store.base import Store
from nexio_lite.verticals.screen import Rulebook, load_rulebook, model_rulebook, rulebook_from_obj
from nexio_lite.verticals.screen.model import model_rulebook_json
from tests.store.conftest import MakeStore

NOW = 1_750_000_000_000
DAY = 86_400_000
MODEL_SHA = "00432567372ae58e6329b20cf48c307b1af4bac22549b8a15dd92bcd3ab7c0b6"


def variant(n: int, rules: int = 10) -> Rulebook:
    """The model rule book with its first rule retitled `variant n`, keeping `rules` rules."""
    obj: dict[str, Any] = json.loads(model_rulebook_json())
    obj["rules"][0]["title"] = f"variant {n}"
    obj["rules"] = obj["rules"][:rules]
    return rulebook_from_obj(obj)


async def put(
    store: Store, book: Rulebook, org: str = "acme", rulebook_id: str = "rules:default",
    now: int = NOW,
) -> RulebookVersion:  # fmt: skip
    return await store.import_rulebook(
        org, rulebook_id, canonical=book.canonical, sha256=book.sha256, rules=len(book.rules),
        regulations=len(book.regulations), now=now,
    )  # fmt: skip


async def _orgs(store: Store, *orgs: str) -> None:
    for org in orgs:
        await store.create_org(org, "whsec_dGVzdA==", NOW)


async def test_a_first_import_is_version_1_and_reads_back_byte_for_byte(store: Store) -> None:
    await _orgs(store, "acme")
    book = model_rulebook()
    made = await put(store, book)
    assert made == RulebookVersion("acme", "rules:default", 1, MODEL_SHA, 10, 5, NOW)
    assert await store.current_rulebook("acme", "rules:default") == made
    found = await store.rulebook_version("acme", "rules:default", 1)
    assert found is not None
    meta, data = found
    assert meta == made
    assert type(data) is bytes
    assert data == book.canonical
    assert load_rulebook(data).sha256 == MODEL_SHA


async def test_versions_are_immutable_and_the_newest_is_current(store: Store) -> None:
    await _orgs(store, "acme")
    first = await put(store, variant(1), now=NOW)
    second = await put(store, variant(2, rules=3), now=NOW + 5)
    assert (first.version, second.version) == (1, 2)
    assert (second.rules, second.regulations, second.created_at) == (3, 5, NOW + 5)
    assert await store.current_rulebook("acme", "rules:default") == second
    old = await store.rulebook_version("acme", "rules:default", 1)
    assert old == (first, variant(1).canonical), "version 1 is kept as it was"
    new = await store.rulebook_version("acme", "rules:default", 2)
    assert new == (second, variant(2, rules=3).canonical)


async def test_content_identical_to_the_current_version_makes_no_new_version(
    store: Store,
) -> None:
    await _orgs(store, "acme")
    first = await put(store, variant(1), now=NOW)
    again = await put(store, variant(1), now=NOW + 10)
    assert again == first, "the current version, as it was stored"
    assert await store.rulebook_version("acme", "rules:default", 2) is None
    # Only the current version counts: going back to an older content is a new version.
    await put(store, variant(2), now=NOW + 20)
    back = await put(store, variant(1), now=NOW + 30)
    assert (back.version, back.sha256, back.created_at) == (3, first.sha256, NOW + 30)


async def test_versions_are_numbered_per_organization_and_rule_book(store: Store) -> None:
    await _orgs(store, "acme", "other")
    await put(store, variant(1), org="acme", rulebook_id="a")
    await put(store, variant(2), org="acme", rulebook_id="a")
    b = await put(store, variant(3), org="acme", rulebook_id="b")
    theirs = await put(store, variant(4), org="other", rulebook_id="a")
    assert (b.version, theirs.version) == (1, 1)
    assert await store.current_rulebook("other", "b") is None
    assert await store.rulebook_version("other", "a", 2) is None


async def test_the_listing_holds_each_rule_book_at_its_current_version_by_id(
    store: Store,
) -> None:
    await _orgs(store, "acme", "other")
    ids = ["rules:default", "Zeta", "a", "rules:é", "rules:Z", "rules:défaut"]
    for n, rulebook_id in enumerate(ids):
        await put(store, variant(n), rulebook_id=rulebook_id)
    latest = await put(store, variant(99, rules=2), rulebook_id="a", now=NOW + 1)
    await put(store, variant(7), org="other", rulebook_id="theirs")
    listed = await store.list_rulebooks("acme")
    assert [b.rulebook_id for b in listed] == sorted(ids), "code-point order"
    assert {b.org_id for b in listed} == {"acme"}
    assert {b.rulebook_id: b for b in listed}["a"] == latest
    assert {b.version for b in listed if b.rulebook_id != "a"} == {1}
    assert [b.rulebook_id for b in await store.list_rulebooks("other")] == ["theirs"]
    assert await store.list_rulebooks("nobody") == []


async def test_unknown_and_unstorable_ids_find_nothing(store: Store) -> None:
    await _orgs(store, "acme")
    await put(store, variant(1))
    assert await store.current_rulebook("acme", "rules:other") is None
    assert await store.current_rulebook("ghost", "rules:default") is None
    assert await store.rulebook_version("acme", "rules:default", 2) is None
    assert await store.current_rulebook("acme", "rules\x00default") is None
    assert await store.rulebook_version("acme", "rules\x00default", 1) is None
    assert await store.list_rulebooks("ac\x00me") == []


async def test_a_digest_that_does_not_match_the_data_stores_nothing(store: Store) -> None:
    await _orgs(store, "acme")
    book = variant(1)
    with pytest.raises(ValueError, match="sha256"):
        await store.import_rulebook(
            "acme", "rules:default", canonical=book.canonical, sha256=MODEL_SHA, rules=10,
            regulations=5, now=NOW,
        )  # fmt: skip
    assert await store.current_rulebook("acme", "rules:default") is None


async def test_the_retention_sweep_leaves_rule_books_alone(store: Store) -> None:
    await _orgs(store, "acme")
    made = await put(store, variant(1), now=NOW)
    far = NOW + 3650 * DAY
    assert (await store.count_sweepable("acme", far)).affected == 0
    await store.delete_swept("acme", far, 1000)
    assert await store.current_rulebook("acme", "rules:default") == made
    assert await store.rulebook_version("acme", "rules:default", 1) is not None


# ---- two store instances on one database (two processes, as far as it can tell) --------


@contextlib.asynccontextmanager
async def _opened(make: MakeStore, n: int = 2) -> AsyncIterator[list[Store]]:
    stores = [make() for _ in range(n)]
    for s in stores:
        await s.open()
    try:
        yield stores
    finally:
        for s in stores:
            await s.close()


async def test_concurrent_imports_of_one_rule_book_get_distinct_consecutive_versions(
    make_store: MakeStore,
) -> None:
    books = [variant(i) for i in range(10)]
    async with _opened(make_store) as (a, b):
        await _orgs(a, "acme")
        made = await asyncio.gather(
            *(put(s, book) for s, book in zip([a, b] * 5, books, strict=True))
        )
        assert sorted(v.version for v in made) == list(range(1, 11))
        current = await b.current_rulebook("acme", "rules:default")
        assert current is not None
        assert current.version == 10
        for book, v in zip(books, made, strict=True):
            assert v.sha256 == book.sha256
            found = await a.rulebook_version("acme", "rules:default", v.version)
            assert found == (v, book.canonical), "each version holds what its import sent"


async def test_concurrent_identical_imports_make_a_single_version(make_store: MakeStore) -> None:
    book = model_rulebook()
    async with _opened(make_store) as (a, b):
        await _orgs(a, "acme")
        made = await asyncio.gather(*(put(s, book, now=NOW + i) for i, s in
                                      enumerate([a, b] * 4)))  # fmt: skip
        assert {v.version for v in made} == {1}
        assert len(set(made)) == 1, "every caller gets the one stored version"
        assert await a.rulebook_version("acme", "rules:default", 2) is None
        assert [v.version for v in await b.list_rulebooks("acme")] == [1]


async def test_a_screen_job_keeps_its_rule_book_version_and_is_swept(store: Store) -> None:
    await _orgs(store, "acme")
    job = NewJob(id="job_00000000000000000001", org_id="acme", type="screen_analysis",
                 request='{"content":"x","rulebook":"rules:default"}', created_at=NOW,
                 rulebook_id="rules:default", rulebook_version=3)  # fmt: skip
    await store.enqueue(job)
    (claim,) = await store.claim(1, 30_000, NOW)
    assert (claim.job.rulebook_id, claim.job.rulebook_version) == ("rules:default", 3)
    assert (claim.job.pool_id, claim.job.pool_version) == (None, None)
    await store.complete(claim, '{"result":{}}', '{"id":"x"}', NOW + 10, NOW + 10)
    stored = await store.get_job("acme", job.id)
    assert stored is not None
    assert (stored.rulebook_id, stored.rulebook_version) == ("rules:default", 3)
    assert stored.stages == '{"id":"x"}'
    counted = await store.count_sweepable("acme", NOW + DAY)
    assert (counted.scanned, counted.affected) == (1, 1)
    assert await store.delete_swept("acme", NOW + DAY, 10) == 1
    assert await store.get_job("acme", job.id) is None
