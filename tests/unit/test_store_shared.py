"""The decisions both store backends share (store/shared.py), against hand-computed
expectations."""

from __future__ import annotations

import json

from nexio_lite.models import IdempotencyState
from nexio_lite.store.shared import (
    StoredIdempotencyKey,
    attempts_exhausted_error,
    decide_idempotent,
    job_metrics_report,
    percentile,
)

NOW = 1_750_000_000_000


def _stored(**changes: object) -> StoredIdempotencyKey:
    fields: dict[str, object] = {"request_hash": "h", "job_id": None, "response": None,
                                 "created_at": NOW, "expires_at": NOW + 10**9}  # fmt: skip
    fields.update(changes)
    return StoredIdempotencyKey(**fields)  # type: ignore[arg-type]


def test_a_free_key_is_fresh() -> None:
    decision = decide_idempotent(None, "h", NOW, 60_000)
    assert (decision.claim.state, decision.take) == (IdempotencyState.FRESH, True)


def test_a_key_in_use_is_in_progress_then_stale_after_its_grace() -> None:
    busy = decide_idempotent(_stored(), "h", NOW + 60_000, 60_000)
    assert (busy.claim.state, busy.take) == (IdempotencyState.IN_PROGRESS, False)
    stale = decide_idempotent(_stored(), "h", NOW + 60_001, 60_000)
    assert (stale.claim.state, stale.take) == (IdempotencyState.FRESH, True)


def test_another_body_is_reused_and_a_finished_request_replays() -> None:
    assert decide_idempotent(_stored(), "other", NOW, 60_000).claim.state is (
        IdempotencyState.REUSED
    )
    done = decide_idempotent(_stored(job_id="eval_1", response="{}"), "h", NOW, 60_000)
    assert (done.claim.state, done.claim.job_id, done.claim.response, done.take) == (
        IdempotencyState.REPLAY, "eval_1", "{}", False)  # fmt: skip


def test_an_expired_key_is_forgotten_whatever_its_body() -> None:
    old = _stored(request_hash="x", job_id="eval_1", response="{}", expires_at=NOW - 1)
    decision = decide_idempotent(old, "h", NOW, 60_000)
    assert (decision.claim.state, decision.take) == (IdempotencyState.FRESH, True)


def test_percentiles_are_nearest_rank() -> None:
    assert percentile([], 0.5) is None
    assert percentile([10, 20, 30], 0.50) == 20
    assert percentile([10, 20, 30], 0.95) == 30
    assert percentile(list(range(1, 101)), 0.95) == 95


def test_metrics_report_fills_every_status_and_rounds_the_success_rate() -> None:
    report = job_metrics_report([("completed", 3), ("queued", 1)], [10, 20, 30], 2, 1)
    assert report == {
        "jobs_by_status": {"queued": 1, "processing": 0, "completed": 3, "failed": 0},
        "duration_ms_p50": 20,
        "duration_ms_p95": 30,
        "webhook_success_rate": 0.6667,
        "webhooks_delivered": 2,
        "webhooks_failed": 1,
    }
    assert job_metrics_report([], [], 0, 0)["webhook_success_rate"] is None


def test_the_attempts_exhausted_error_is_one_fixed_json_text() -> None:
    text = attempts_exhausted_error(3)
    assert text == (
        '{"code":"attempts_exhausted","message":"The job was claimed 3 times without '
        'finishing","details":{"attempts":3}}'
    )
    assert json.loads(text)["details"] == {"attempts": 3}
