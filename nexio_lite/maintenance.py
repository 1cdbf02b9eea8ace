"""Maintenance jobs (API.md §7, after seed 002): `decay_sweep` and `metrics`.

They are jobs like evaluations: queued in the same table, claimed by the same workers,
read through the same `GET /api/v1/jobs/{id}`. Their runners do database work through
the Store in the server process (no scoring). The scheduler queues one sweep per
organization every `retention.sweep_interval_hours`, never a second while one is
queued or running.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Callable
from typing import Any

import attrs

from nexio_lite.config import RetentionSettings
from nexio_lite.errors import Conflict
from nexio_lite.jsontext import dumps
from nexio_lite.leadership import Leadership
from nexio_lite.logs import get_logger
from nexio_lite.metrics import NO_METRICS, Recorder
from nexio_lite.models import DECAY_SWEEP, Job, NewJob, now_ms, random_id
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

    async def decay_sweep(self, job: Job) -> Outcome:
        """Delete the organization's terminal jobs of the swept types (`jobtypes`: evaluations
        and screen analyses) finished before the cutoff,
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


def sweep_job_id(org_id: str, period: int) -> str:
    """The id of the scheduled sweep of `org_id` for sweep period `period`: the same in
    every process, so the database refuses a second one (deduplication by key)."""
    digest = hashlib.sha256(f"decay_sweep:{org_id}:{period}".encode()).hexdigest()
    return f"job_{digest[:32]}"


class SweepScheduler:
    """Queues a decay_sweep per organization at the start of each sweep period (periods
    of `retention.sweep_interval_hours` counted from the Unix epoch, so all processes
    agree on them), skipping an organization whose previous sweep has not finished; and forgets
    expired idempotency keys every ten minutes. Both are supervised loops, and both run
    only in the process that holds the maintenance lease (`leadership`, when given)."""

    def __init__(
        self,
        store: Store,
        settings: RetentionSettings,
        clock: Callable[[], int] = now_ms,
        leadership: Leadership | None = None,
        metrics: Recorder = NO_METRICS,
    ) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock
        self.leadership = leadership
        self.metrics = metrics
        self._interval_ms = max(1, int(settings.sweep_interval_hours * 3_600_000))
        # The first sweeps come at the next period boundary, not at start: restarts
        # neither add sweeps nor put them off.
        self._last_period = clock() // self._interval_ms

    def start(self, supervisor: Supervisor) -> None:
        if self.settings.sweep_interval_hours > 0:
            supervisor.start("sweeper", self._sweep_round, SWEEP_CHECK_SECONDS)
        supervisor.start("idempotency_purge", self._purge_round, PURGE_INTERVAL_SECONDS)

    def _leading(self) -> bool:
        return self.leadership is None or self.leadership.held

    async def _purge_round(self) -> float | None:
        if not self._leading():
            return None
        purged = await self.store.purge_idempotency(now_ms())
        if purged:
            log.info("idempotency_keys_purged", count=purged)
        return None

    async def _sweep_round(self) -> float | None:
        """Queue this period's sweeps once; returns the seconds until the next period."""
        now = self.clock()
        period = now // self._interval_ms
        if self._leading() and period != self._last_period:
            await self.queue_sweeps(period)
            self._last_period = period
        return ((period + 1) * self._interval_ms - now) / 1000

    async def queue_sweeps(self, period: int | None = None) -> list[str]:
        """Queue a sweep for every organization that has none waiting; with `period`,
        at most one per organization and period, whichever process asks."""
        queued = []
        for org_id in await self.store.list_org_ids():
            if await self.store.has_active_job(org_id, DECAY_SWEEP):
                continue
            job = new_maintenance_job(org_id, DECAY_SWEEP, False, None, self.clock())
            if period is not None:
                job = attrs.evolve(job, id=sweep_job_id(org_id, period))
            try:
                await self.store.enqueue(job)
            except Conflict:  # another process queued this period's sweep already
                continue
            queued.append(job.id)
            self.metrics.job_submitted(DECAY_SWEEP)
            log.info("job_submitted", job_id=job.id, org_id=org_id, type=DECAY_SWEEP,
                     scheduled=True)  # fmt: skip
        return queued
