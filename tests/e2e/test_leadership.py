"""Three real `nexio-lite serve` processes on one database (SQLite or PostgreSQL): one
holds the maintenance lease and sweeps; they sweep no more often than one would; when the
holder is killed another takes over within `workers.lease_seconds`."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Mapping
from pathlib import Path

from .conftest import Server, cli_env, demo_key, free_port, open_store

PERIOD_HOURS = 0.0005  # 1.8 s


async def _sweeps(env: Mapping[str, str]) -> int:
    """The decay sweeps queued so far for the one organization."""
    async with open_store(env) as store:
        return len(await store.list_jobs("acme", limit=100, job_type="decay_sweep"))


async def test_three_processes_sweep_no_more_often_than_one_and_the_lease_moves_on(
    tmp_path: Path, db_env: dict[str, str], server_factory: type[Server]
) -> None:
    env = cli_env(tmp_path, **db_env, NEXIO_RETENTION_SWEEP_INTERVAL_HOURS=str(PERIOD_HOURS),
                  NEXIO_WORKERS_LEASE_SECONDS="1", NEXIO_WORKERS_PROCESSES="1",
                  NEXIO_WORKERS_POLL_INTERVAL_SECONDS="0.1")  # fmt: skip
    await demo_key(env)  # one organization
    servers = [server_factory(env, free_port(), tmp_path / f"s{i}.log") for i in range(3)]
    await asyncio.gather(*(s.start() for s in servers))
    started = time.monotonic()
    await asyncio.sleep(3 * PERIOD_HOURS * 3600)
    elapsed_periods = (time.monotonic() - started) / (PERIOD_HOURS * 3600)
    sweeps = await _sweeps(env)
    # One organization, one sweep per period boundary crossed (not one per process).
    assert 1 <= sweeps <= int(elapsed_periods) + 1, (sweeps, elapsed_periods)
    leaders = [s for s in servers if s.events("leadership_taken")]
    assert len(leaders) == 1, "one process holds the lease"
    (leader,) = leaders
    submitted = [e for s in servers for e in s.events("job_submitted") if e.get("scheduled")]
    assert {e["job_id"] for e in submitted} <= {
        e["job_id"] for e in leader.events("job_submitted")
    }, "only the lease holder queues sweeps"

    await leader.signal(signal.SIGKILL)
    await leader.wait()
    others = [s for s in servers if s is not leader]
    deadline = time.monotonic() + 1 + 3  # lease_seconds, plus a renewal round and slack
    while not any(s.events("leadership_taken") for s in others):
        assert time.monotonic() < deadline, "no process took the lease over"
        await asyncio.sleep(0.1)
    assert sum(bool(s.events("leadership_taken")) for s in others) == 1
