"""Maintenance jobs (API.md §7, after seed 002): `decay_sweep` and `metrics`.

They are jobs like evaluations: queued in the same table, claimed by the same workers,
read through the same `GET /api/v1/jobs/{id}`. Their runners do database work through
the Store in the server process (no scoring). The scheduler queues one sweep per
organization every `retention.sweep_interval_hours`, never a second while one is
queued or running.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

from nexio_lite.config import RetentionSettings
from nexio_lite.jsontext import dumps
from nexio_lite.logs import get_logger
from nexio_lite.models import DECAY_SWEEP, METRICS, Job, NewJob, now_ms, random_id
from nexio_lite.store.base import Store
from nexio_lite.supervisor import Supervisor
from nexio_lite.worker import Outcome

log = get_logger("nexio_lite.maintenance")

DAY_MS = 86_400_000


def new_maintenance_job(
    org_id: str, job_type: str, dry_run: bool, older_than_days: int | None, now: int
) -> NewJob:
    request = {"job_type": job_type, "dry_run": dry_run}
    if older_than_days is not None:
        request["older_than_days"] = older_than_days
    return NewJob(id=random_id("job_"), org_id=org_id, type=job_type, request=dumps(request),
                  created_at=now)  # fmt: skip


class MaintenanceRunners:
    def __init__(
        self, store: Store, settings: RetentionSettings, clock: Callable[[], int] = now_ms
    ) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock

    def runners(self) -> dict[str, Callable[[Job], Any]]:
        return {DECAY_SWEEP: self.decay_sweep, METRICS: self.metrics}

    async def decay_sweep(self, job: Job) -> Outcome:
        """Delete the organization's terminal evaluation jobs finished before the cutoff,
        in batches of `retention.batch_size` (each its own short write), yielding between
        them. A dry run counts exactly what a real run would delete, deleting nothing."""
        request = json.loads(job.request)
        days = request.get("older_than_days", self.settings.days)
        cutoff = self.clock() - days * DAY_MS
        counted = await self.store.count_sweepable(job.org_id, cutoff)
        deleted = 0
        if not request["dry_run"]:
            while True:
                n = await self.store.delete_swept(job.org_id, cutoff, self.settings.batch_size)
                deleted += n
                if n < self.settings.batch_size:
                    break
                await asyncio.sleep(0)  # let other writes in between batches
        affected = counted.affected if request["dry_run"] else deleted
        log.info("decay_sweep_done", job_id=job.id, org_id=job.org_id, dry_run=request["dry_run"],
                 scanned=counted.scanned, affected=affected)  # fmt: skip
        return Outcome(_result(request["dry_run"], counted.scanned, affected))

    async def metrics(self, job: Job) -> Outcome:
        request = json.loads(job.request)
        window_ms = int(self.settings.metrics_window_hours * 3_600_000)
        figures = await self.store.job_metrics(job.org_id, self.clock() - window_ms)
        figures["window_hours"] = self.settings.metrics_window_hours
        scanned = sum(figures["jobs_by_status"].values())
        return Outcome(_result(request["dry_run"], scanned, 0, metrics=figures))


def _result(dry_run: bool, scanned: int, affected: int, **extra: Any) -> str:
    return dumps({"dry_run": dry_run, "records_scanned": scanned, "records_affected": affected,
                  "errors": 0, **extra})  # fmt: skip


PURGE_INTERVAL_SECONDS = 600.0


SWEEP_CHECK_SECONDS = 60.0


class SweepScheduler:
    """Queues a decay_sweep per organization every interval (the first one an interval
    after start), skipping an organization whose previous sweep has not finished; and
    forgets expired idempotency keys every ten minutes. Both are supervised loops."""

    def __init__(
        self,
        store: Store,
        settings: RetentionSettings,
        notify: Callable[[], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.settings = settings
        self.notify = notify
        self.clock = clock
        self._interval = settings.sweep_interval_hours * 3600
        self._next_sweep = clock() + self._interval

    def start(self, supervisor: Supervisor) -> None:
        if self.settings.sweep_interval_hours > 0:
            supervisor.start("sweeper", self._sweep_round, SWEEP_CHECK_SECONDS)
        supervisor.start("idempotency_purge", self._purge_round, PURGE_INTERVAL_SECONDS)

    async def _purge_round(self) -> float | None:
        purged = await self.store.purge_idempotency(now_ms())
        if purged:
            log.info("idempotency_keys_purged", count=purged)
        return None

    async def _sweep_round(self) -> float | None:
        """Queue the sweeps when they are due; returns the seconds until the next."""
        if self.clock() >= self._next_sweep:
            await self.queue_sweeps()
            self._next_sweep = self.clock() + self._interval
        return self._next_sweep - self.clock()

    async def queue_sweeps(self) -> list[str]:
        queued = []
        for org_id in await self.store.list_org_ids():
            if await self.store.has_active_job(org_id, DECAY_SWEEP):
                continue
            job = new_maintenance_job(org_id, DECAY_SWEEP, False, None, now_ms())
            await self.store.enqueue(job)
            queued.append(job.id)
            log.info("job_submitted", job_id=job.id, org_id=org_id, type=DECAY_SWEEP,
                     scheduled=True)  # fmt: skip
        if queued:
            self.notify()
        return queued
