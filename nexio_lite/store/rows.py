"""Column lists and row-to-record mapping that every SQL backend shares: both schemas
have the same tables and columns, so a row read with these column lists becomes the same
attrs record whichever database it came from."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from nexio_lite.models import ApiKey, Delivery, DeliveryAttempt, DeliveryStatus, Job, JobStatus

JOB_COLUMNS = (
    "seq, id, org_id, type, status, request, created_at, updated_at, pool_id, pool_version, "
    "webhook_url, started_at, completed_at, attempts, lease_until, claim_token, result, "
    "error, stages, candidates, rulebook_id, rulebook_version"
)
POOL_COLUMNS = "org_id, pool_id, version, generator, size, as_of, sha256, created_at"
KEY_COLUMNS = "id, org_id, name, scopes, created_at, last_used_at, revoked_at"
ORG_COLUMNS = "id, webhook_secret, previous_secret, secret_rotated_at, created_at"
DELIVERY_COLUMNS = (
    "id, job_id, org_id, webhook_id, url, status, created_at, updated_at, next_attempt_at, attempts"
)
ATTEMPT_COLUMNS = "number, at, status_code, error, latency_ms, response_excerpt"


def job_from_row(row: Iterable[Any]) -> Job:
    """A Job from a row read with JOB_COLUMNS."""
    r = list(row)
    r[4] = JobStatus(r[4])
    if isinstance(r[19], memoryview):
        r[19] = bytes(r[19])
    return Job(*r)


def delivery_from_row(row: Iterable[Any]) -> Delivery:
    """A Delivery (without its attempts) from a row read with DELIVERY_COLUMNS."""
    r = list(row)
    r[5] = DeliveryStatus(r[5])
    return Delivery(*r)


def attempt_from_row(row: Iterable[Any]) -> DeliveryAttempt:
    """A DeliveryAttempt from a row read with ATTEMPT_COLUMNS."""
    return DeliveryAttempt(*row)


def key_from_row(row: Iterable[Any]) -> ApiKey:
    """An ApiKey from a row read with KEY_COLUMNS (scopes are stored comma-separated)."""
    r = list(row)
    r[3] = tuple(s for s in r[3].split(",") if s)
    return ApiKey(*r)
