"""Decisions every backend shares (STYLE.md habit 14): backends store and fetch, these
pure functions decide. A third backend calls them and copies nothing.

- `decide_idempotent`: the Idempotency-Key state machine (fresh, replay, in progress,
  reused, and the takeover of a key whose request never finished or that expired);
- `job_metrics_report`: the arithmetic of the `metrics` maintenance job;
- `attempts_exhausted_error`: the error body of a job the reaper gives up on;
- `queue_stats_from`: the queue gauges from the few counts a backend reads.
"""

from __future__ import annotations

from typing import Any

import attrs

from nexio_lite import jobtypes
from nexio_lite.models import (
    EVALUATION,
    IdempotencyClaim,
    IdempotencyState,
    QueueStats,
)

# printf-style, so SQL engines with printf (SQLite) and Python's % format the same text.
ATTEMPTS_EXHAUSTED = (
    '{"code":"attempts_exhausted","message":"The job was claimed %d times without finishing",'
    '"details":{"attempts":%d}}'
)

JOB_STATUSES = ("queued", "processing", "completed", "failed")


def attempts_exhausted_error(attempts: int) -> str:
    """The error JSON of a job failed by the reaper after `attempts` claims."""
    return ATTEMPTS_EXHAUSTED % (attempts, attempts)


# ---- queue gauges ----------------------------------------------------------------------


# Job types a backend may count one by one among the queued jobs (SQLite does, through
# the (org_id, type) index: there are few of them), leaving the rest to evaluations.
def counted_queued_types() -> tuple[str, ...]:
    return tuple(t for t in jobtypes.names() if t != EVALUATION)


def queue_stats_from(
    now: int,
    queued: int,
    head_created_at: int | None,
    deliveries_pending: int,
    rows: list[tuple[str, str, int]],
) -> QueueStats:
    """`QueueStats` from what a backend read: all queued jobs, the creation time of the
    job at the head of the queue, the pending deliveries, and (type, status, count) rows
    for the processing jobs and for queued jobs of some types (at least those of
    `counted_queued_types()`): queued jobs not in the rows are counted as evaluations."""
    jobs = {(job_type, status): int(count) for job_type, status, count in rows if count}
    rest = queued - sum(n for (_, status), n in jobs.items() if status == "queued")
    if rest > 0:
        jobs[(EVALUATION, "queued")] = rest
    lag = 0 if head_created_at is None else max(0, now - int(head_created_at))
    return QueueStats(jobs=jobs, queue_lag_ms=lag, deliveries_pending=int(deliveries_pending))


# ---- idempotency keys ------------------------------------------------------------------


@attrs.frozen
class StoredIdempotencyKey:
    """An idempotency key's row as the backend found it (under its row lock)."""

    request_hash: str
    job_id: str | None
    response: str | None
    created_at: int
    expires_at: int


@attrs.frozen
class IdempotencyDecision:
    """What to answer, and whether the backend must (re)write the key as taken by this
    request now: request_hash, created_at = now, expires_at = now + ttl, no job, no
    response."""

    claim: IdempotencyClaim
    take: bool = False


def decide_idempotent(
    stored: StoredIdempotencyKey | None, request_hash: str, now: int, stale_ms: int
) -> IdempotencyDecision:
    """The state machine of one Idempotency-Key.

    `stored` is the key's row, or None when there is none (the backend then writes it:
    an atomic insert-if-absent, so of two concurrent requests exactly one is FRESH). An
    expired key is forgotten (taken afresh, whatever its body); another body is REUSED;
    a request that succeeded is REPLAYed; one still running is IN_PROGRESS, unless it
    started more than `stale_ms` ago (its process died): then this request takes over.
    """
    fresh = IdempotencyClaim(IdempotencyState.FRESH)
    if stored is None or stored.expires_at < now:
        return IdempotencyDecision(fresh, take=True)
    if stored.request_hash != request_hash:
        return IdempotencyDecision(IdempotencyClaim(IdempotencyState.REUSED))
    if stored.response is not None:
        return IdempotencyDecision(
            IdempotencyClaim(IdempotencyState.REPLAY, stored.response, stored.job_id)
        )
    if stored.created_at < now - stale_ms:
        return IdempotencyDecision(fresh, take=True)
    return IdempotencyDecision(IdempotencyClaim(IdempotencyState.IN_PROGRESS))


# ---- metrics ---------------------------------------------------------------------------


def percentile(ordered: list[int], q: float) -> int | None:
    """Nearest-rank percentile of an ascending list; None when empty."""
    if not ordered:
        return None
    rank = max(1, -(-int(q * 1000) * len(ordered) // 1000))
    return ordered[rank - 1]


def job_metrics_report(
    counts: list[tuple[str, int]], durations: list[int], delivered: int, failed: int
) -> dict[str, Any]:
    """The `metrics` job's report from what the backend fetched for the window: job
    counts per status, evaluation durations (ms, ascending), and the deliveries that
    finished as delivered / failed. Every status is present (0 when none)."""
    by_status = dict.fromkeys(JOB_STATUSES, 0)
    for status, n in counts:
        by_status[status] = int(n)
    finished = delivered + failed
    return {
        "jobs_by_status": by_status,
        "duration_ms_p50": percentile(durations, 0.50),
        "duration_ms_p95": percentile(durations, 0.95),
        "webhook_success_rate": round(delivered / finished, 4) if finished else None,
        "webhooks_delivered": delivered,
        "webhooks_failed": failed,
    }
