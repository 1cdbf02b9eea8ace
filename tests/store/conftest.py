"""The store contract suite runs against every backend listed in `BACKENDS`.

Each backend is a database factory: an async context manager that makes a fresh, empty
database and yields a function returning a new (unopened) store on it, so race tests can
open two stores on one database. SQLite: a file in the test's temporary directory.
PostgreSQL: a database with a random name on the server of `TEST_POSTGRES_URL`
(default: 127.0.0.1:5432, user postgres, trust auth), dropped afterwards. A server that
cannot be reached fails the postgres tests with one clear message: they never skip.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from nexio_lite.store.base import Store
from nexio_lite.store.postgres import PostgresStore
from nexio_lite.store.sqlite import SqliteStore

ADMIN_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
MakeStore = Callable[[], Store]
_unreachable: list[str] = []  # the first connection failure, reported by every test after it


@contextlib.asynccontextmanager
async def sqlite_database(tmp_path: Path) -> AsyncIterator[MakeStore]:
    path = str(tmp_path / "contract.db")
    yield lambda: SqliteStore(path)


async def _admin() -> psycopg.AsyncConnection[Any]:
    if not _unreachable:
        try:
            return await psycopg.AsyncConnection.connect(
                ADMIN_URL, autocommit=True, connect_timeout=5
            )
        except psycopg.OperationalError as exc:
            reason = " ".join(str(exc).split())
            _unreachable.append(
                f"PostgreSQL is not reachable at {ADMIN_URL} ({reason}): the store tests "
                "need it; start it (scripts/test does) or set TEST_POSTGRES_URL"
            )
    pytest.fail(_unreachable[0], pytrace=False)


@contextlib.asynccontextmanager
async def postgres_database(tmp_path: Path) -> AsyncIterator[MakeStore]:
    name = f"nexio_test_{secrets.token_hex(6)}"
    async with await _admin() as admin:
        await admin.execute(f"CREATE DATABASE {name}")
    url = make_conninfo(ADMIN_URL, dbname=name)
    try:
        yield lambda: PostgresStore(url)
    finally:
        async with await _admin() as admin:
            await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


BACKENDS: dict[str, Callable[[Path], contextlib.AbstractAsyncContextManager[MakeStore]]] = {
    "sqlite": sqlite_database,
    "postgres": postgres_database,
}


@pytest.fixture(params=sorted(BACKENDS))
async def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[MakeStore]:
    """A function making new stores on one fresh database of the backend."""
    async with BACKENDS[request.param](tmp_path) as make:
        yield make


@pytest.fixture
async def store(make_store: MakeStore) -> AsyncIterator[Store]:
    s = make_store()
    await s.open()
    try:
        yield s
    finally:
        await s.close()


@pytest.fixture
async def make_postgres_store(tmp_path: Path) -> AsyncIterator[MakeStore]:
    """Like `make_store`, PostgreSQL only (for what only that backend does)."""
    async with postgres_database(tmp_path) as make:
        yield make
