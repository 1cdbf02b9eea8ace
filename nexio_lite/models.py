"""Domain records shared by the store, the workers and the API. Times are integer
milliseconds since the Unix epoch (UTC); they are formatted only at the edges."""

from __future__ import annotations

import enum
import functools
import os
import threading
import time

import attrs

# The job types are declared in `jobtypes`; re-exported for the modules that read them here.
from nexio_lite.jobtypes import DECAY_SWEEP as DECAY_SWEEP
from nexio_lite.jobtypes import EVALUATION as EVALUATION
from nexio_lite.jobtypes import METRICS as METRICS
from nexio_lite.jobtypes import SCREEN_ANALYSIS as SCREEN_ANALYSIS

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

SCOPES: tuple[str, ...] = ("jobs:write", "jobs:read", "traces:read", "admin")
DEFAULT_SCOPES: tuple[str, ...] = ("jobs:write", "jobs:read", "traces:read")


class JobStatus(enum.StrEnum):
    QUEUED = "queued"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"

    @property
    def terminal(self) -> bool:
        return self in (JobStatus.COMPLETED, JobStatus.FAILED)


# Random ids: bytes from the operating system's CSPRNG, taken from a buffer refilled 4 KiB
# at a time (one system call per ~190 ids instead of one each). A byte below 248 (4 x 62)
# gives one base62 character (its value mod 62, uniform); the others are dropped.
_ID_ALPHABET = bytes.maketrans(bytes(range(248)), (BASE62 * 4).encode("ascii"))
_ID_DROP = bytes(range(248, 256))
_random_buffer = bytearray()
_random_lock = threading.Lock()


def _forget_random_buffer() -> None:
    _random_buffer.clear()  # a forked child must never reuse its parent's bytes


os.register_at_fork(after_in_child=_forget_random_buffer)


def _random_bytes(n: int) -> bytes:
    with _random_lock:
        if len(_random_buffer) < n:
            _random_buffer.extend(os.urandom(4096))
        out = bytes(_random_buffer[:n])
        del _random_buffer[:n]
    return out


def random_id(prefix: str, length: int = 20) -> str:
    """`prefix` + `length` random base62 characters (about 119 bits for 20), from the
    operating system's CSPRNG (see above): about half a microsecond."""
    text = ""
    while len(text) < length:
        text += _random_bytes(length + 4).translate(_ID_ALPHABET, _ID_DROP).decode("ascii")
    return prefix + text[:length]


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@functools.lru_cache(maxsize=4096)
def _iso_second(seconds: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.", time.gmtime(seconds))


def iso_ms(ms: int | None) -> str | None:
    """ISO 8601 UTC with milliseconds and `Z`, or None. (The text of each second is
    cached: an envelope's times, and those of jobs written together, share seconds.)"""
    if ms is None:
        return None
    seconds, millis = divmod(ms, 1000)
    return f"{_iso_second(seconds)}{millis:03d}Z"


@attrs.frozen
class Org:
    id: str
    webhook_secret: str
    previous_secret: str | None
    secret_rotated_at: int | None
    created_at: int


@attrs.frozen
class ApiKey:
    id: str
    org_id: str
    name: str
    scopes: tuple[str, ...]
    created_at: int
    last_used_at: int | None = None
    revoked_at: int | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


@attrs.frozen
class PoolVersion:
    """One immutable version of an organization's pool (the data lives in the store)."""

    org_id: str
    pool_id: str
    version: int
    generator: str
    size: int
    as_of: str
    sha256: str
    created_at: int


@attrs.frozen
class RulebookVersion:
    """One immutable version of an organization's rule book (SCREEN.md §2), numbered from 1.
    `sha256` is the hex digest of its canonical JSON, which lives in the store; `rules` and
    `regulations` count its entries."""

    org_id: str
    rulebook_id: str
    version: int
    sha256: str
    rules: int
    regulations: int
    created_at: int


@attrs.frozen
class NewJob:
    """What the API hands to the store at submit time."""

    id: str
    org_id: str
    type: str
    request: str  # the normalized request as JSON text
    created_at: int
    pool_id: str | None = None
    pool_version: int | None = None
    webhook_url: str | None = None
    rulebook_id: str | None = None  # screen_analysis: the rule book and the version
    rulebook_version: int | None = None  # current when the job was accepted


@attrs.frozen
class Job:
    seq: int
    id: str
    org_id: str
    type: str
    status: JobStatus
    request: str
    created_at: int
    updated_at: int
    pool_id: str | None = None
    pool_version: int | None = None
    webhook_url: str | None = None
    started_at: int | None = None
    completed_at: int | None = None
    attempts: int = 0
    lease_until: int | None = None
    claim_token: str | None = None
    result: str | None = None  # JSON object text of the type's result fields
    error: str | None = None  # JSON object text {code, message, details}
    stages: str | None = None  # JSON list text of pipeline stage timings
    candidates: bytes | None = None  # ranked candidates: JSON array, `packing.pack`ed
    rulebook_id: str | None = None  # screen_analysis jobs: the rule book version used
    rulebook_version: int | None = None


@attrs.frozen
class Claim:
    """A job a worker holds: only this token may renew, complete, fail or release it."""

    job: Job
    token: str


@attrs.frozen
class ReapReport:
    requeued: tuple[str, ...]
    failed: tuple[str, ...]
    delivering: tuple[str, ...] = ()  # the failed ones with a webhook delivery queued


class DeliveryStatus(enum.StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


@attrs.frozen
class DeliveryAttempt:
    number: int
    at: int
    status_code: int | None
    error: str | None
    latency_ms: int
    response_excerpt: str | None


@attrs.frozen
class Delivery:
    id: str
    job_id: str
    org_id: str
    webhook_id: str
    url: str
    status: DeliveryStatus
    created_at: int
    updated_at: int
    next_attempt_at: int | None
    attempts: int
    history: tuple[DeliveryAttempt, ...] = ()


@attrs.frozen
class DeliveryClaim:
    """A delivery attempt in flight: only this token may record its outcome."""

    delivery: Delivery
    token: str


class IdempotencyState(enum.StrEnum):
    FRESH = "fresh"  # this request owns the key: go ahead
    REPLAY = "replay"  # the same request already succeeded: answer `response` again
    IN_PROGRESS = "in_progress"  # the same key is being used by a request right now
    REUSED = "reused"  # the key was used with another body


@attrs.frozen
class IdempotencyClaim:
    state: IdempotencyState
    response: str | None = None
    job_id: str | None = None


@attrs.frozen
class SweepCount:
    scanned: int  # terminal jobs of the swept types of the organization examined
    affected: int  # of those, the ones older than the cutoff


@attrs.frozen
class QueueStats:
    """The whole queue as the database holds it now (for the metrics gauges)."""

    jobs: dict[tuple[str, str], int]  # (type, status) -> jobs queued or processing; absent: 0
    queue_lag_ms: int  # age of the job at the head of the queue; 0 when none is queued
    deliveries_pending: int  # webhook deliveries not yet delivered nor given up
