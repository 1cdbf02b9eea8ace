"""Prometheus metrics (API.md §9): the families of the contract's table, one registry per app.

What is guaranteed:

- `Metrics` declares every family of the table, with exactly its name, type and labels,
  plus `nexio_build_info{version}` = 1 and the process and Python collectors of
  prometheus-client, in a `CollectorRegistry` of its own: nothing is registered in the
  library's global registry, so several applications live in one process (tests).
- Label values are bounded: a route is the aiohttp route template (`/api/v1/jobs/{job_id}`,
  `unmatched` for a path no route matches), a method one of `METHODS` or `other`, a job
  type one the store holds, a status or outcome one of a fixed set. No organization, key,
  job or request id is ever a label value.
- Recording is cheap: children whose labels are known in advance are bound once; the
  others (per route, method and status) are bound on first use and kept in a dict, so a
  request costs one dict lookup, one counter increment and one histogram observation.
- The queue gauges (`nexio_jobs`, `nexio_queue_lag_seconds`, `nexio_webhook_deliveries`)
  come from the database (`Store.queue_stats`), so any process reports the whole queue;
  they are read when `/metrics` is scraped, at most once per `QUEUE_CACHE_SECONDS`
  however many scrapes arrive together. If the database cannot answer, the last values
  stay, `nexio_queue_stats_failures_total` counts it and the scrape still succeeds.
- `Recorder` records nothing (every method is a no-op): what the parts of an app with
  `metrics.enabled = false` are given, so they need no test of their own.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator, Mapping

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from nexio_lite import __version__, jobtypes
from nexio_lite.errors import StoreError
from nexio_lite.logs import get_logger
from nexio_lite.models import JobStatus, QueueStats, now_ms
from nexio_lite.procpool import RESTART_REASONS
from nexio_lite.store.base import Store

log = get_logger("nexio_lite.metrics")

# The `_created` series of every counter and histogram double the output and are not in
# the contract; prometheus-client can only turn them off for the whole process.
disable_created_metrics()

CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4  # the text format every Prometheus reads
QUEUE_CACHE_SECONDS = 1.0
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "unmatched"
ACTIVE_STATUSES = (JobStatus.QUEUED.value, JobStatus.PROCESSING.value)
FINISHED_STATUSES = (JobStatus.COMPLETED.value, JobStatus.FAILED.value)
WEBHOOK_OUTCOMES = ("delivered", "retry", "failed", "refused")
DELIVERY_STATUSES = ("pending",)

HTTP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
WAIT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)
RUN_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
STALL_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)


class Recorder:
    """The recording interface, recording nothing. `Metrics` records for real."""

    enabled = False

    def http_request(self, method: str, route: str, status: int, seconds: float) -> None:
        """One answered request; `route` is its template (or `UNMATCHED`)."""

    def job_submitted(self, job_type: str) -> None:
        """A job this process put in the queue (API, maintenance API, scheduled sweep)."""

    def job_claimed(self, job_type: str, wait_seconds: float) -> None:
        """A job this process claimed, `wait_seconds` after it was created."""

    def job_finished(self, job_type: str, status: str, run_seconds: float | None) -> None:
        """A job this process made `completed` or `failed`; `run_seconds` from its start
        (None when it was not run here: a job the reaper failed)."""

    def webhook_attempt(self, outcome: str) -> None:
        """One delivery attempt: `delivered`, `retry`, `failed` or `refused`."""

    def loop_stall(self, seconds: float) -> None:
        """How late the event loop woke for a timer."""

    def watch_restarts(self, source: Callable[[], Mapping[str, int]]) -> None:
        """Report the scoring processes' restarts (by reason) as `source` counts them."""


NO_METRICS = Recorder()


class _Restarts(Collector):
    """`nexio_scoring_process_restarts_total{reason}`, read from the pool's own counters
    at each scrape (zero until a pool is watched)."""

    def __init__(self) -> None:
        self.source: Callable[[], Mapping[str, int]] | None = None

    def _family(self) -> CounterMetricFamily:
        return CounterMetricFamily(
            "nexio_scoring_process_restarts",
            "Scoring processes replaced, by reason (died, timeout)",
            labels=("reason",),
        )

    def describe(self) -> Iterator[CounterMetricFamily]:
        yield self._family()

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = self._family()
        counts = self.source() if self.source is not None else {}
        for reason in RESTART_REASONS:
            family.add_metric((reason,), counts.get(reason, 0))
        yield family


class Metrics(Recorder):
    """Every family of API.md §9 in `self.registry`; see the module docstring."""

    enabled = True

    def __init__(self, version: str = __version__) -> None:
        registry = self.registry = CollectorRegistry()
        self.http_requests = Counter(
            "nexio_http_requests", "HTTP requests answered",
            ("method", "route", "status"), registry=registry,
        )  # fmt: skip
        self.http_duration = Histogram(
            "nexio_http_request_duration_seconds", "Time to answer an HTTP request",
            ("method", "route"), buckets=HTTP_BUCKETS, registry=registry,
        )  # fmt: skip
        self.jobs_submitted = Counter(
            "nexio_jobs_submitted", "Jobs accepted by this process", ("type",), registry=registry
        )
        self.jobs_finished = Counter(
            "nexio_jobs_finished", "Jobs this process brought to completed or failed",
            ("type", "status"), registry=registry,
        )  # fmt: skip
        self.jobs = Gauge(
            "nexio_jobs", "Jobs now queued or processing in the database (the whole queue)",
            ("type", "status"), registry=registry,
        )  # fmt: skip
        self.queue_lag = Gauge(
            "nexio_queue_lag_seconds", "Age of the oldest queued job, 0 when none",
            registry=registry,
        )  # fmt: skip
        self.job_wait = Histogram(
            "nexio_job_wait_seconds", "Time from a job's creation to its start (each claim)",
            ("type",), buckets=WAIT_BUCKETS, registry=registry,
        )  # fmt: skip
        self.job_run = Histogram(
            "nexio_job_run_seconds", "Time from a job's start to its completion or failure",
            ("type",), buckets=RUN_BUCKETS, registry=registry,
        )  # fmt: skip
        self.webhook_attempts = Counter(
            "nexio_webhook_attempts", "Webhook delivery attempts by outcome",
            ("outcome",), registry=registry,
        )  # fmt: skip
        self.webhook_deliveries = Gauge(
            "nexio_webhook_deliveries", "Webhook deliveries now pending in the database",
            ("status",), registry=registry,
        )  # fmt: skip
        self.loop_stalls = Histogram(
            "nexio_event_loop_stall_seconds", "How late the event loop woke for a timer",
            buckets=STALL_BUCKETS, registry=registry,
        )  # fmt: skip
        self.queue_stats_failures = Counter(
            "nexio_queue_stats_failures", "Scrapes whose queue gauges the database could not "
            "refresh (the last values were kept)", registry=registry,
        )  # fmt: skip
        build = Gauge("nexio_build_info", "Always 1", ("version",), registry=registry)
        build.labels(version).set(1)
        self._restarts = _Restarts()
        registry.register(self._restarts)
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
        GCCollector(registry=registry)

        # Children bound once. A type the store holds but this code does not name (tests
        # use their own) is bound on first use.
        types = jobtypes.names()
        self._submitted = {t: self.jobs_submitted.labels(t) for t in types}
        self._finished = {(t, s): self.jobs_finished.labels(t, s)
                          for t in types for s in FINISHED_STATUSES}  # fmt: skip
        self._wait = {t: self.job_wait.labels(t) for t in types}
        self._run = {t: self.job_run.labels(t) for t in types}
        self._outcomes = {o: self.webhook_attempts.labels(o) for o in WEBHOOK_OUTCOMES}
        self._jobs = {(t, s): self.jobs.labels(t, s) for t in types for s in ACTIVE_STATUSES}
        self._deliveries = {s: self.webhook_deliveries.labels(s) for s in DELIVERY_STATUSES}
        self._http: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

        self._refresh_lock = asyncio.Lock()
        self._fresh_until = 0.0

    # ---- recording (hot paths) -----------------------------------------------------------

    def http_request(self, method: str, route: str, status: int, seconds: float) -> None:
        children = self._http.get((method, route, status))
        if children is None:
            children = self._bind_http(method, route, status)
        children[0].inc()
        children[1].observe(seconds)

    def _bind_http(self, method: str, route: str, status: int) -> tuple[Counter, Histogram]:
        label = method if method in METHODS else "other"
        children = (self.http_requests.labels(label, route, str(status)),
                    self.http_duration.labels(label, route))  # fmt: skip
        if label == method:  # an unknown method is not kept: any text could be one
            self._http[(method, route, status)] = children
        return children

    def job_submitted(self, job_type: str) -> None:
        child = self._submitted.get(job_type)
        (child or self.jobs_submitted.labels(job_type)).inc()

    def job_claimed(self, job_type: str, wait_seconds: float) -> None:
        child = self._wait.get(job_type)
        (child or self.job_wait.labels(job_type)).observe(max(0.0, wait_seconds))

    def job_finished(self, job_type: str, status: str, run_seconds: float | None) -> None:
        child = self._finished.get((job_type, status))
        (child or self.jobs_finished.labels(job_type, status)).inc()
        if run_seconds is not None:
            run = self._run.get(job_type)
            (run or self.job_run.labels(job_type)).observe(max(0.0, run_seconds))

    def webhook_attempt(self, outcome: str) -> None:
        self._outcomes[outcome].inc()

    def loop_stall(self, seconds: float) -> None:
        self.loop_stalls.observe(max(0.0, seconds))

    def watch_restarts(self, source: Callable[[], Mapping[str, int]]) -> None:
        self._restarts.source = source

    # ---- scraping ----------------------------------------------------------------------

    async def refresh_queue(self, store: Store) -> None:
        """Read the queue gauges from the database, unless they were read less than
        `QUEUE_CACHE_SECONDS` ago; concurrent callers share one read."""
        if time.monotonic() < self._fresh_until:
            return
        async with self._refresh_lock:
            if time.monotonic() < self._fresh_until:
                return
            try:
                stats = await store.queue_stats(now_ms())
            except StoreError as exc:
                self.queue_stats_failures.inc()
                log.warning("metrics_queue_stats_failed", error=str(exc))
            else:
                self.set_queue(stats)
            self._fresh_until = time.monotonic() + QUEUE_CACHE_SECONDS

    def set_queue(self, stats: QueueStats) -> None:
        """Set the queue gauges; every (type, status) pair not in `stats` is 0."""
        for key in stats.jobs.keys() - self._jobs.keys():  # a type this code does not name
            self._jobs[key] = self.jobs.labels(*key)
        for key, child in self._jobs.items():
            child.set(stats.jobs.get(key, 0))
        self.queue_lag.set(stats.queue_lag_ms / 1000)
        self._deliveries["pending"].set(stats.deliveries_pending)

    def render(self) -> bytes:
        """The registry in the Prometheus text format (`CONTENT_TYPE`)."""
        return generate_latest(self.registry)


def make_metrics(enabled: bool) -> Recorder:
    """What an app records with: `Metrics` when `metrics.enabled`, else `NO_METRICS`."""
    return Metrics() if enabled else NO_METRICS
