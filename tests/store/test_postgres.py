"""What only the PostgreSQL backend does: start on a fresh database with many processes
at once, refuse what cannot work at start, ride out lost connections, reconnect its
listener, and keep its wake-up payloads under PostgreSQL's limit."""

from __future__ import annotations

import asyncio

import psycopg
import pytest
from psycopg import errors as pg
from psycopg.conninfo import conninfo_to_dict
from structlog.testing import capture_logs

from nexio_lite.errors import Conflict, StoreError, StoreUnavailable
from nexio_lite.models import NewJob
from nexio_lite.store.base import Store
from nexio_lite.store.postgres import PostgresStore, migrations
from nexio_lite.store.postgres.errors import translate_error
from nexio_lite.store.postgres.listen import MAX_IDS, MAX_PAYLOAD_BYTES, decode, encode
from tests.store.conftest import ADMIN_URL, MakeStore
from tests.store.test_races import Heard, opened

NOW = 1_750_000_000_000


def _job(i: int) -> NewJob:
    return NewJob(id=f"eval_{i:020d}", org_id="acme", type="evaluation", request="{}",
                  created_at=NOW + i)  # fmt: skip


async def _terminate(url: str, where: str) -> int:
    """End the other sessions of the store's database (`where`: an extra condition)."""
    dbname = conninfo_to_dict(url)["dbname"]
    async with await psycopg.AsyncConnection.connect(ADMIN_URL, autocommit=True) as admin:
        cur = await admin.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            f"WHERE datname=%s AND pid <> pg_backend_pid() AND {where}",
            (dbname,),
        )
        row = await cur.fetchone()
    return int(row[0]) if row else 0


async def test_many_stores_opening_at_once_on_a_fresh_database_migrate_it_once(
    make_postgres_store: MakeStore,
) -> None:
    stores = [make_postgres_store() for _ in range(6)]
    await asyncio.gather(*(s.open() for s in stores))
    try:
        assert all([await s.ping() for s in stores])
        a = stores[0]
        assert isinstance(a, PostgresStore)
        rows = await a._read("SELECT version FROM schema_migrations ORDER BY version")
        assert [r[0] for r in rows] == [n for n, _, _ in migrations()]
    finally:
        for s in stores:
            await s.close()


async def test_an_unreachable_server_fails_at_open_naming_it() -> None:
    store = PostgresStore("postgresql://postgres@127.0.0.1:1/nexio", connect_timeout=2)
    with pytest.raises(StoreError, match=r"cannot open database 127\.0\.0\.1:1/nexio"):
        await store.open()


async def test_a_read_only_database_fails_at_open(make_postgres_store: MakeStore) -> None:
    store = make_postgres_store()
    assert isinstance(store, PostgresStore)
    await store.open()
    await store.close()
    dbname = conninfo_to_dict(store.url)["dbname"]
    async with await psycopg.AsyncConnection.connect(ADMIN_URL, autocommit=True) as admin:
        await admin.execute(f"ALTER DATABASE {dbname} SET default_transaction_read_only = on")
    with pytest.raises(StoreError, match="read-only"):
        await make_postgres_store().open()


async def test_killed_connections_cost_no_read_and_no_batched_write(
    make_postgres_store: MakeStore,
) -> None:
    """A server restart (here: every session ended by an administrator) leaves dead
    connections in the pool; reads and writes whose BEGIN meets one run again on a
    fresh connection, so nothing the caller sees fails."""
    async with opened(make_postgres_store, 1) as (store,):
        assert isinstance(store, PostgresStore)
        await store.create_org("acme", "whsec_dGVzdA==", NOW)
        await asyncio.gather(*(store.count_jobs() for _ in range(8)))  # fill the pool
        assert await _terminate(store.url, "query NOT LIKE 'LISTEN%%'") >= 1
        assert await store.count_jobs() == 0
        await asyncio.gather(*(store.enqueue(_job(i)) for i in range(5)))
        assert await store.count_jobs("queued") == 5
        assert await store.problem() is None


async def test_the_listener_reconnects_and_wakes_everyone_after_a_lost_connection(
    make_postgres_store: MakeStore,
) -> None:
    async with opened(make_postgres_store) as (a, b):
        assert isinstance(b, PostgresStore)
        heard = Heard()
        b.subscribe("jobs", heard)
        await a.create_org("acme", "whsec_dGVzdA==", NOW)
        with capture_logs() as logs:
            assert await _terminate(b.url, "query LIKE 'LISTEN%%'") == 2
            async with asyncio.timeout(5):
                while not (heard.calls and heard.calls[-1][1] == []):  # the wake-up after it
                    heard.changed.clear()
                    await heard.changed.wait()
            await asyncio.wait_for(b.notifier.listening.wait(), 5)
            await a.enqueue(_job(1))
            await heard.until({_job(1).id}, 1.0)
        events = [e["event"] for e in logs if e["event"].startswith("store_listener")]
        assert events.count("store_listener_lost") == 2  # one per store
        assert events.count("store_listener_restored") == 2


async def test_backup_names_pg_dump(make_postgres_store: MakeStore) -> None:
    async with opened(make_postgres_store, 1) as (store,):
        with pytest.raises(StoreError, match="pg_dump"):
            await store.backup("/tmp/never.db")


def test_driver_errors_become_ours() -> None:
    assert isinstance(translate_error(pg.UniqueViolation("dup")), Conflict)
    assert isinstance(translate_error(pg.ForeignKeyViolation("fk")), Conflict)
    passing = (
        pg.AdminShutdown("bye"),
        pg.DiskFull("full"),
        pg.ReadOnlySqlTransaction("ro"),
        pg.DeadlockDetected("dl"),
        psycopg.OperationalError("connection lost"),
    )
    for error in passing:
        assert isinstance(translate_error(error), StoreUnavailable), error
    bug = translate_error(pg.UndefinedTable("no such table"))
    assert isinstance(bug, StoreError)
    assert not isinstance(bug, StoreUnavailable)
    assert isinstance(translate_error(ValueError("x")), ValueError)


def test_payloads_stay_under_the_limit_and_carry_every_id() -> None:
    ids = {f"eval_{i:020d}" for i in range(MAX_IDS)}
    payloads = encode("me", {"jobs": ids, "finished": {"eval_1"}})
    assert all(len(p.encode()) < MAX_PAYLOAD_BYTES for p in payloads)
    decoded = [decode(p) for p in payloads]
    assert {i for d in decoded if d and d[1] == "jobs" for i in d[2]} == ids
    assert ("me", "finished", ["eval_1"]) in decoded
    assert encode("me", {"deliveries": None}) == ["me:deliveries:"]
    assert decode("me:deliveries:") == ("me", "deliveries", [])
    assert decode("not ours") is None
    assert decode("me:unknown_topic:x") is None


def test_every_method_of_the_store_protocol_is_implemented() -> None:
    wanted = {name for name in dir(Store) if not name.startswith("_")}
    assert wanted - set(dir(PostgresStore)) == set()
