"""Several real `nexio-lite serve` processes on one database (a SQLite file, or a
PostgreSQL database): an `api` process and a `worker` process share the work, and on
PostgreSQL the worker hears of a job at once, not at its next poll; several processes
start at once on a fresh database; `backup` copies a SQLite database while they serve."""

from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3
import statistics
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import aiohttp
import psycopg

from .conftest import (
    SEED_BODY,
    Server,
    cli_env,
    demo_key,
    free_port,
    is_postgres,
    run_cli,
)


def _split_roles(
    env: dict[str, str], tmp_path: Path, factory: type[Server]
) -> tuple[Server, Server]:
    """An `api` process and a `worker` process on the database of `env` (not started)."""
    api = factory({**env, "NEXIO_SERVER_ROLE": "api"}, free_port(), tmp_path / "api.log")
    worker = factory({**env, "NEXIO_SERVER_ROLE": "worker"}, free_port(), tmp_path / "worker.log")
    return api, worker


async def test_an_api_process_and_a_worker_process_share_one_database(
    tmp_path: Path, db_env: dict[str, str], server_factory: type[Server]
) -> None:
    """On PostgreSQL the processes poll only every 5 s: the worker hears of new jobs and
    the api process's long-poll of finished ones by LISTEN/NOTIFY. SQLite polls."""
    poll = "5" if is_postgres(db_env) else "0.1"
    env = cli_env(tmp_path, **db_env, NEXIO_WORKERS_POLL_INTERVAL_SECONDS=poll)
    key = await demo_key(env)
    api, worker = _split_roles(env, tmp_path, server_factory)
    await api.start()
    await worker.start()
    async with aiohttp.ClientSession(headers={"X-API-Key": key}) as http:
        # The worker's port serves only the operations routes.
        async with http.get(f"{worker.url}/api/v1/pools") as resp:
            assert resp.status == 404
        async with http.get(f"{worker.url}/readyz") as resp:
            checks = (await resp.json())["checks"]
        assert {"dispatch", "webhooks", "reaper", "sweeper"} <= set(checks)
        async with http.get(f"{api.url}/readyz") as resp:
            checks = (await resp.json())["checks"]
        assert not {"dispatch", "webhooks", "reaper", "sweeper"} & set(checks)

        ids = []
        for i in range(10):
            body = dict(SEED_BODY, profile=dict(SEED_BODY["profile"], revenue=5_000_000 + i))
            async with http.post(f"{api.url}/api/v1/jobs", json=body) as resp:
                assert resp.status == 202
                ids.append((await resp.json())["eval_id"])
        # A long-poll on the api process hears of a job the worker process finished.
        started = time.monotonic()
        async with http.get(f"{api.url}/api/v1/jobs/{ids[-1]}?wait=30") as resp:
            job = await resp.json()
        assert job["status"] == "completed"
        assert time.monotonic() - started < 10
        for job_id in ids:
            async with http.get(f"{api.url}/api/v1/jobs/{job_id}?wait=10") as resp:
                assert (await resp.json())["status"] == "completed"
    claimed = {e["job_id"] for e in worker.events("job_claimed")}
    assert claimed == set(ids), "the worker process ran every job"
    assert api.events("job_claimed") == [], "the api process ran none"


def _ms(stamp: str) -> float:
    return dt.datetime.fromisoformat(stamp).timestamp() * 1000


def _wait_ms(job: Mapping[str, Any]) -> float:
    """created_at -> started_at of a job envelope: how long it waited to be claimed."""
    return _ms(job["started_at"]) - _ms(job["created_at"])


async def test_on_postgres_the_worker_process_claims_a_job_of_the_api_process_long_before_its_poll(
    tmp_path: Path, postgres_url: str, server_factory: type[Server]
) -> None:
    """Each job is submitted to the api process while the worker process is idle, so its
    wait (created_at -> started_at) is the cross-process wake-up alone: LISTEN/NOTIFY, not
    the 5 s poll; the api process's long-poll hears of its end the same way."""
    env = cli_env(tmp_path, NEXIO_DATABASE_URL=postgres_url,
                  NEXIO_WORKERS_POLL_INTERVAL_SECONDS="5")  # fmt: skip
    key = await demo_key(env)
    api, worker = _split_roles(env, tmp_path, server_factory)
    await asyncio.gather(api.start(), worker.start())
    waits, answers = [], []
    async with aiohttp.ClientSession(headers={"X-API-Key": key}) as http:
        for i in range(1 + 15):  # the first one warms the scoring processes up
            body = dict(SEED_BODY, profile=dict(SEED_BODY["profile"], revenue=7_000_000 + i))
            submitted = time.monotonic()
            async with http.post(f"{api.url}/api/v1/jobs", json=body) as resp:
                job_id = (await resp.json())["eval_id"]
            async with http.get(f"{api.url}/api/v1/jobs/{job_id}?wait=10") as resp:
                job = await resp.json()
            assert job["status"] == "completed", job
            waits.append(_wait_ms(job))
            answers.append(time.monotonic() - submitted)
    waits, answers = waits[1:], answers[1:]
    assert max(waits) < 500, waits  # well under 1 s; the poll would take up to 5 s
    assert statistics.median(waits) < 100, waits
    assert max(answers) < 2, answers  # submit -> claimed, scored, long-poll answered
    assert {e["job_id"] for e in worker.events("job_claimed")} >= {job_id}
    assert api.events("job_claimed") == [], "the api process ran none"


async def test_backup_copies_the_database_while_the_server_serves(
    tmp_path: Path, server_factory: type[Server]
) -> None:
    env = cli_env(tmp_path)
    key = await demo_key(env)
    server = server_factory(env, free_port(), tmp_path / "serve.log")
    await server.start()
    stop = asyncio.Event()
    accepted: list[str] = []

    async def submit_meanwhile() -> None:
        async with aiohttp.ClientSession(headers={"X-API-Key": key}) as http:
            i = 0
            while not stop.is_set():
                body = dict(SEED_BODY, profile=dict(SEED_BODY["profile"], revenue=6_000_000 + i))
                async with http.post(f"{server.url}/api/v1/jobs", json=body) as resp:
                    assert resp.status == 202
                    accepted.append((await resp.json())["eval_id"])
                i += 1

    load = asyncio.create_task(submit_meanwhile())
    await asyncio.sleep(0.5)
    dest = tmp_path / "copy.db"
    code, out, err = await run_cli(env, "backup", str(dest))
    stop.set()
    await load
    assert code == 0, err
    assert f"backed up the database to {dest}" in out
    conn = sqlite3.connect(dest)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        copied = conn.execute("SELECT count(*) FROM jobs").fetchone()[0]
        orgs = conn.execute("SELECT id FROM orgs").fetchall()
    finally:
        conn.close()
    assert orgs == [("acme",)]
    assert 0 < copied <= len(accepted)
    code, _, err = await run_cli(env, "backup", str(dest))
    assert code != 0
    assert "exists" in err


def _migration_versions(env: Mapping[str, str]) -> list[int]:
    """The versions recorded in `schema_migrations`, in the order the rows are stored."""
    sql = "SELECT version FROM schema_migrations"
    if is_postgres(env):
        with psycopg.connect(env["NEXIO_DATABASE_URL"]) as pg:
            return [v for (v,) in pg.execute(sql)]
    conn = sqlite3.connect(env["NEXIO_DATABASE_PATH"])
    try:
        return [v for (v,) in conn.execute(sql)]
    finally:
        conn.close()


async def test_three_processes_start_at_once_on_a_fresh_database(
    tmp_path: Path, db_env: dict[str, str], server_factory: type[Server]
) -> None:
    """Each migration is applied once, whoever gets there first; all three serve (on
    PostgreSQL the CLI's own start, right after, finds nothing left to migrate either)."""
    env = cli_env(tmp_path, **db_env, NEXIO_WORKERS_POLL_INTERVAL_SECONDS="0.1")
    servers = [server_factory(env, free_port(), tmp_path / f"s{i}.log") for i in range(3)]
    await asyncio.gather(*(s.start() for s in servers))
    key = await demo_key(env)
    async with aiohttp.ClientSession(headers={"X-API-Key": key}) as http:
        for server in servers:
            async with http.post(f"{server.url}/api/v1/jobs", json=SEED_BODY) as resp:
                assert resp.status == 202
                job_id = (await resp.json())["eval_id"]
            async with http.get(f"{server.url}/api/v1/jobs/{job_id}?wait=20") as resp:
                assert (await resp.json())["status"] == "completed"
    versions = _migration_versions(env)
    assert sorted(versions) == sorted(set(versions)), "no migration applied twice"
    assert len(versions) >= (2 if is_postgres(env) else 5)
    migrated = [e for s in servers for e in s.events("store_migrated")]
    if is_postgres(env):
        assert len(migrated) == 1, "one process migrated, the others found it done"
