"""Wiring: the aiohttp application, its routes, and the lifecycle of everything that
runs beside the API in the same process (store, scoring executor, workers)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
from typing import Any

from aiohttp import web

from nexio_lite import console, jobtypes
from nexio_lite.api import routes
from nexio_lite.api.context import SERVICES, Services
from nexio_lite.api.middleware import request_context
from nexio_lite.auth import KeyChecker
from nexio_lite.config import Settings
from nexio_lite.leadership import Leadership
from nexio_lite.logs import get_logger
from nexio_lite.loopwatch import LoopWatch
from nexio_lite.maintenance import MaintenanceRunners, SweepScheduler
from nexio_lite.metrics import make_metrics
from nexio_lite.scoring import Scorer
from nexio_lite.store import make_store
from nexio_lite.store.base import Store
from nexio_lite.supervisor import Supervisor, describe_error
from nexio_lite.webhooks.sender import DeliveryService
from nexio_lite.worker import WorkerPool

log = get_logger("nexio_lite.app")

KEY_FLUSH_SECONDS = 5.0
HOUSEKEEPING_SECONDS = 0.5  # the store's own upkeep (SQLite: checkpoints of the WAL)
ROUND_GRACE_SECONDS = 2.0  # at shutdown, a loop's round in progress gets this long
WORKERS = web.AppKey("workers", WorkerPool)


def create_app(settings: Settings, store: Store | None = None) -> web.Application:
    """The whole service as one aiohttp application. Starting it (runner setup) opens
    the store and starts the workers; cleaning it up drains them."""
    if store is None:
        store = make_store(settings.database)
    app = web.Application(
        client_max_size=settings.server.max_body_bytes,
        middlewares=[request_context],
        # Bodies are decoded by api/body.py, bounded; aiohttp would inflate a whole
        # gzip body on the event loop, even one whose request is refused.
        handler_args={"auto_decompress": False},
    )
    app[SERVICES] = Services(settings=settings, store=store, keys=KeyChecker(store),
                             metrics=make_metrics(settings.metrics.enabled))  # fmt: skip
    # A worker's port serves only the operations routes (health, readiness, metrics).
    routes.register(app, routes.served(settings.server.role, settings.metrics.enabled))
    if settings.server.role != "worker":
        console.setup(app)  # the web console, /ui/ (API.md §10)
    app.on_shutdown.append(_answer_long_polls)
    app.cleanup_ctx.append(_lifecycle)
    return app


async def _answer_long_polls(app: web.Application) -> None:
    """At shutdown, `?wait` requests answer at once with the job as it is."""
    app[SERVICES].waiters.wake_all()


async def _lifecycle(app: web.Application) -> AsyncIterator[None]:
    """Start everything beside the API; on a failed start, stop what had started and
    re-raise; on shutdown, stop it all within `server.shutdown_grace_seconds`."""
    svc = app[SERVICES]
    settings = svc.settings
    await svc.store.open()
    parts = _Parts(svc)
    try:
        await parts.start(app)
    except BaseException:
        await parts.stop(grace=0.0)
        raise
    log.info(
        "service_started",
        database=settings.database.path,
        workers=settings.workers.concurrency,
        processes=settings.workers.processes,
    )
    try:
        yield
    finally:
        await parts.stop(grace=settings.server.shutdown_grace_seconds)
        log.info("service_stopped")


class _Parts:
    """What runs beside the API in one process, started in order and stopped in reverse;
    each stop step is bounded, and none can keep the others from running."""

    def __init__(self, svc: Services) -> None:
        self.svc = svc
        self.supervisor = Supervisor()
        self.watch = LoopWatch(svc.metrics)
        self.scorer: Scorer | None = None
        self.sender: DeliveryService | None = None
        self.workers: WorkerPool | None = None
        self.warming: asyncio.Task[None] | None = None
        self.leadership: Leadership | None = None

    async def start(self, app: web.Application) -> None:
        """What this process's role runs: `api` answers requests (and recomputes traces);
        `worker` claims and runs jobs, delivers webhooks and runs the periodic sweeps;
        `all` does both."""
        svc, settings = self.svc, self.svc.settings
        role = settings.server.role
        scorer = self.scorer = Scorer(
            svc.store, settings.workers.processes, settings.workers.job_timeout_seconds
        )
        svc.checks = self.checks
        svc.trace = scorer.trace
        svc.metrics.watch_restarts(scorer.restarts)
        self.watch.start()
        svc.loop_worst_ms = lambda reset: self.watch.reset() if reset else self.watch.worst_ms
        svc.store.subscribe("finished", svc.waiters.finished)
        if role != "api":
            await self._start_work(app, scorer)
        self.supervisor.start("key_last_used", self._flush_keys, KEY_FLUSH_SECONDS)
        self.supervisor.start("checkpoint", self._checkpoint, HOUSEKEEPING_SECONDS)
        self.supervisor.start("announce", self._announce, settings.workers.poll_interval_seconds)

    async def _start_work(self, app: web.Application, scorer: Scorer) -> None:
        svc, settings = self.svc, self.svc.settings
        sender = self.sender = DeliveryService(
            svc.store, settings.webhooks, settings.base_url,
            poll_seconds=settings.workers.poll_interval_seconds, metrics=svc.metrics,
        )  # fmt: skip
        maintenance = MaintenanceRunners(svc.store, settings.retention)
        runners = jobtypes.runners({"scorer": scorer, "maintenance": maintenance})
        leadership = self.leadership = Leadership(svc.store, settings.workers.lease_seconds)
        await leadership.renew()
        leadership.start(self.supervisor)
        workers = self.workers = WorkerPool(
            svc.store,
            runners,
            settings.workers,
            webhook_delay_ms=sender.first_delay_ms,
            leadership=leadership,
            metrics=svc.metrics,
        )
        app[WORKERS] = workers
        self.warming = asyncio.create_task(scorer.warm(), name="scoring-warm")
        await sender.start(self.supervisor)
        await workers.start(self.supervisor)
        SweepScheduler(svc.store, settings.retention, leadership=leadership,
                       metrics=svc.metrics).start(self.supervisor)  # fmt: skip

    def checks(self) -> dict[str, dict[str, Any]]:
        """/readyz: every supervised loop, and the scoring processes."""
        out = {name: health.to_dict() for name, health in self.supervisor.health().items()}
        if self.scorer is not None:
            out["scoring"] = self.scorer.check()
        return out

    async def _flush_keys(self) -> None:
        await self.svc.keys.flush_last_used()

    async def _announce(self) -> None:
        await self.svc.store.announce_others()

    async def _checkpoint(self) -> None:
        await self.svc.store.checkpoint()

    async def stop(self, grace: float) -> None:
        """Loops first, then jobs and deliveries in flight (together, `grace` seconds),
        then the scoring processes and the store. Errors are logged, never raised."""
        if self.warming is not None:
            self.warming.cancel()
            await asyncio.gather(self.warming, return_exceptions=True)
        await self.supervisor.stop(grace_seconds=min(grace, ROUND_GRACE_SECONDS))
        draining = []
        if self.workers is not None:
            draining.append(self.workers.drain(grace))
        if self.sender is not None:
            draining.append(self.sender.stop(grace))
        for result in await asyncio.gather(*draining, return_exceptions=True):
            if isinstance(result, BaseException):
                log.error("shutdown_step_failed", error=describe_error(result))
        await _bounded("flush_keys", self.svc.keys.flush_last_used(), 1.0)
        if self.leadership is not None:
            await _bounded("release_leadership", self.leadership.release(), 1.0)
        if self.scorer is not None:
            loop = asyncio.get_running_loop()
            await _bounded("scoring_close", loop.run_in_executor(None, self.scorer.close), 5.0)
        await _bounded("store_close", self.svc.store.close(), 5.0)
        await self.watch.stop()


async def _bounded(step: str, awaitable: Awaitable[object], seconds: float) -> None:
    """One shutdown step: at most `seconds`, and its failure only logged."""
    try:
        await asyncio.wait_for(awaitable, seconds)
    except Exception as exc:  # includes TimeoutError
        log.error("shutdown_step_failed", step=step, error=describe_error(exc))
