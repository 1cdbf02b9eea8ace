"""The envelope as text (listings, the console) and as bytes (GET, webhooks) agree."""

from __future__ import annotations

import asyncio
import json

from nexio_lite import packing
from nexio_lite.envelope import envelope, envelope_bytes
from nexio_lite.models import Job, JobStatus

NOW = 1_750_000_000_000
CANDIDATES = '[{"rank":1,"name":"Zoë Mutual «A»"},{"rank":2,"name":"Ōtsuka"}]'


def _job(status: JobStatus, **kw: object) -> Job:
    return Job(seq=1, id="eval_00000000000000000001", org_id="acme", type="evaluation",
               status=status, request="{}", created_at=NOW, updated_at=NOW, started_at=NOW,
               completed_at=NOW + 3, attempts=1, **kw)  # type: ignore[arg-type]  # fmt: skip


def test_bytes_and_text_are_the_same_envelope() -> None:
    jobs = [
        _job(JobStatus.COMPLETED, result='{"pool_size":2,"filtered":0,"passed":2}',
             candidates=packing.pack(CANDIDATES.encode())),
        _job(JobStatus.FAILED, error='{"code":"x","message":"y","details":{}}'),
        _job(JobStatus.PROCESSING),
    ]  # fmt: skip
    for job in jobs:
        text = envelope(job, "http://x")
        assert asyncio.run(envelope_bytes(job, "http://x")) == text.encode("utf-8")
    completed = json.loads(envelope(jobs[0], "http://x"))
    assert list(completed)[-3:] == ["passed", "candidates", "audit"]
    assert completed["candidates"] == json.loads(CANDIDATES)
    assert "candidates" not in json.loads(envelope(jobs[0], "http://x", with_candidates=False))
