"""Wiring: the aiohttp application, its routes, and the lifecycle of everything that
runs beside the API in the same process (store, scoring executor, workers)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from aiohttp import web

from nexio_lite.api import deliveries, jobs, maintenance, openapi, ops, traces
from nexio_lite.api.context import SERVICES, Services
from nexio_lite.api.middleware import request_context
from nexio_lite.auth import KeyChecker
from nexio_lite.config import Settings
from nexio_lite.logs import get_logger
from nexio_lite.loopwatch import LoopWatch
from nexio_lite.maintenance import MaintenanceRunners, SweepScheduler
from nexio_lite.models import EVALUATION
from nexio_lite.scoring import Scorer
from nexio_lite.store.base import Store
from nexio_lite.store.sqlite import SqliteStore
from nexio_lite.webhooks.sender import DeliveryService
from nexio_lite.worker import WorkerPool

log = get_logger("nexio_lite.app")

KEY_FLUSH_SECONDS = 5.0
WORKERS = web.AppKey("workers", WorkerPool)


def create_app(settings: Settings, store: Store | None = None) -> web.Application:
    """The whole service as one aiohttp application. Starting it (runner setup) opens
    the store and starts the workers; cleaning it up drains them."""
    if store is None:
        store = SqliteStore(settings.database.path, settings.database.busy_timeout_ms)
    app = web.Application(
        client_max_size=settings.server.max_body_bytes, middlewares=[request_context]
    )
    app[SERVICES] = Services(settings=settings, store=store, keys=KeyChecker(store))
    app.router.add_post("/api/v1/jobs", jobs.submit_job)
    app.router.add_get("/api/v1/jobs", jobs.list_jobs)
    app.router.add_post("/api/v1/maintenance/jobs", maintenance.submit_maintenance)
    app.router.add_get("/api/v1/pools", maintenance.list_pools)
    app.router.add_get("/api/v1/jobs/{job_id}", jobs.get_job)
    app.router.add_get("/api/v1/jobs/{job_id}/deliveries", deliveries.list_deliveries)
    app.router.add_post("/api/v1/jobs/{job_id}/deliveries/redeliver", deliveries.redeliver)
    app.router.add_get("/traces/{eval_id}", traces.get_trace)
    app.router.add_get("/healthz", ops.healthz)
    app.router.add_get("/readyz", ops.readyz)
    app.router.add_get("/openapi.json", openapi.openapi_json)
    app.cleanup_ctx.append(_lifecycle)
    return app


async def _lifecycle(app: web.Application) -> AsyncIterator[None]:
    svc = app[SERVICES]
    settings = svc.settings
    await svc.store.open()
    scorer = Scorer(svc.store, settings.workers.processes)
    sender = DeliveryService(svc.store, settings.webhooks, settings.base_url)
    runners = {EVALUATION: scorer.run_job}
    runners.update(MaintenanceRunners(svc.store, settings.retention).runners())

    def finished(job_ids: list[str]) -> None:
        sender.notify()
        svc.waiters.finished(job_ids)

    workers = WorkerPool(
        svc.store,
        runners,
        settings.workers,
        on_finished=finished,
        webhook_delay_ms=sender.first_delay_ms,
    )
    scheduler = SweepScheduler(svc.store, settings.retention, workers.notify)
    app[WORKERS] = workers
    svc.notify_workers = workers.notify
    svc.notify_deliveries = sender.notify
    svc.workers_running = lambda: workers.running
    svc.trace = scorer.trace
    watch = LoopWatch()
    watch.start()
    svc.loop_worst_ms = lambda reset: watch.reset() if reset else watch.worst_ms
    warming = asyncio.create_task(scorer.warm(), name="scoring-warm")
    await sender.start()
    await workers.start()
    scheduler.start()
    flusher = asyncio.create_task(_flush_keys(svc.keys), name="key-last-used")
    log.info(
        "service_started",
        database=settings.database.path,
        workers=settings.workers.concurrency,
        processes=settings.workers.processes,
    )
    try:
        yield
    finally:
        warming.cancel()
        await asyncio.gather(warming, return_exceptions=True)
        await scheduler.stop()
        await workers.drain(settings.server.shutdown_grace_seconds)
        await sender.stop(settings.server.shutdown_grace_seconds)
        flusher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await flusher
        await svc.keys.flush_last_used()
        await asyncio.get_running_loop().run_in_executor(None, scorer.close)
        await svc.store.close()
        await watch.stop()
        log.info("service_stopped")


async def _flush_keys(keys: KeyChecker) -> None:
    while True:
        await asyncio.sleep(KEY_FLUSH_SECONDS)
        await keys.flush_last_used()
