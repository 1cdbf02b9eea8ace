"""nexio_lite.metrics: registries, bounded labels, the queue gauges' cache."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client import REGISTRY

from nexio_lite import metrics as metrics_module
from nexio_lite.errors import StoreUnavailable
from nexio_lite.metrics import NO_METRICS, Metrics
from nexio_lite.models import QueueStats


class CountingStore:
    """Answers `queue_stats` slowly and counts the calls."""

    def __init__(self, stats: QueueStats | None = None) -> None:
        self.calls = 0
        self.stats = stats or QueueStats(jobs={("evaluation", "queued"): 7}, queue_lag_ms=2_500,
                                         deliveries_pending=3)  # fmt: skip
        self.fail = False

    async def queue_stats(self, now: int) -> QueueStats:
        self.calls += 1
        await asyncio.sleep(0.01)
        if self.fail:
            raise StoreUnavailable("disk full")
        return self.stats


def _sample(m: Metrics, name: str, **labels: str) -> float | None:
    return m.registry.get_sample_value(name, labels)


def test_each_instance_has_its_own_registry_and_none_uses_the_global_one() -> None:
    first, second = Metrics(), Metrics()
    first.job_submitted("evaluation")
    assert _sample(first, "nexio_jobs_submitted_total", type="evaluation") == 1
    assert _sample(second, "nexio_jobs_submitted_total", type="evaluation") == 0
    assert REGISTRY.get_sample_value("nexio_jobs_submitted_total", {"type": "evaluation"}) is None


def test_the_disabled_recorder_accepts_everything_and_keeps_nothing() -> None:
    assert not NO_METRICS.enabled
    NO_METRICS.http_request("GET", "/x", 200, 0.1)
    NO_METRICS.job_submitted("evaluation")
    NO_METRICS.job_claimed("evaluation", 0.1)
    NO_METRICS.job_finished("evaluation", "completed", 0.1)
    NO_METRICS.webhook_attempt("delivered")
    NO_METRICS.loop_stall(0.001)
    NO_METRICS.watch_restarts(dict)
    assert not hasattr(NO_METRICS, "registry")


def test_an_unknown_method_is_one_label_value_and_is_not_kept() -> None:
    m = Metrics()
    for method in ("PROPFIND", "MKCOL", "GET"):
        m.http_request(method, "unmatched", 405, 0.001)
    assert _sample(m, "nexio_http_requests_total", method="other", route="unmatched",
                   status="405") == 2  # fmt: skip
    assert list(m._http) == [("GET", "unmatched", 405)]


def test_restarts_are_read_from_the_pool_at_each_scrape() -> None:
    m = Metrics()
    assert _sample(m, "nexio_scoring_process_restarts_total", reason="died") == 0
    counts = {"died": 2, "timeout": 1}
    m.watch_restarts(lambda: counts)
    assert _sample(m, "nexio_scoring_process_restarts_total", reason="died") == 2
    counts["timeout"] = 4
    assert _sample(m, "nexio_scoring_process_restarts_total", reason="timeout") == 4


def test_queue_pairs_that_emptied_go_back_to_zero() -> None:
    m = Metrics()
    m.set_queue(QueueStats(jobs={("evaluation", "queued"): 5, ("test", "processing"): 1},
                           queue_lag_ms=1_500, deliveries_pending=2))  # fmt: skip
    assert _sample(m, "nexio_jobs", type="test", status="processing") == 1
    assert _sample(m, "nexio_queue_lag_seconds") == 1.5
    m.set_queue(QueueStats(jobs={}, queue_lag_ms=0, deliveries_pending=0))
    assert _sample(m, "nexio_jobs", type="evaluation", status="queued") == 0
    assert _sample(m, "nexio_jobs", type="test", status="processing") == 0
    assert _sample(m, "nexio_webhook_deliveries", status="pending") == 0


async def test_a_scrape_storm_reads_the_database_once_per_cache_period(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    m, store = Metrics(), CountingStore()
    await asyncio.gather(*(m.refresh_queue(store) for _ in range(50)))  # type: ignore[arg-type]
    assert store.calls == 1
    assert _sample(m, "nexio_jobs", type="evaluation", status="queued") == 7
    assert _sample(m, "nexio_queue_lag_seconds") == 2.5
    await m.refresh_queue(store)  # type: ignore[arg-type]
    assert store.calls == 1  # still fresh
    monkeypatch.setattr(metrics_module, "QUEUE_CACHE_SECONDS", 0.0)
    m._fresh_until = 0.0
    await m.refresh_queue(store)  # type: ignore[arg-type]
    assert store.calls == 2


async def test_a_database_failure_keeps_the_last_values_and_is_counted() -> None:
    m, store = Metrics(), CountingStore()
    await m.refresh_queue(store)  # type: ignore[arg-type]
    store.fail, m._fresh_until = True, 0.0
    await m.refresh_queue(store)  # type: ignore[arg-type]
    assert _sample(m, "nexio_jobs", type="evaluation", status="queued") == 7
    assert _sample(m, "nexio_queue_stats_failures_total") == 1
    assert b"nexio_queue_stats_failures_total 1.0" in m.render()
