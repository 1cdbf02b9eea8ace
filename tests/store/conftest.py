"""The store contract suite runs against every backend listed in `BACKENDS`.

A second backend (PostgreSQL) adds a factory here and must pass the same tests unchanged.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from nexio_lite.store.base import Store
from nexio_lite.store.sqlite import SqliteStore


async def _sqlite(tmp_path) -> Store:  # type: ignore[no-untyped-def]
    return SqliteStore(str(tmp_path / "contract.db"))


BACKENDS: dict[str, Callable[..., Awaitable[Store]]] = {"sqlite": _sqlite}


@pytest.fixture(params=sorted(BACKENDS))
async def store(request: pytest.FixtureRequest, tmp_path) -> AsyncIterator[Store]:  # type: ignore[no-untyped-def]
    s = await BACKENDS[request.param](tmp_path)
    await s.open()
    try:
        yield s
    finally:
        await s.close()
