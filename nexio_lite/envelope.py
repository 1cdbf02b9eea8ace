"""The job envelope of API.md §5, rendered from a stored Job.

The result of a completed job is stored as JSON text and spliced in as it is, so
reading a job never re-parses (or re-orders) its candidates: the webhook body and the
GET body are the same bytes. Candidates are stored compressed (`packing`: about 11x
smaller for the seed's 578 candidates, 248 KB of JSON in 22 KB, 0.05 ms to unpack).
"""

from __future__ import annotations

import asyncio

from nexio_lite import packing
from nexio_lite.jobtypes import ResultIn, job_type
from nexio_lite.jsontext import dumps
from nexio_lite.models import Job, JobStatus, iso_ms

# Above this many compressed bytes of candidates (a pool of tens of thousands of
# carriers: 13.8 MB of JSON for 31,325 candidates), the envelope is rendered in a
# thread, so that the event loop keeps serving meanwhile.
LARGE_CANDIDATES_BYTES = 64 * 1024


async def envelope_bytes(job: Job, base_url: str) -> bytes:
    """`envelope(job, base_url)` as UTF-8 bytes, rendered off the event loop when large.
    The stored candidates' bytes go in as they are (never decoded and encoded again)."""
    if job.candidates is not None and len(job.candidates) > LARGE_CANDIDATES_BYTES:
        return await asyncio.to_thread(_envelope_utf8, job, base_url)
    return _envelope_utf8(job, base_url)


def _envelope_utf8(job: Job, base_url: str) -> bytes:
    head, candidates, tail = _parts(job, base_url)
    if candidates is None:
        return (head + tail).encode("utf-8")
    return b"".join((head.encode("utf-8"), b',"candidates":', candidates, tail.encode("utf-8")))


def envelope(job: Job, base_url: str, with_candidates: bool = True) -> str:
    """The job as `GET /api/v1/jobs/{id}` answers it (and its webhook sends it); list
    items leave the candidates out."""
    head, candidates, tail = _parts(job, base_url, with_candidates)
    if candidates is None:
        return head + tail
    return head + ',"candidates":' + candidates.decode("utf-8") + tail


def _parts(job: Job, base_url: str, with_candidates: bool = True) -> tuple[str, bytes | None, str]:
    """The envelope in three pieces: its text up to the candidates, the candidates' JSON
    (None when it has none, or without them), and the rest (`audit`, the closing brace)."""
    declared = job_type(job.type)
    head: dict[str, object] = {"id": job.id}
    if declared.eval_id:
        head["eval_id"] = job.id
    duration = (
        job.completed_at - job.started_at
        if job.completed_at is not None and job.started_at is not None
        else None
    )
    head.update(
        type=job.type,
        status=job.status.value,
        created_at=iso_ms(job.created_at),
        updated_at=iso_ms(job.updated_at),
        started_at=iso_ms(job.started_at),
        completed_at=iso_ms(job.completed_at),
        duration_ms=duration,
        attempts=job.attempts,
    )
    text = dumps(head)[:-1]  # without its closing brace
    candidates = None
    tail = "}"
    if job.status is JobStatus.COMPLETED and job.result:
        if declared.result_in is ResultIn.RESULT:
            text += ',"result":' + job.result
        else:
            inner = job.result.strip()[1:-1]
            if inner:
                text += "," + inner
        if with_candidates and job.candidates is not None:
            candidates = packing.unpack(job.candidates)
        if declared.audit:
            tail = ',"audit":' + dumps(f"{base_url}/traces/{job.id}") + "}"
    elif job.status is JobStatus.FAILED and job.error:
        text += ',"error":' + job.error
    return text, candidates, tail
