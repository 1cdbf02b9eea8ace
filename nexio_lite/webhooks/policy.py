"""The webhook retry policy: what happened in, a decision out (STYLE.md habit 5).

`RetryPolicy.decide` is pure: the caller passes the clock (`now`, the end of the
attempt just made) and the random source, and receives `Delivered`, `RetryAt` or
`GiveUp` as a value. It never sleeps, reads the clock or does I/O.

Classification of one attempt:

| outcome                          | decision | reason                  |
|----------------------------------|----------|-------------------------|
| 2xx                              | Delivered|                         |
| 410                              | GiveUp   | `gone` (at once)        |
| 429                              | retry    | `rate_limited`          |
| 5xx                              | retry    | `server_error`          |
| 3xx (redirects are not followed) | retry    | `redirect_not_followed` |
| other 4xx                        | retry    | `receiver_error`        |
| any other status (1xx, ≥ 600)    | retry    | `unexpected_status`     |
| no response, `error` set         | retry    | `error` itself (e.g. `timeout`) |
| no response, no error            | retry    | `no_response`           |

A retry becomes `GiveUp("schedule_exhausted")` when the attempt just made was the
last one the schedule allows (`attempt_number == len(schedule)`).
"""

from __future__ import annotations

import datetime as dt
import email.utils
import math
import random
import re
from typing import Any

import attrs

DEFAULT_RETRY_SCHEDULE: tuple[float, ...] = (0, 5, 300, 1800, 7200, 18000, 36000, 36000)
DEFAULT_JITTER = 0.10

_DELTA_SECONDS = re.compile(r"[+-]?\d+(?:\.\d+)?")


@attrs.frozen
class Outcome:
    """What one delivery attempt produced. `status_code` is None when no response
    arrived; `error` then names the error class (`timeout`, `connection_error`,
    `refused_address`, …). `retry_after` is in seconds from the end of the attempt,
    already parsed (see `parse_retry_after`)."""

    status_code: int | None = None
    error: str | None = None
    retry_after: float | None = None


@attrs.frozen
class Delivered:
    """The receiver answered 2xx: the delivery is done."""


@attrs.frozen
class RetryAt:
    """Make the next attempt at `at` (same clock as `now`); `reason` says why the last
    attempt failed (`receiver_error` is the receiver's own 4xx, the `reason` of its log event)."""

    at: float
    reason: str


@attrs.frozen
class GiveUp:
    """Stop: no further attempt for this delivery (`gone`, `schedule_exhausted`)."""

    reason: str


Decision = Delivered | RetryAt | GiveUp


def _check_schedule(_: object, __: attrs.Attribute[Any], value: tuple[float, ...]) -> None:
    if not value:
        raise ValueError("retry schedule must have at least one entry")
    if any(not math.isfinite(v) or v < 0 for v in value):
        raise ValueError("retry schedule entries must be finite and >= 0")


def _check_jitter(_: object, __: attrs.Attribute[Any], value: float) -> None:
    if not 0 <= value < 1:
        raise ValueError("jitter must be in [0, 1)")


@attrs.frozen
class RetryPolicy:
    """A retry schedule: entry i is the delay before attempt i+1, counted from the end
    of the previous attempt (entry 0 from the job's completion); its length is the
    number of attempts. Every entry but the first gets ±`jitter` (a fraction),
    uniformly.

    Retry-After ("honoured up to the next scheduled gap"), as implemented: after
    attempt n the planned delay is d = schedule[n] ± jitter. When the receiver sent a
    Retry-After of r seconds, the delay becomes max(d, min(r, cap)) where cap is the
    larger of schedule[n] and schedule[n+1] (just schedule[n] after the last retry
    has no successor). So a Retry-After never makes us retry *earlier* than the
    schedule, is honoured in full when it asks for less than the gap that would
    follow anyway, and can at most move the attempt out to that next gap: a receiver
    cannot park a delivery indefinitely, and the number of attempts never changes.
    """

    schedule: tuple[float, ...] = attrs.field(
        default=DEFAULT_RETRY_SCHEDULE,
        converter=lambda v: tuple(float(x) for x in v),
        validator=_check_schedule,
    )
    jitter: float = attrs.field(default=DEFAULT_JITTER, validator=_check_jitter)

    @property
    def max_attempts(self) -> int:
        return len(self.schedule)

    def first_delay(self) -> float:
        """Delay of the first attempt after the job reached a terminal state (no jitter)."""
        return self.schedule[0]

    def decide(
        self, outcome: Outcome, attempt_number: int, now: float, rng: random.Random
    ) -> Decision:
        """The decision after attempt `attempt_number` (1-based) ended at `now`."""
        if not 1 <= attempt_number <= self.max_attempts:
            raise ValueError(f"attempt_number must be in 1..{self.max_attempts}")
        code = outcome.status_code
        if code is not None and 200 <= code <= 299:
            return Delivered()
        if code == 410:
            return GiveUp("gone")
        if attempt_number == self.max_attempts:
            return GiveUp("schedule_exhausted")
        delay = self.next_delay(attempt_number, outcome.retry_after, rng)
        return RetryAt(at=now + delay, reason=failure_reason(outcome))

    def next_delay(
        self, attempt_number: int, retry_after: float | None, rng: random.Random
    ) -> float:
        """Seconds to wait after attempt `attempt_number` (< len(schedule)) before the
        next one: the jittered schedule entry, stretched by Retry-After as described on
        the class."""
        nominal = self.schedule[attempt_number]
        delay = nominal * (1 + rng.uniform(-self.jitter, self.jitter))
        if retry_after is None:
            return delay
        cap = max(self.schedule[attempt_number : attempt_number + 2])
        return max(delay, min(max(retry_after, 0.0), cap))


def failure_reason(outcome: Outcome) -> str:
    """Why a non-2xx outcome failed, as a stable snake_case word (see the module table)."""
    code = outcome.status_code
    if code is None:
        return outcome.error or "no_response"
    if code == 429:
        return "rate_limited"
    if 500 <= code <= 599:
        return "server_error"
    if 300 <= code <= 399:
        return "redirect_not_followed"
    if 400 <= code <= 499:
        return "receiver_error"
    return "unexpected_status"


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait according to a Retry-After header value: delta-seconds or an
    HTTP-date (relative to `now`, Unix seconds). None when absent or unparseable;
    negative and past values give 0."""
    if value is None:
        return None
    text = value.strip()
    seconds = float(text) if _DELTA_SECONDS.fullmatch(text) else _http_date_delta(text, now)
    if seconds is None or not math.isfinite(seconds):
        return None
    return max(seconds, 0.0)


def _http_date_delta(text: str, now: float) -> float | None:
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:  # "-0000" means UTC with no claim about local time
        when = when.replace(tzinfo=dt.UTC)
    return when.timestamp() - now
