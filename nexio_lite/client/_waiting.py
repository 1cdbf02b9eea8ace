"""The arithmetic of `wait()`, shared by both clients (no I/O, no clock of its own)."""

from __future__ import annotations

import math

from nexio_lite.client._protocol import MAX_WAIT_ROUND
from nexio_lite.client.errors import WaitTimeout
from nexio_lite.client.models import Job

MIN_ROUND_SECONDS = 1.0  # a round that comes back sooner, not terminal, is padded to this


def round_seconds(remaining: float) -> int:
    """The `?wait=` of the next long-poll: the time left, rounded up (so a round never
    ends before the deadline is near), at most 60 (the API's limit)."""
    return min(MAX_WAIT_ROUND, max(0, math.ceil(remaining)))


def pause_after(round_elapsed: float, remaining: float) -> float:
    """Seconds to sleep after a non-terminal answer that came back early (a server or
    proxy that does not hold the request): rounds never come faster than one a second."""
    return max(0.0, min(MIN_ROUND_SECONDS - round_elapsed, remaining))


def timed_out(job: Job, timeout: float) -> WaitTimeout:
    return WaitTimeout(f"job {job.id} is still {job.status} after {timeout:g} s", job)
