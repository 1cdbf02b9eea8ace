"""The retry policy is a pure function: outcome, attempt number, clock and rng in,
a decision value out."""

from __future__ import annotations

import email.utils
import random

import pytest

from nexio_lite.webhooks.policy import (
    DEFAULT_RETRY_SCHEDULE,
    Delivered,
    GiveUp,
    Outcome,
    RetryAt,
    RetryPolicy,
    parse_retry_after,
)

NOW = 1_700_000_000.0
POLICY = RetryPolicy()


def decide(outcome: Outcome, attempt: int = 1, seed: int = 0) -> object:
    return POLICY.decide(outcome, attempt, NOW, random.Random(seed))


def test_default_schedule_is_the_documented_one() -> None:
    assert DEFAULT_RETRY_SCHEDULE == (0, 5, 300, 1800, 7200, 18000, 36000, 36000)
    assert POLICY.schedule == DEFAULT_RETRY_SCHEDULE
    assert POLICY.jitter == 0.10
    assert POLICY.max_attempts == 8


def test_first_delay_is_entry_zero_without_jitter() -> None:
    assert POLICY.first_delay() == 0
    assert RetryPolicy(schedule=(7, 1)).first_delay() == 7


@pytest.mark.parametrize("code", [200, 201, 202, 204, 299])
def test_2xx_is_delivered(code: int) -> None:
    assert decide(Outcome(status_code=code)) == Delivered()


def test_2xx_on_the_last_attempt_is_still_delivered() -> None:
    assert decide(Outcome(status_code=200), attempt=8) == Delivered()


def test_410_gives_up_at_once() -> None:
    assert decide(Outcome(status_code=410), attempt=1) == GiveUp("gone")


@pytest.mark.parametrize(
    ("outcome", "reason"),
    [
        (Outcome(status_code=429), "rate_limited"),
        (Outcome(status_code=500), "server_error"),
        (Outcome(status_code=503), "server_error"),
        (Outcome(status_code=301), "redirect_not_followed"),
        (Outcome(status_code=302), "redirect_not_followed"),
        (Outcome(status_code=400), "receiver_error"),
        (Outcome(status_code=404), "receiver_error"),
        (Outcome(status_code=101), "unexpected_status"),
        (Outcome(error="timeout"), "timeout"),
        (Outcome(error="connection_error"), "connection_error"),
        (Outcome(error="refused_address"), "refused_address"),
        (Outcome(), "no_response"),
    ],
)
def test_failures_are_retried_with_their_reason(outcome: Outcome, reason: str) -> None:
    decision = decide(outcome, attempt=2)
    assert isinstance(decision, RetryAt)
    assert decision.reason == reason
    assert NOW + 270 <= decision.at <= NOW + 330  # schedule[2] = 300 ± 10 %


def test_delay_is_the_next_entry_counted_from_now() -> None:
    policy = RetryPolicy(schedule=(0, 10, 20), jitter=0.0)
    assert policy.decide(Outcome(status_code=500), 1, 50.0, random.Random(1)) == RetryAt(
        60.0, "server_error"
    )
    assert policy.decide(Outcome(status_code=500), 2, 50.0, random.Random(1)) == RetryAt(
        70.0, "server_error"
    )


def test_jitter_stays_within_ten_percent_over_many_seeds() -> None:
    for attempt in range(1, len(DEFAULT_RETRY_SCHEDULE)):
        nominal = DEFAULT_RETRY_SCHEDULE[attempt]
        delays = []
        for seed in range(500):
            decision = decide(Outcome(status_code=500), attempt=attempt, seed=seed)
            assert isinstance(decision, RetryAt)
            delays.append(decision.at - NOW)
        assert all(nominal * 0.9 <= d <= nominal * 1.1 for d in delays)
        assert min(delays) < nominal < max(delays)  # really jittered, both ways
        assert max(delays) - min(delays) > nominal * 0.15  # spread over most of the band


def test_same_seed_same_decision() -> None:
    assert decide(Outcome(status_code=500), 3, seed=42) == decide(Outcome(status_code=500), 3, 42)


def test_schedule_exhausted_after_the_last_attempt() -> None:
    assert decide(Outcome(status_code=500), attempt=8) == GiveUp("schedule_exhausted")
    assert decide(Outcome(error="timeout"), attempt=8) == GiveUp("schedule_exhausted")
    one_shot = RetryPolicy(schedule=(0,))
    assert one_shot.decide(Outcome(status_code=503), 1, NOW, random.Random()) == GiveUp(
        "schedule_exhausted"
    )


def test_retry_after_longer_than_the_delay_is_honoured() -> None:
    """After attempt 1 the gap is 5 s ±10 %; Retry-After 120 s (≤ the next entry, 300 s)
    is honoured exactly."""
    decision = decide(Outcome(status_code=429, retry_after=120), attempt=1)
    assert decision == RetryAt(NOW + 120, "rate_limited")


def test_retry_after_is_capped_at_the_next_scheduled_gap() -> None:
    decision = decide(Outcome(status_code=503, retry_after=86_400), attempt=1)
    assert decision == RetryAt(NOW + 300, "server_error")


def test_retry_after_after_the_last_retry_is_capped_at_its_own_entry() -> None:
    """Attempt 7 is followed by the last entry (36000 s) and has no next one."""
    for seed in range(50):
        decision = decide(Outcome(status_code=503, retry_after=10**6), attempt=7, seed=seed)
        assert isinstance(decision, RetryAt)
        assert NOW + 36000 <= decision.at <= NOW + 39600


def test_retry_after_shorter_than_the_delay_never_makes_it_earlier() -> None:
    for seed in range(50):
        with_header = decide(Outcome(status_code=503, retry_after=1), attempt=2, seed=seed)
        without = decide(Outcome(status_code=503), attempt=2, seed=seed)
        assert with_header == without


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="attempt_number"):
        decide(Outcome(status_code=500), attempt=0)
    with pytest.raises(ValueError, match="attempt_number"):
        decide(Outcome(status_code=500), attempt=9)
    with pytest.raises(ValueError, match="at least one"):
        RetryPolicy(schedule=())
    with pytest.raises(ValueError, match=">= 0"):
        RetryPolicy(schedule=(0, -1))
    with pytest.raises(ValueError, match="jitter"):
        RetryPolicy(jitter=1.5)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("120", 120.0),
        (" 7 ", 7.0),
        ("1.5", 1.5),
        ("0", 0.0),
        ("-5", 0.0),
        ("soon", None),
        ("", None),
        ("1e9", None),
        ("nan", None),
    ],
)
def test_parse_retry_after_delta_seconds(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, NOW) == expected


def test_parse_retry_after_http_date() -> None:
    future = email.utils.formatdate(NOW + 90, usegmt=True)
    past = email.utils.formatdate(NOW - 90, usegmt=True)
    assert parse_retry_after(future, NOW) == 90.0
    assert parse_retry_after(past, NOW) == 0.0
    assert parse_retry_after("Wed, 32 Foo 2015 07:28:00 GMT", NOW) is None
