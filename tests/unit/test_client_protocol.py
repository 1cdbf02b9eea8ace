"""The client's pure parts: retry decisions, error mapping, reading records, the wait
arithmetic, and what importing the package costs."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime

import pytest

from nexio_lite.client import (
    Forbidden,
    InvalidRequest,
    InvalidResponse,
    Job,
    NexioError,
    NotFound,
    RetryPolicy,
    ServerError,
    Unavailable,
    Unprocessable,
)
from nexio_lite.client._protocol import (
    SendFailed,
    base_url,
    get_call,
    redeliver_call,
    submit_call,
)
from nexio_lite.client._waiting import pause_after, round_seconds
from nexio_lite.client.errors import error_from_answer, retry_after_seconds

SUBMIT = submit_call({"entity": "x"}, "carriers:all", None, None, None)
REDELIVER = redeliver_call("eval_x", None)


def unavailable(retry_after: float | None = None) -> NexioError:
    return Unavailable("busy", status=503, code="unavailable", retry_after=retry_after)


def test_retry_after_is_honoured_and_counted_against_the_cap() -> None:
    policy = RetryPolicy(max_retries=3, max_total_wait=10)
    assert policy.delay(SUBMIT, unavailable(2), retries=0, waited=0) == 2
    assert policy.delay(SUBMIT, unavailable(2), retries=2, waited=8) == 2
    assert policy.delay(SUBMIT, unavailable(2), retries=2, waited=8.5) is None
    assert policy.delay(SUBMIT, unavailable(2), retries=3, waited=0) is None
    assert RetryPolicy(max_retries=0).delay(SUBMIT, unavailable(0), 0, 0) is None


def test_backoff_without_retry_after_doubles_up_to_its_cap() -> None:
    policy = RetryPolicy(max_retries=10, max_total_wait=100, backoff=1, max_backoff=4)
    delays = [policy.delay(SUBMIT, unavailable(), n, 0) for n in range(5)]
    assert delays == [1, 2, 4, 4, 4]


def test_which_failures_are_retried() -> None:
    policy = RetryPolicy()
    not_found = NotFound("no", status=404, code="not_found")
    conflict = NexioError("busy", status=409, code="conflict")
    assert policy.delay(get_call("eval_x"), not_found, 0, 0) is None
    assert policy.delay(SUBMIT, conflict, 0, 0) is not None  # the same key in progress
    assert policy.delay(REDELIVER, conflict, 0, 0) is None  # not terminal / no webhook
    sent, unsent = SendFailed("reset", sent=True), SendFailed("refused", sent=False)
    assert policy.delay(REDELIVER, sent, 0, 0) is None
    assert policy.delay(REDELIVER, unsent, 0, 0) is not None
    assert policy.delay(SUBMIT, sent, 0, 0) is not None
    assert policy.delay(get_call("eval_x"), sent, 0, 0) is not None


def test_every_post_carries_an_idempotency_key() -> None:
    keys = {submit_call({}, "p", None, None, None).headers["Idempotency-Key"] for _ in range(50)}
    assert len(keys) == 50
    assert all(1 <= len(k) <= 255 and k.isprintable() for k in keys)
    assert submit_call({}, "p", None, None, "mine").headers["Idempotency-Key"] == "mine"
    assert REDELIVER.headers["Idempotency-Key"]
    assert SUBMIT.body == b'{"profile":{"entity":"x"},"pool":"carriers:all"}'


def test_ids_are_one_path_segment() -> None:
    assert get_call("../pools").path == "/api/v1/jobs/..%2Fpools"
    assert get_call("eval_x?wait=60", wait=3).path == "/api/v1/jobs/eval_x%3Fwait%3D60?wait=3"


@pytest.mark.parametrize(
    ("status", "cls"),
    [(400, InvalidRequest), (413, InvalidRequest), (422, Unprocessable), (403, Forbidden),
     (404, NotFound), (500, ServerError), (503, Unavailable), (418, NexioError)],
)  # fmt: skip
def test_error_answers_map_to_their_class(status: int, cls: type[NexioError]) -> None:
    body = b'{"error": {"code": "c", "message": "m", "details": [{"field": "f"}]}}'
    err = error_from_answer(status, {"retry-after": "3", "x-request-id": "req_1"}, body)
    assert type(err) is cls
    assert (err.status, err.code, err.message, err.details) == (status, "c", "m", [{"field": "f"}])
    assert (err.retry_after, err.request_id) == (3.0, "req_1")
    assert str(err) == f"{status} c: m"


def test_retry_after_accepts_seconds_only() -> None:
    assert [retry_after_seconds(v) for v in ("1", " 2.5 ", "0", None, "-1", "inf", "Wed, 21")] == [
        1.0, 2.5, 0.0, None, None, None, None,
    ]  # fmt: skip


def test_a_job_keeps_fields_it_does_not_name() -> None:
    raw = {"id": "job_1", "type": "metrics", "status": "completed", "attempts": 1,
           "created_at": "2026-05-01T12:00:00.250Z", "started_at": None,
           "dry_run": False, "metrics": {"jobs": 3},
           "candidates": [{"other": "shape"}]}  # fmt: skip
    job = Job.from_json(raw)
    assert job.terminal
    assert job.created_at == datetime(2026, 5, 1, 12, 0, 0, 250000, tzinfo=UTC)
    assert (job.started_at, job.candidates, job.error) == (None, [], None)
    assert job.raw["metrics"] == {"jobs": 3}
    assert job.raw["candidates"] == [{"other": "shape"}]  # another type's: kept as it is


def test_a_job_without_its_required_fields_is_an_invalid_response() -> None:
    with pytest.raises(InvalidResponse, match="'status'"):
        Job.from_json({"id": "job_1", "type": "metrics"})
    with pytest.raises(InvalidResponse, match="attempts"):
        Job.from_json({"id": "job_1", "type": "metrics", "status": "queued", "attempts": "1"})


def test_wait_rounds() -> None:
    assert [round_seconds(r) for r in (0, 0.2, 1.5, 59.1, 60, 600, -3)] == [
        0, 1, 2, 60, 60, 60, 0,
    ]  # fmt: skip
    assert pause_after(0.2, 10) == pytest.approx(0.8)
    assert pause_after(0.2, 0.3) == pytest.approx(0.3)
    assert pause_after(5, 10) == 0


def test_base_url_is_checked() -> None:
    assert base_url("http://127.0.0.1:8080/") == "http://127.0.0.1:8080"
    assert base_url("https://example.test/nexio/") == "https://example.test/nexio"
    for bad in ("127.0.0.1:8080", "ftp://x", "http://x/?q=1", "http:///x"):
        with pytest.raises(ValueError, match="base URL"):
            base_url(bad)


def test_importing_the_client_starts_nothing_and_loads_no_server_code() -> None:
    probe = (
        "import sys, threading, nexio_lite.client\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('nexio_lite')\n"
        "                and not m.startswith('nexio_lite.client'))\n"
        "print(threading.active_count(), loaded)\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True).stdout  # fmt: skip
    assert out.strip() == "1 ['nexio_lite']"
