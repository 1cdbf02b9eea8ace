"""Typed results of the client: frozen attrs records read from the API's JSON.

Guarantees:

- Every record keeps the whole JSON object it was read from in `raw`, so a field the
  class does not name (another job type's results, a field added later) is never lost.
- Timestamps are timezone-aware `datetime`s in UTC; a field the API may leave out or
  set to null is `None` here (candidates: an empty list, e.g. in `iter_jobs` items,
  which the API lists without candidates; `"candidates" in job.raw` tells them apart).
- A record whose required fields (`id`, `type`, `status` of a job; …) are missing or of
  the wrong type is refused with `InvalidResponse`, never half-built.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeVar

import attrs

from nexio_lite.client.errors import InvalidResponse

TERMINAL = frozenset({"completed", "failed"})
EVALUATION = "evaluation"
SCREEN_ANALYSIS = "screen_analysis"
T = TypeVar("T")
JSONObject = dict[str, Any]


def _field(raw: JSONObject, name: str, kind: type[T]) -> T:
    value = raw.get(name)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise InvalidResponse(
            f"expected {kind.__name__} field {name!r} in the answer, got {value!r:.80}",
            code="invalid_response",
        )
    return value


def _optional(raw: JSONObject, name: str, kind: type[T]) -> T | None:
    return None if raw.get(name) is None else _field(raw, name, kind)


def _time(raw: JSONObject, name: str) -> datetime | None:
    text = _optional(raw, name, str)
    if text is None:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise InvalidResponse(
            f"field {name!r} is not an ISO 8601 time: {text!r:.80}", code="invalid_response"
        ) from None


def _objects(raw: JSONObject, name: str) -> list[JSONObject]:
    items = raw.get(name) or []
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise InvalidResponse(f"field {name!r} is not a list of objects", code="invalid_response")
    return items


@attrs.frozen
class Candidate:
    """One ranked carrier of a completed evaluation."""

    rank: int
    carrier_id: str
    name: str
    tier: str
    confidence: str
    fit_score: int
    scores: dict[str, str]
    reasoning: str
    raw: JSONObject = attrs.field(repr=False)

    @classmethod
    def from_json(cls, raw: JSONObject) -> Candidate:
        return cls(
            rank=_field(raw, "rank", int),
            carrier_id=_field(raw, "carrier_id", str),
            name=_field(raw, "name", str),
            tier=_field(raw, "tier", str),
            confidence=_field(raw, "confidence", str),
            fit_score=_field(raw, "fit_score", int),
            scores=_field(raw, "scores", dict),
            reasoning=_field(raw, "reasoning", str),
            raw=raw,
        )


@attrs.frozen
class Occurrence:
    """Where a phrase occurs in the screened content: offsets in code points."""

    text: str
    start_offset: int
    end_offset: int

    @classmethod
    def from_json(cls, raw: JSONObject) -> Occurrence:
        return cls(_field(raw, "text", str), _field(raw, "start_offset", int),
                   _field(raw, "end_offset", int))  # fmt: skip


@attrs.frozen
class Finding:
    """One rule of the rule book that fired: its id, priority (`p1` first), title and
    details, the evidence in the content (the first 20 occurrences, `evidence_count` all
    of them) and the regulations it cites (`citations`, as sent)."""

    rule_id: str
    priority: str
    title: str
    details: str
    evidence: list[Occurrence]
    evidence_count: int
    citations: list[JSONObject]
    raw: JSONObject = attrs.field(repr=False)

    @classmethod
    def from_json(cls, raw: JSONObject) -> Finding:
        return cls(
            rule_id=_field(raw, "rule_id", str),
            priority=_field(raw, "priority", str),
            title=_field(raw, "title", str),
            details=_field(raw, "details", str),
            evidence=[Occurrence.from_json(o) for o in _objects(raw, "evidence")],
            evidence_count=_field(raw, "evidence_count", int),
            citations=_objects(raw, "citations"),
            raw=raw,
        )


@attrs.frozen
class ScreenResult:
    """The result of a completed `screen_analysis` job: the rule book used (`rulebook`:
    id, version, sha256), the content's SHA-256, the risk score (0-100), the number of
    findings per priority and the findings, most serious first."""

    rulebook: JSONObject
    content_sha256: str
    risk_score: int
    counts: dict[str, int]
    findings: list[Finding]
    raw: JSONObject = attrs.field(repr=False)

    @classmethod
    def from_json(cls, raw: JSONObject) -> ScreenResult:
        return cls(
            rulebook=_field(raw, "rulebook", dict),
            content_sha256=_field(raw, "content_sha256", str),
            risk_score=_field(raw, "risk_score", int),
            counts=_field(raw, "counts", dict),
            findings=[Finding.from_json(f) for f in _objects(raw, "findings")],
            raw=raw,
        )


@attrs.frozen
class JobError:
    """Why a job failed: `code`, `message`, `details` (an object)."""

    code: str
    message: str
    details: Any

    @classmethod
    def from_json(cls, raw: JSONObject) -> JobError:
        return cls(str(raw.get("code", "")), str(raw.get("message", "")), raw.get("details"))


@attrs.frozen
class Job:
    """The job envelope of any job type (branch on `type`): `error` when failed; for a
    completed evaluation its results (`pool_size`, `filtered`, `passed`, `candidates`,
    `audit`); for a completed screen_analysis job its result in `screen`. Other types'
    results are in `raw`."""

    id: str
    type: str
    status: str
    created_at: datetime | None
    updated_at: datetime | None
    started_at: datetime | None
    completed_at: datetime | None
    duration_ms: int | None
    attempts: int
    eval_id: str | None
    pool_size: int | None
    filtered: int | None
    passed: int | None
    candidates: list[Candidate]
    audit: str | None
    error: JobError | None
    raw: JSONObject = attrs.field(repr=False)
    screen: ScreenResult | None = None  # a completed screen_analysis job's result

    @property
    def terminal(self) -> bool:
        """Completed or failed: the job will never change again."""
        return self.status in TERMINAL

    @property
    def result(self) -> Any:
        """The envelope's `result` as JSON values (screens and other types that place
        their result there), or None."""
        return self.raw.get("result")

    @classmethod
    def from_json(cls, raw: JSONObject) -> Job:
        """The envelope's fields for every type; the evaluation's own fields only for an
        evaluation (another type's results stay in `raw`, whatever their shape)."""
        error = raw.get("error")
        job_type = _field(raw, "type", str)
        ours = raw if job_type == EVALUATION else {}
        return cls(
            id=_field(raw, "id", str),
            type=job_type,
            status=_field(raw, "status", str),
            created_at=_time(raw, "created_at"),
            updated_at=_time(raw, "updated_at"),
            started_at=_time(raw, "started_at"),
            completed_at=_time(raw, "completed_at"),
            duration_ms=_optional(raw, "duration_ms", int),
            attempts=_optional(raw, "attempts", int) or 0,
            eval_id=_optional(ours, "eval_id", str),
            pool_size=_optional(ours, "pool_size", int),
            filtered=_optional(ours, "filtered", int),
            passed=_optional(ours, "passed", int),
            candidates=[Candidate.from_json(c) for c in _objects(ours, "candidates")],
            audit=_optional(ours, "audit", str),
            error=JobError.from_json(error) if isinstance(error, dict) else None,
            raw=raw,
            screen=ScreenResult.from_json(result)
            if job_type == SCREEN_ANALYSIS and isinstance(result := raw.get("result"), dict)
            else None,
        )


@attrs.frozen
class Submitted:
    """The answer to a submission: the new job's `id` (for evaluations its `eval_id`),
    its `status` (`queued`), and whether it is a replay of an earlier request with the
    same Idempotency-Key (`replayed`)."""

    id: str
    status: str
    replayed: bool
    location: str | None
    raw: JSONObject = attrs.field(repr=False)

    @classmethod
    def from_json(cls, raw: JSONObject, replayed: bool, location: str | None) -> Submitted:
        job_id = raw.get("eval_id", raw.get("id"))
        if not isinstance(job_id, str):
            raise InvalidResponse("the submission answer has no job id", code="invalid_response")
        return cls(job_id, _field(raw, "status", str), replayed, location, raw)


@attrs.frozen
class Pool:
    """One pool of the organization, at its current version."""

    pool: str
    size: int
    version: int
    as_of: str | None
    sha256: str | None
    raw: JSONObject = attrs.field(repr=False)

    @classmethod
    def from_json(cls, raw: JSONObject) -> Pool:
        return cls(
            pool=_field(raw, "pool", str),
            size=_field(raw, "size", int),
            version=_field(raw, "version", int),
            as_of=_optional(raw, "as_of", str),
            sha256=_optional(raw, "sha256", str),
            raw=raw,
        )


@attrs.frozen
class DeliveryAttempt:
    """One recorded attempt of a webhook delivery; `status_code` is None when no answer
    came (then `error` says why)."""

    at: datetime | None
    status_code: int | None
    error: str | None
    latency_ms: int | None
    response_excerpt: str | None
    raw: JSONObject = attrs.field(repr=False)

    @classmethod
    def from_json(cls, raw: JSONObject) -> DeliveryAttempt:
        return cls(
            at=_time(raw, "at"),
            status_code=_optional(raw, "status_code", int),
            error=_optional(raw, "error", str),
            latency_ms=_optional(raw, "latency_ms", int),
            response_excerpt=_optional(raw, "response_excerpt", str),
            raw=raw,
        )


@attrs.frozen
class Delivery:
    """One webhook delivery of a job (`pending`, `delivered`, `failed`) and its attempts,
    oldest first."""

    id: str
    webhook_id: str
    url: str
    status: str
    created_at: datetime | None
    attempts: list[DeliveryAttempt]
    raw: JSONObject = attrs.field(repr=False)

    @classmethod
    def from_json(cls, raw: JSONObject) -> Delivery:
        return cls(
            id=_field(raw, "id", str),
            webhook_id=_field(raw, "webhook_id", str),
            url=_field(raw, "url", str),
            status=_field(raw, "status", str),
            created_at=_time(raw, "created_at"),
            attempts=[DeliveryAttempt.from_json(a) for a in _objects(raw, "attempts")],
            raw=raw,
        )


@attrs.frozen
class Redelivery:
    """The answer to a redelivery: the new delivery's id and status (`pending`)."""

    delivery_id: str
    status: str
    raw: JSONObject = attrs.field(repr=False)

    @classmethod
    def from_json(cls, raw: JSONObject) -> Redelivery:
        return cls(_field(raw, "delivery_id", str), _field(raw, "status", str), raw)


def data_items(raw: JSONObject) -> list[JSONObject]:
    """The `data` list of a list answer."""
    return _objects(raw, "data")
