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
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Protocol

import attrs

from nexio_lite.config import WorkerSettings
from nexio_lite.logs import get_logger
from nexio_lite.models import Claim, Job, now_ms
from nexio_lite.store.base import Store

log = get_logger("nexio_lite.worker")


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
    zlib-compressed)."""

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
        on_finished: Callable[[list[str]], None] | None = None,
        webhook_delay_ms: int = 0,
    ) -> None:
        self.store = store
        self.runners = runners
        self.settings = settings
        self.clock = clock
        self.on_finished = on_finished
        self.webhook_delay_ms = webhook_delay_ms
        self._wake = asyncio.Event()
        self._inflight: dict[str, tuple[Claim, asyncio.Task[None]]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False

    @property
    def lease_ms(self) -> int:
        return int(self.settings.lease_seconds * 1000)

    @property
    def running(self) -> bool:
        return bool(self._tasks) and not any(t.done() for t in self._tasks)

    def notify(self) -> None:
        """Wake the dispatcher: there may be work."""
        self._wake.set()

    async def start(self) -> None:
        await self.reap_once()  # jobs left behind by a crash, before taking new ones
        if self.settings.concurrency == 0:
            return
        self._tasks = [
            asyncio.create_task(self._dispatch(), name="worker-dispatch"),
            asyncio.create_task(self._heartbeat(), name="worker-heartbeat"),
            asyncio.create_task(self._reaper(), name="worker-reaper"),
        ]
        self.notify()

    async def drain(self, grace_seconds: float) -> None:
        """Stop claiming; let jobs in flight finish for up to `grace_seconds`; release the
        rest back to the queue."""
        self._stopping = True
        self._wake.set()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        pending = [task for _, task in self._inflight.values()]
        if pending:
            await asyncio.wait(pending, timeout=grace_seconds)
        for claim, task in list(self._inflight.values()):
            task.cancel()
            if await self.store.release(claim, self.clock()):
                log.info("job_released", job_id=claim.job.id)
        self._inflight.clear()

    # ---- loops -----------------------------------------------------------------------

    async def _dispatch(self) -> None:
        while not self._stopping:
            await self._wake.wait()
            self._wake.clear()
            free = self.settings.concurrency - len(self._inflight)
            if free <= 0:
                continue
            claims = await self.store.claim(free, self.lease_ms, self.clock())
            for claim in claims:
                log.info("job_claimed", job_id=claim.job.id, attempt=claim.job.attempts)
                task = asyncio.create_task(self._run(claim), name=f"job-{claim.job.id}")
                self._inflight[claim.job.id] = (claim, task)
            if len(claims) == free:
                self._wake.set()  # the queue may hold more: look again when a slot frees

    async def _heartbeat(self) -> None:
        interval = self.settings.lease_seconds / 3
        while True:
            await asyncio.sleep(interval)
            claims = [claim for claim, _ in self._inflight.values()]
            if claims:
                held = await self.store.renew(claims, self.lease_ms, self.clock())
                for claim in claims:
                    if claim.job.id not in held:
                        log.warning("lease_lost", job_id=claim.job.id)

    async def _reaper(self) -> None:
        while True:
            await asyncio.sleep(self.settings.reap_interval_seconds)
            await self.reap_once()

    async def reap_once(self) -> None:
        now = self.clock()
        report = await self.store.reap(now, self.settings.max_attempts, now + self.webhook_delay_ms)
        for job_id in report.requeued:
            log.warning("lease_expired", job_id=job_id, action="requeued")
        for job_id in report.failed:
            log.warning("lease_expired", job_id=job_id, action="failed")
            log.info("job_failed", job_id=job_id, code="attempts_exhausted")
        if report.requeued:
            self.notify()
        if report.failed:
            self._finished(list(report.failed))

    # ---- one job ---------------------------------------------------------------------

    async def _run(self, claim: Claim) -> None:
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
            failure = JobFailure(
                "pipeline_error",
                "The evaluation failed inside the pipeline",
                {"exception": type(exc).__name__},
            )
            await self._finish(claim, failure=failure)
        else:
            await self._finish(claim, outcome=outcome)
        finally:
            self._inflight.pop(job.id, None)
            self._wake.set()

    async def _execute(self, job: Job) -> Outcome:
        runner = self.runners.get(job.type)
        if runner is None:
            raise JobFailure("unknown_job_type", f"No runner for job type {job.type!r}")
        try:
            return await runner(job)
        except BrokenProcessPool as exc:
            raise RetryLater("a scoring process died") from exc

    async def _retry_later(self, claim: Claim, reason: str) -> None:
        if claim.job.attempts >= self.settings.max_attempts:
            failure = JobFailure(
                "attempts_exhausted",
                f"The job was claimed {claim.job.attempts} times without finishing",
                {"attempts": claim.job.attempts, "reason": reason},
            )
            await self._finish(claim, failure=failure)
        elif await self.store.release(claim, self.clock()):
            log.warning("job_released", job_id=claim.job.id, reason=reason)

    async def _finish(
        self, claim: Claim, outcome: Outcome | None = None, failure: JobFailure | None = None
    ) -> None:
        now = self.clock()
        deliver_at = now + self.webhook_delay_ms
        job = claim.job
        if outcome is not None:
            accepted = await self.store.complete(
                claim, outcome.result, outcome.stages, now, deliver_at, outcome.candidates
            )
            event = "job_completed"
        else:
            assert failure is not None
            accepted = await self.store.fail(claim, failure.to_json(), now, deliver_at)
            event = "job_failed"
        if not accepted:
            log.warning("completion_refused", job_id=job.id, reason="claim token no longer held")
            return
        if failure is None:
            log.info(event, job_id=job.id, duration_ms=now - (job.started_at or now))
        else:
            log.info(event, job_id=job.id, code=failure.code, message=failure.message)
        self._finished([job.id])

    def _finished(self, job_ids: list[str]) -> None:
        """Tell whoever listens (webhook sender, long-polls) that these jobs are terminal."""
        if self.on_finished is not None:
            self.on_finished(job_ids)
