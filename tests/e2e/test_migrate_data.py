"""`nexio-lite migrate-data --to postgresql://…` (API.md §1), run as a user runs it: a
SQLite database built with the real CLI and real `nexio-lite serve` processes is copied
into a fresh PostgreSQL database (127.0.0.1:5432, or TEST_POSTGRES_URL), and a server
started on that database answers every request with the same bytes."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import psycopg
import pytest
from aiohttp import web

from tests.api.receiver import Receiver

from .conftest import SEED_BODY, Server, cli_env, free_port, run_cli

ADMIN_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
TABLES = ("orgs", "api_keys", "pool_versions", "jobs", "deliveries", "delivery_attempts",
          "idempotency_keys")  # fmt: skip
PUBLIC_URL = "http://nexio.test"  # audit links name the same server before and after
IDEMPOTENCY_KEY = "order-7731"
Response = tuple[int, bytes]
# n finished jobs of organization `org`, written straight into the SQLite file: seq 2, 4, …
_SYNTHETIC_JOBS = (
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {n}) "
    "INSERT INTO jobs (seq, id, org_id, type, status, request, created_at, updated_at, "
    "attempts, result, candidates) SELECT 2 * i, printf('eval_%016d', i), '{org}', "
    "'evaluation', 'completed', '{{\"i\": ' || i || '}}', i, i, 1, '{{}}', zeroblob(3) FROM n"
)


# ---- fixtures and helpers ----------------------------------------------------------------


async def _admin() -> psycopg.AsyncConnection[Any]:
    try:
        return await psycopg.AsyncConnection.connect(ADMIN_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        pytest.fail(f"PostgreSQL is not reachable at {ADMIN_URL}: {exc}", pytrace=False)


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    """A fresh, empty PostgreSQL database, dropped afterwards: its postgresql:// URL."""
    name = f"nexio_migrate_{secrets.token_hex(6)}"
    async with await _admin() as admin:
        await admin.execute(f"CREATE DATABASE {name}")
    try:
        yield f"{ADMIN_URL.rsplit('/', 1)[0]}/{name}"
    finally:
        async with await _admin() as admin:
            await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
async def receiver(aiohttp_server: Callable[..., Awaitable[Any]]) -> Receiver:
    rec = Receiver()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", rec.handle)
    server = await aiohttp_server(app, host="127.0.0.1")
    rec.base_url = str(server.make_url("")).rstrip("/")
    return rec


async def _pg(url: str, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        cur = await conn.execute(query, params)
        return await cur.fetchall() if cur.description else []


async def _pg_tables(url: str) -> list[str]:
    rows = await _pg(url, "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")
    return [r[0] for r in rows]


async def _fingerprint(url: str) -> dict[str, Any]:
    """Every table's row count and a hash of all its rows, and every sequence's value."""
    found: dict[str, Any] = {}
    for table in await _pg_tables(url):
        found[table] = (await _pg(url, f"SELECT count(*), md5(coalesce(string_agg(t::text, '|' "
                                       f"ORDER BY t::text), '')) FROM {table} t"))[0]  # fmt: skip
    for (seq,) in await _pg(url, "SELECT sequencename FROM pg_sequences"):
        found[seq] = (await _pg(url, "SELECT pg_sequence_last_value(%s)", (seq,)))[0]
    return found


def _sqlite_counts(db: str) -> dict[str, int]:
    conn = sqlite3.connect(db)
    try:
        return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}
    finally:
        conn.close()


def _sqlite(db: str, *statements: str) -> None:
    conn = sqlite3.connect(db)
    try:
        for statement in statements:
            conn.execute(statement)
        conn.commit()
    finally:
        conn.close()


async def _cli(env: dict[str, str], *args: str) -> str:
    code, out, err = await run_cli(env, *args)
    assert code == 0, err
    return out


async def _migrate(env: dict[str, str], url: str) -> tuple[int, str, str]:
    return await run_cli(env, "migrate-data", "--to", url)


def _events(stderr: str, name: str) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    return [e for e in lines if e["event"] == name]


async def _get(http: aiohttp.ClientSession, url: str, key: str) -> Response:
    async with http.get(url, headers={"X-API-Key": key}) as resp:
        return resp.status, await resp.read()


async def _submit(
    http: aiohttp.ClientSession, base: str, key: str, body: dict[str, Any], idem: str = ""
) -> tuple[int, bytes, str]:
    headers = {"X-API-Key": key, **({"Idempotency-Key": idem} if idem else {})}
    async with http.post(f"{base}/api/v1/jobs", json=body, headers=headers) as resp:
        return resp.status, await resp.read(), resp.headers.get("Idempotent-Replayed", "")


def _evaluation(revenue: int, pool: str = "carriers:all", webhook: str = "") -> dict[str, Any]:
    body = {**SEED_BODY, "pool": pool, "profile": {**SEED_BODY["profile"], "revenue": revenue}}
    return {**body, "webhook_url": webhook} if webhook else body


async def _new_job(http: aiohttp.ClientSession, base: str, key: str, body: dict[str, Any]) -> str:
    status, raw, _ = await _submit(http, base, key, body)
    assert status == 202, raw
    return str(json.loads(raw)["eval_id"])


async def _terminal(http: aiohttp.ClientSession, base: str, key: str, job_id: str) -> dict:
    for _ in range(12):
        status, raw = await _get(http, f"{base}/api/v1/jobs/{job_id}?wait=5", key)
        assert status == 200, raw
        job: dict = json.loads(raw)
        if job["status"] in ("completed", "failed"):
            return job
    raise AssertionError(f"{job_id} did not finish")


async def _settled(http: aiohttp.ClientSession, base: str, key: str, job_id: str) -> list[dict]:
    """The job's deliveries once none is pending."""
    for _ in range(200):
        _, raw = await _get(http, f"{base}/api/v1/jobs/{job_id}/deliveries", key)
        data: list[dict] = json.loads(raw)["data"]
        if data and all(d["status"] != "pending" for d in data):
            return data
        await asyncio.sleep(0.05)
    raise AssertionError(f"the deliveries of {job_id} did not settle")


async def _start(factory: type[Server], env: dict[str, str], log: Path, **extra: str) -> Server:
    server = factory({**env, **extra}, free_port(), log)
    await server.start()
    return server


async def _stop(server: Server) -> None:
    await server.signal(signal.SIGTERM)
    assert await server.wait() == 0


# ---- building the SQLite database ---------------------------------------------------------


async def _orgs_keys_and_pools(env: dict[str, str]) -> dict[str, str]:
    """Two organizations, keys of every kind (one revoked), two versions of the demo pool
    and a big pool no scoring process has prepared. The keys by role."""
    await _cli(env, "orgs", "create", "acme")
    await _cli(env, "orgs", "create", "beta")
    await _cli(env, "orgs", "rotate-secret", "acme")
    keys = {}
    for name, org, scopes in [("full", "acme", ""), ("reader", "acme", "jobs:read"),
                              ("admin", "acme", "admin"), ("revoked", "acme", ""),
                              ("beta", "beta", "")]:  # fmt: skip
        extra = ("--scopes", scopes) if scopes else ()
        out = await _cli(env, "keys", "create", "--org", org, "--name", name, *extra)
        keys[name] = out.splitlines()[-1]
        if name == "revoked":
            await _cli(env, "keys", "revoke", out.splitlines()[0])
    await _cli(env, "pools", "demo", "--org", "acme")
    await _cli(env, "pools", "demo", "--org", "acme", "--size", "1900")  # version 2
    await _cli(env, "pools", "demo", "--org", "acme", "--pool", "carriers:big", "--size", "5000")
    await _cli(env, "pools", "demo", "--org", "beta")
    return keys


async def _completed_jobs(server: Server, keys: dict[str, str], receiver: Receiver) -> list[str]:
    """Evaluations (with webhooks: one answered 500 then 200, one redelivered; one sent
    with an Idempotency-Key), a maintenance job and another organization's job, all
    finished, every delivery settled. Their ids."""
    base, full = server.url, keys["full"]
    retried = receiver.on("/retried", 500, 200)
    plain = receiver.on("/plain", 200)
    async with aiohttp.ClientSession() as http:
        ids = [await _new_job(http, base, full, _evaluation(2_000_000 + i)) for i in range(4)]
        ids.append(await _new_job(http, base, full, _evaluation(3_000_000, webhook=retried)))
        ids.append(await _new_job(http, base, full, _evaluation(4_000_000, webhook=plain)))
        status, raw, _ = await _submit(http, base, full, _evaluation(5_000_000), IDEMPOTENCY_KEY)
        assert status == 202, raw
        ids.append(json.loads(raw)["eval_id"])
        headers = {"X-API-Key": keys["admin"]}
        async with http.post(f"{base}/api/v1/maintenance/jobs", headers=headers,
                             json={"job_type": "metrics"}) as resp:  # fmt: skip
            assert resp.status == 202, await resp.text()
            ids.append((await resp.json())["id"])
        ids.append(await _new_job(http, base, keys["beta"], _evaluation(6_000_000)))
        for job_id in ids:
            key = keys["beta"] if job_id == ids[-1] else full
            assert (await _terminal(http, base, key, job_id))["status"] == "completed"
        await _settled(http, base, full, ids[4])
        url = f"{base}/api/v1/jobs/{ids[5]}/deliveries/redeliver"
        await _settled(http, base, full, ids[5])
        async with http.post(url, headers={"X-API-Key": full}) as resp:
            assert resp.status == 202, await resp.text()
        assert len(await _settled(http, base, full, ids[5])) == 2
    return ids


async def _failed_job(server: Server, keys: dict[str, str], receiver: Receiver) -> str:
    """An evaluation that runs past the (tiny) job timeout on its only attempt: failed,
    its webhook delivered."""
    async with aiohttp.ClientSession() as http:
        body = _evaluation(7_000_000, "carriers:big", receiver.on("/failed", 200))
        job_id = await _new_job(http, server.url, keys["full"], body)
        job = await _terminal(http, server.url, keys["full"], job_id)
        assert job["status"] == "failed", job
        await _settled(http, server.url, keys["full"], job_id)
    return job_id


async def _queued_job(server: Server, keys: dict[str, str]) -> str:
    async with aiohttp.ClientSession() as http:
        return await _new_job(http, server.url, keys["full"], _evaluation(8_000_000))


# ---- what a client sees -------------------------------------------------------------------


async def _pages(http: aiohttp.ClientSession, base: str, key: str, query: str) -> list[Response]:
    pages, cursor = [], ""
    while True:
        page = await _get(http, f"{base}/api/v1/jobs?{query}{cursor}", key)
        pages.append(page)
        next_cursor = json.loads(page[1]).get("next_cursor")
        if not next_cursor:
            return pages
        cursor = f"&cursor={next_cursor}"


async def _seen(base: str, keys: dict[str, str], job_ids: list[str]) -> dict[str, Any]:
    """Everything the API answers about these jobs, keys and pools: (status, bytes)."""
    full, seen = keys["full"], {}
    async with aiohttp.ClientSession() as http:
        for job_id in job_ids:
            key = keys["beta"] if job_id == job_ids[-1] else full
            for what in ("", "/deliveries"):
                seen[f"{job_id}{what}"] = await _get(
                    http, f"{base}/api/v1/jobs/{job_id}{what}", key
                )
            seen[f"trace {job_id}"] = await _get(http, f"{base}/traces/{job_id}", key)
        seen["pools"] = await _get(http, f"{base}/api/v1/pools", full)
        seen["pages"] = await _pages(http, base, full, "limit=3")
        seen["failed"] = await _pages(http, base, full, "status=failed&limit=1")
        seen["evaluations"] = await _pages(http, base, full, "type=evaluation&limit=4")
        for name, key in keys.items():
            seen[f"listed with {name}"] = await _get(http, f"{base}/api/v1/jobs", key)
            seen[f"job 0 with {name}"] = await _get(http, f"{base}/api/v1/jobs/{job_ids[0]}", key)
        replay = await _submit(http, base, full, _evaluation(5_000_000), IDEMPOTENCY_KEY)
        seen["idempotent replay"] = replay
        seen["submit with reader"] = await _submit(http, base, keys["reader"], _evaluation(1))
    return seen


# ---- the tests ----------------------------------------------------------------------------


async def test_a_migrated_database_serves_the_same_keys_and_the_same_bytes(
    tmp_path: Path, pg_url: str, receiver: Receiver, server_factory: type[Server]
) -> None:
    """Every job body, listing page, cursor, delivery, attempt, trace and pool reads the
    same from PostgreSQL as from SQLite; every key keeps its scopes (the revoked one stays
    revoked); a queued job and a new one then complete there, numbered after the rest."""
    env = cli_env(tmp_path, NEXIO_SERVER_PUBLIC_URL=PUBLIC_URL, NEXIO_WORKERS_PROCESSES="1",
                  NEXIO_RETENTION_SWEEP_INTERVAL_HOURS="0",
                  NEXIO_WEBHOOKS_ALLOW_PRIVATE_TARGETS="true",
                  NEXIO_WEBHOOKS_RETRY_SCHEDULE_SECONDS="[0, 0.2, 0.2]")  # fmt: skip
    db = env["NEXIO_DATABASE_PATH"]
    keys = await _orgs_keys_and_pools(env)
    server = await _start(server_factory, env, tmp_path / "a.log")
    ids = await _completed_jobs(server, keys, receiver)
    await _stop(server)
    server = await _start(server_factory, env, tmp_path / "b.log",
                          NEXIO_WORKERS_JOB_TIMEOUT_SECONDS="0.2",
                          NEXIO_WORKERS_MAX_ATTEMPTS="1")  # fmt: skip
    ids.insert(0, await _failed_job(server, keys, receiver))
    await _stop(server)
    server = await _start(server_factory, env, tmp_path / "c.log", NEXIO_SERVER_ROLE="api")
    queued = await _queued_job(server, keys)
    ids.insert(0, queued)
    before = await _seen(server.url, keys, ids)
    await _stop(server)

    counts = _sqlite_counts(db)
    assert counts["delivery_attempts"] >= 5
    assert counts["idempotency_keys"] == 1
    code, out, err = await _migrate(env, pg_url)
    assert code == 0, err
    assert out.splitlines()[: len(TABLES)] == [f"{t}: {counts[t]} -> {counts[t]}" for t in TABLES]
    assert out.splitlines()[-1].endswith("every count matches")
    assert _events(err, "migrate_data_finished")

    pg_env = {**env, "NEXIO_DATABASE_URL": pg_url, "NEXIO_DATABASE_PATH": str(tmp_path / "unused")}
    server = await _start(server_factory, pg_env, tmp_path / "d.log", NEXIO_SERVER_ROLE="api")
    after = await _seen(server.url, keys, ids)
    await _stop(server)
    assert after.keys() == before.keys()
    for what, response in before.items():
        assert after[what] == response, what
    assert before["listed with revoked"][0] == 401
    assert before["listed with admin"][0] == 403
    assert before["submit with reader"][0] == 403
    assert before["idempotent replay"][::2] == (202, "true")
    assert before[f"trace {ids[-1]}"][0] == 200
    assert not (tmp_path / "unused").exists()

    server = await _start(server_factory, pg_env, tmp_path / "e.log")
    async with aiohttp.ClientSession() as http:
        assert (await _terminal(http, server.url, keys["full"], queued))["status"] == "completed"
        body = _evaluation(9_000_000, webhook=receiver.on("/after", 200))
        new = await _new_job(http, server.url, keys["full"], body)
        assert (await _terminal(http, server.url, keys["full"], new))["status"] == "completed"
        await _settled(http, server.url, keys["full"], new)
        _, raw = await _get(http, f"{server.url}/api/v1/jobs?limit=2", keys["full"])
        assert [j["id"] for j in json.loads(raw)["data"]] == [new, queued]
    await _stop(server)
    (new_seq,) = (await _pg(pg_url, "SELECT seq FROM jobs WHERE id = %s", (new,)))[0]
    (delivery_seq,) = (await _pg(pg_url, "SELECT max(seq) FROM deliveries"))[0]
    conn = sqlite3.connect(db)
    assert new_seq == conn.execute("SELECT max(seq) FROM jobs").fetchone()[0] + 1
    assert delivery_seq == conn.execute("SELECT max(seq) FROM deliveries").fetchone()[0] + 1
    conn.close()


async def test_a_migration_while_the_server_takes_jobs_copies_one_snapshot(
    tmp_path: Path, pg_url: str, server_factory: type[Server]
) -> None:
    """Jobs keep arriving (and finishing) while the command runs: it still copies one
    consistent state, every count verified; what arrived after its snapshot stays behind."""
    env = cli_env(tmp_path, NEXIO_WORKERS_PROCESSES="1")
    db = env["NEXIO_DATABASE_PATH"]
    key = (await _cli(env, "demo")).split("API key")[1].split()[0]
    _sqlite(db, _SYNTHETIC_JOBS.format(n=30_000, org="demo"))  # a copy that takes a while
    server = await _start(server_factory, env, tmp_path / "serve.log")
    stop = asyncio.Event()

    async def submit_until_stopped() -> int:
        async with aiohttp.ClientSession() as http:
            n = 0
            while not stop.is_set():
                await _new_job(http, server.url, key, _evaluation(1_000_000 + n))
                n += 1
            return n

    submitting = asyncio.create_task(submit_until_stopped())
    await asyncio.sleep(0.5)
    code, out, err = await _migrate(env, pg_url)
    stop.set()
    submitted = await submitting
    await _stop(server)
    assert code == 0, err
    copied = (await _pg(pg_url, "SELECT count(*) FROM jobs"))[0][0]
    assert f"jobs: {copied} -> {copied}" in out.splitlines()
    assert 30_000 < copied < 30_000 + submitted == _sqlite_counts(db)["jobs"]


async def test_a_database_that_has_nexio_tables_is_refused_and_left_unchanged(
    tmp_path: Path, pg_url: str
) -> None:
    env = cli_env(tmp_path)
    await _cli(env, "demo")
    assert (await _migrate(env, pg_url))[0] == 0
    await _cli(env, "orgs", "create", "later")
    fingerprint = await _fingerprint(pg_url)

    code, out, err = await _migrate(env, pg_url)
    assert code != 0
    assert out == ""
    assert len(err.splitlines()) == 1
    assert "already has nexio_lite tables" in err
    assert "nothing was written" in err
    assert await _fingerprint(pg_url) == fingerprint


async def test_a_database_with_only_a_migrations_table_is_refused(
    tmp_path: Path, pg_url: str
) -> None:
    env = cli_env(tmp_path)
    await _cli(env, "orgs", "create", "acme")
    await _pg(pg_url, "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY)")
    code, _, err = await _migrate(env, pg_url)
    assert code != 0
    assert len(err.splitlines()) == 1
    assert "schema_migrations" in err
    assert await _pg_tables(pg_url) == ["schema_migrations"]


async def test_tables_of_other_applications_do_not_stop_the_migration(
    tmp_path: Path, pg_url: str
) -> None:
    env = cli_env(tmp_path)
    await _cli(env, "orgs", "create", "acme")
    await _pg(pg_url, "CREATE TABLE customers (id INTEGER PRIMARY KEY)")
    code, out, err = await _migrate(env, pg_url)
    assert code == 0, err
    assert "orgs: 1 -> 1" in out.splitlines()


@pytest.mark.parametrize(
    ("to", "code", "says"),
    [
        ("mysql://root@127.0.0.1/nexio", 2, "use postgresql://"),
        ("postgresql://postgres@127.0.0.1:1/nexio", 1, "cannot connect to 127.0.0.1:1/nexio"),
        ("postgresql://postgres@127.0.0.1:5432/nexio_no_such_db", 1, "does not exist"),
        ("postgresql://postgres@127.0.0.1:5432/nexio?sslmode=bogus", 1, "cannot connect"),
    ],
)
async def test_a_bad_url_gives_one_line_and_a_non_zero_exit(
    tmp_path: Path, to: str, code: int, says: str
) -> None:
    env = cli_env(tmp_path)
    await _cli(env, "orgs", "create", "acme")
    got, out, err = await _migrate(env, to)
    assert (got, out) == (code, "")
    assert len(err.splitlines()) == 1
    assert says in err


async def test_a_configuration_that_already_uses_postgresql_is_refused(
    tmp_path: Path, pg_url: str
) -> None:
    env = cli_env(tmp_path, NEXIO_DATABASE_URL=pg_url)
    code, _, err = await _migrate(env, pg_url)
    assert code == 1
    assert len(err.splitlines()) == 1
    assert "database.url already names PostgreSQL" in err
    assert await _pg_tables(pg_url) == []


async def test_an_unknown_sqlite_table_is_refused_before_the_target_is_touched(
    tmp_path: Path, pg_url: str
) -> None:
    env = cli_env(tmp_path)
    await _cli(env, "orgs", "create", "acme")
    _sqlite(env["NEXIO_DATABASE_PATH"], "CREATE TABLE future_things (id INTEGER)")
    code, _, err = await _migrate(env, pg_url)
    assert code == 1
    assert len(err.splitlines()) == 1
    assert "future_things" in err
    assert await _pg_tables(pg_url) == []


async def test_a_failure_midway_leaves_the_target_as_it_was_and_can_be_retried(
    tmp_path: Path, pg_url: str
) -> None:
    """A key name with a NUL character (PostgreSQL text cannot hold one) stops the copy
    after the schema and the organizations were written: all of it is rolled back."""
    env = cli_env(tmp_path)
    await _cli(env, "demo")
    db = env["NEXIO_DATABASE_PATH"]
    _sqlite(db, "UPDATE api_keys SET name = 'de' || char(0) || 'mo'")
    code, _, err = await _migrate(env, pg_url)
    assert code == 1
    assert "api_keys" in err.splitlines()[-1]
    assert "NUL" in err.splitlines()[-1]
    assert await _pg_tables(pg_url) == []

    _sqlite(db, "UPDATE api_keys SET name = 'demo'")
    code, _, err = await _migrate(env, pg_url)
    assert code == 0, err


async def test_a_large_database_streams_keeps_values_and_moves_sequences_past_them(
    tmp_path: Path, pg_url: str
) -> None:
    """25,000 jobs (seq values with gaps, blobs with zero bytes) and an attempt whose
    response excerpt holds a NUL: progress every 10,000 rows, values unchanged (the NUL
    becomes U+FFFD), and the sequences continue after the largest seq, not the count."""
    env = cli_env(tmp_path)
    await _cli(env, "orgs", "create", "acme")
    _sqlite(
        env["NEXIO_DATABASE_PATH"],
        _SYNTHETIC_JOBS.format(n=25_000, org="acme"),
        "INSERT INTO deliveries (seq, id, job_id, org_id, webhook_id, url, status, created_at, "
        "updated_at, attempts) VALUES (41, 'dlv_1', 'eval_0000000000000007', 'acme', 'msg_1', "
        "'http://127.0.0.1/h', 'delivered', 1, 1, 1)",
        "INSERT INTO delivery_attempts VALUES ('dlv_1', 1, 1, 200, NULL, 5, 'a' || char(0) || 'b')",
    )
    code, out, err = await _migrate(env, pg_url)
    assert code == 0, err
    assert "jobs: 25000 -> 25000" in out.splitlines()
    progress = [e["copied"] for e in _events(err, "migrate_data_progress") if e["table"] == "jobs"]
    assert progress == [10_000, 20_000]

    row = await _pg(pg_url, "SELECT seq, request, candidates FROM jobs WHERE id = %s",
                    ("eval_0000000000012345",))  # fmt: skip
    assert row == [(24690, '{"i": 12345}', b"\x00\x00\x00")]
    excerpt = await _pg(pg_url, "SELECT response_excerpt FROM delivery_attempts")
    assert excerpt == [("a\ufffdb",)]
    last = "SELECT pg_sequence_last_value(pg_get_serial_sequence(%s, 'seq'))"
    assert await _pg(pg_url, last, ("jobs",)) == [(50_000,)]
    assert await _pg(pg_url, last, ("deliveries",)) == [(41,)]
