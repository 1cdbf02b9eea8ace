"""The in-process worker pool: claim -> run -> complete or fail, with leases.

A dispatcher claims queued jobs in batches, as many as there are free slots, and runs
each in its own task. It sleeps until woken (a new job, a finished job, a requeue) and
never polls a queue that is known to be empty. A heartbeat renews the leases of every
job in flight in one statement; the reaper requeues jobs whose lease expired (a crashed
process) and fails a job once it has been claimed `max_attempts` times. A job's result
is accepted only while its claim token still matches, so a reaped job cannot be
finished twice.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any, Protocol

import attrs

from nexio_lite.config import WorkerSettings
from nexio_lite.errors import StoreError, StoreUnavailable
from nexio_lite.leadership import Leadership
from nexio_lite.logs import get_logger
from nexio_lite.metrics import NO_METRICS, Recorder
from nexio_lite.models import Claim, Job, JobStatus, now_ms
from nexio_lite.procpool import ScoringUnavailable
from nexio_lite.store.base import Store
from nexio_lite.supervisor import Loop, Supervisor, describe_error, persist

log = get_logger("nexio_lite.worker")

RUNNER_TIMEOUT_MARGIN_SECONDS = 1.0


class JobFailure(Exception):
    """Raised by a runner to fail a job with a structured error."""

    def __init__(self, code: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details or {}

    def to_json(self) -> str:
        return json.dumps(
            {"code": self.code, "message": self.message, "details": self.details},
            separators=(",", ":"),
        )


@attrs.frozen
class Outcome:
    """What a runner produced: the result fields (a JSON object's text), and for
    evaluations the stage timings (JSON text) and the ranked candidates (a JSON array,
    compressed by `packing.pack`)."""

    result: str
    stages: str | None = None
    candidates: bytes | None = None


class Runner(Protocol):
    async def __call__(self, job: Job) -> Outcome: ...


class RetryLater(Exception):
    """The job could not run for a reason outside it (e.g. a scoring process died)."""


class WorkerPool:
    def __init__(
        self,
        store: Store,
        runners: dict[str, Runner],
        settings: WorkerSettings,
        clock: Callable[[], int] = now_ms,
        webhook_delay_ms: int = 0,
        leadership: Leadership | None = None,
        metrics: Recorder = NO_METRICS,
    ) -> None:
        self.leadership = leadership
        self.metrics = metrics
        self.store = store
        self.runners = runners
        self.settings = settings
        self.clock = clock
        self.webhook_delay_ms = webhook_delay_ms
        self._dispatch_loop: Loop | None = None
        self._inflight: dict[str, tuple[Claim, asyncio.Task[None]]] = {}
        self._stopping = False
        self._claim_batch = max(1, settings.concurrency // 4)
        self._keep_busy = 2 * max(1, settings.processes)  # one running, one waiting each

    @property
    def lease_ms(self) -> int:
        return int(self.settings.lease_seconds * 1000)

    def _queued(self, _: list[str]) -> None:
        self.notify()

    def notify(self) -> None:
        """Wake the dispatcher: there may be work."""
        if self._dispatch_loop is not None:
            self._dispatch_loop.wake()

    async def start(self, supervisor: Supervisor) -> None:
        """Requeue what a crash left behind, then run the dispatcher, the heartbeat and
        the reaper as supervised loops (none of them with `concurrency` 0: the API alone)."""
        await self.reap_once()  # jobs left behind by a crash, before taking new ones
        if self.settings.concurrency == 0:
            return
        self._dispatch_loop = supervisor.start(
            "dispatch", self._dispatch_round, self.settings.poll_interval_seconds
        )
        self.store.subscribe("jobs", self._queued)
        supervisor.start("heartbeat", self._heartbeat_round, self.settings.lease_seconds / 3)
        supervisor.start("reaper", self.reap_round, self.settings.reap_interval_seconds)

    async def drain(self, grace_seconds: float) -> None:
        """Stop claiming (the supervisor has stopped the loops); let jobs in flight finish
        for up to `grace_seconds`; release the rest back to the queue."""
        self._stopping = True
        pending = [task for _, task in self._inflight.values()]
        if pending:
            await asyncio.wait(pending, timeout=grace_seconds)
        for claim, task in list(self._inflight.values()):
            task.cancel()
            try:
                if await self.store.release(claim, self.clock()):
                    log.info("job_released", job_id=claim.job.id, reason="shutdown")
            except StoreError as exc:  # its lease runs out and the reaper requeues it
                log.warning("job_release_failed", job_id=claim.job.id, error=str(exc))
        self._inflight.clear()

    # ---- loops (each a round, run by the supervisor) -----------------------------------

    async def _dispatch_round(self) -> float | None:
        """Claim as many queued jobs as there are free slots and start each. Runs when
        woken (a job queued, a slot freed) and every `workers.poll_interval_seconds` (jobs
        queued by another process on the same SQLite file)."""
        if self._stopping:
            return None
        free = self.settings.concurrency - len(self._inflight)
        if free <= 0:
            return None
        # Claim in batches: while enough jobs are in flight to keep every scoring process
        # busy, wait until a quarter of the slots are free rather than paying one claim
        # transaction per finished job (each finished job wakes this round again).
        if free < self._claim_batch and len(self._inflight) >= self._keep_busy:
            return None
        claims = await self.store.claim(free, self.lease_ms, self.clock())
        for claim in claims:
            job = claim.job
            log.info("job_claimed", job_id=job.id, type=job.type, attempt=job.attempts)
            waited_ms = (job.started_at or self.clock()) - job.created_at
            self.metrics.job_claimed(job.type, waited_ms / 1000)
            task = asyncio.create_task(self._run(claim), name=f"job-{claim.job.id}")
            self._inflight[claim.job.id] = (claim, task)
        # A full batch: the queue may hold more; look again as soon as a slot frees.
        return None

    async def _heartbeat_round(self) -> float | None:
        # Renew only jobs within their deadline (plus one heartbeat): a wedged job's lease
        # runs out and the reaper retries or fails it.
        now = self.clock()
        limit_ms = (self.settings.job_timeout_seconds + self.settings.lease_seconds / 3) * 1000
        claims = [claim for claim, _ in self._inflight.values()
                  if now - (claim.job.started_at or now) < limit_ms]  # fmt: skip
        if claims:
            held = await self.store.renew(claims, self.lease_ms, now)
            for claim in claims:
                if claim.job.id not in held:
                    log.warning("lease_lost", job_id=claim.job.id)
        return None

    async def reap_round(self) -> float | None:
        """Reap, in the one process that holds the maintenance lease (if there is one)."""
        if self.leadership is None or self.leadership.held:
            await self.reap_once()
        return None

    async def reap_once(self) -> None:
        now = self.clock()
        report = await self.store.reap(now, self.settings.max_attempts, now + self.webhook_delay_ms)
        for job_id in report.requeued:
            log.warning("lease_expired", job_id=job_id, action="requeued")
        for job_id in report.failed:
            log.warning("lease_expired", job_id=job_id, action="failed")
            log.info("job_failed", job_id=job_id, code="attempts_exhausted")
        if report.failed and self.metrics.enabled:
            await self._count_reaped(report.failed)

    async def _count_reaped(self, job_ids: tuple[str, ...]) -> None:
        """`nexio_jobs_finished_total` for the jobs the reaper failed (their type is read
        back: rare, and only with metrics on). A failed read loses only the count."""
        try:
            jobs = await self.store.get_jobs(list(job_ids))
        except StoreError as exc:
            log.warning("reaped_jobs_not_counted", count=len(job_ids), error=str(exc))
            return
        for job in jobs.values():
            self.metrics.job_finished(job.type, JobStatus.FAILED, None)

    # ---- one job ---------------------------------------------------------------------

    async def _run(self, claim: Claim) -> None:
        job = claim.job
        try:
            await self._run_and_record(claim)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # not recorded: the lease runs out and the job runs again
            log.error("job_not_recorded", job_id=job.id, error=describe_error(exc))
        finally:
            self._inflight.pop(job.id, None)
            self.notify()

    async def _run_and_record(self, claim: Claim) -> None:
        job = claim.job
        try:
            outcome = await self._execute(job)
        except asyncio.CancelledError:
            raise
        except RetryLater as exc:
            await self._retry_later(claim, str(exc))
        except JobFailure as failure:
            await self._finish(claim, failure=failure)
        except Exception as exc:
            log.exception("job_error", job_id=job.id)
            crashed = JobFailure(
                "pipeline_error",
                "The evaluation failed inside the pipeline",
                {"exception": type(exc).__name__},
            )
            await self._finish(claim, failure=crashed)
        else:
            await self._finish(claim, outcome=outcome)

    async def _execute(self, job: Job) -> Outcome:
        runner = self.runners.get(job.type)
        if runner is None:
            raise JobFailure("unknown_job_type", f"No runner for job type {job.type!r}")
        started = job.started_at or self.clock()
        remaining = (started + self.settings.job_timeout_seconds * 1000 - self.clock()) / 1000
        try:
            # Scoring calls stop at the deadline themselves (their process is replaced);
            # this bounds every other runner too, a little later.
            async with asyncio.timeout(max(0.0, remaining) + RUNNER_TIMEOUT_MARGIN_SECONDS):
                return await runner(job)
        except ScoringUnavailable as exc:  # its process died or passed the job's deadline
            raise RetryLater(str(exc)) from exc
        except TimeoutError as exc:
            raise RetryLater("the job ran past workers.job_timeout_seconds") from exc
        except StoreUnavailable as exc:  # e.g. a sweep's delete on a full disk
            raise RetryLater(f"the database is unavailable: {exc}") from exc

    async def _retry_later(self, claim: Claim, reason: str) -> None:
        if claim.job.attempts >= self.settings.max_attempts:
            failure = JobFailure(
                "attempts_exhausted",
                f"The job was claimed {claim.job.attempts} times without finishing",
                {"attempts": claim.job.attempts, "reason": reason},
            )
            await self._finish(claim, failure=failure)
        elif await persist(lambda: self.store.release(claim, self.clock()), "job_released",
                           lambda: self._stopping, job_id=claim.job.id):  # fmt: skip
            log.warning("job_released", job_id=claim.job.id, reason=reason)

    async def _finish(
        self, claim: Claim, outcome: Outcome | None = None, failure: JobFailure | None = None
    ) -> None:
        now = self.clock()
        deliver_at = now + self.webhook_delay_ms
        job = claim.job
        stopping = lambda: self._stopping  # noqa: E731
        if outcome is not None:
            result = outcome
            # Other jobs in flight may finish at once: the store may let this completion
            # wait a moment to share their transaction (never when it is the only one).
            more = len(self._inflight) > 1
            accepted = await persist(
                lambda: self.store.complete(
                    claim, result.result, result.stages, now, deliver_at, result.candidates,
                    more_coming=more,
                ),
                "job_completed", stopping, job_id=job.id,
            )  # fmt: skip
            event = "job_completed"
        else:
            assert failure is not None
            error = failure.to_json()
            accepted = await persist(
                lambda: self.store.fail(claim, error, now, deliver_at),
                "job_failed", stopping, job_id=job.id,
            )  # fmt: skip
            event = "job_failed"
        if not accepted:
            log.warning("completion_refused", job_id=job.id, reason="claim token no longer held")
            return
        run_ms = now - (job.started_at or now)
        status = JobStatus.COMPLETED if failure is None else JobStatus.FAILED
        self.metrics.job_finished(job.type, status, run_ms / 1000)
        if failure is None:
            log.info(event, job_id=job.id, type=job.type, duration_ms=run_ms)
        else:
            log.info(event, job_id=job.id, type=job.type, code=failure.code,
                     message=failure.message, duration_ms=run_ms)  # fmt: skip
