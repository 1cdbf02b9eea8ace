"""The component schemas of the OpenAPI document (API.md, DOMAIN.md §2, §7–8).

Plain JSON Schema 2020-12 data, as OpenAPI 3.1 takes it. Two habits hold throughout:

- Request bodies say `additionalProperties: false` where the server answers an unknown
  key with 400 `unknown_field` (the submit envelope, `options`, `profile`, the
  maintenance request), and accept `null` wherever the server treats `null` as absent.
  Rules that JSON Schema cannot state exactly (a real calendar date, at most 4 decimals,
  the claims/loss-ratio conflict) are told in descriptions, never approximated by a
  stricter schema: a body the schema accepts may still get a documented 400 or 422.
- Response objects leave `additionalProperties` open: the server may add fields.

Enumerations are read from the pipeline's own constants so the document cannot drift
from the validator.
"""

from __future__ import annotations

from typing import Any

from nexio_lite import jobtypes
from nexio_lite.api.maintenance import MAINTENANCE_REQUEST
from nexio_lite.fields import enum_varnames, nullable
from nexio_lite.jobtypes import EVALUATION, SCREEN_ANALYSIS, JobType
from nexio_lite.validation import WEBHOOK_URL
from nexio_lite.verticals.carriers.ranking import CONFIDENCE, TIERS
from nexio_lite.verticals.carriers.request import OPTIONS, POOL, PROFILE
from nexio_lite.verticals.carriers.schema import DIMENSIONS
from nexio_lite.verticals.package import load_package, request_fields
from nexio_lite.verticals.screen.request import CONTENT, CONTEXT, RULEBOOK
from nexio_lite.verticals.screen.rulebook import PRIORITIES

Schema = dict[str, Any]

JOB_STATUSES: tuple[str, ...] = ("queued", "processing", "completed", "failed")
DELIVERY_STATUSES: tuple[str, ...] = ("pending", "delivered", "failed")
LEVELS: tuple[str, ...] = ("L1", "L2", "L3", "L4")
DETAIL_CODES: tuple[str, ...] = (
    "required",
    "type",
    "range",
    "enum",
    "format",
    "unknown_field",
    "conflict",
)


def ref(name: str) -> Schema:
    """A reference to the component schema `name`."""
    return {"$ref": f"#/components/schemas/{name}"}


def _obj(
    properties: dict[str, Schema],
    required: str = "",
    *,
    closed: bool = False,
    description: str | None = None,
) -> Schema:
    """An object schema; `required` names properties separated by spaces, `closed`
    forbids keys other than `properties`."""
    schema: Schema = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required.split()
    schema["additionalProperties"] = not closed
    if description:
        schema["description"] = description
    return schema


def _str(description: str | None = None, **extra: Any) -> Schema:
    schema: Schema = {"type": "string", **extra}
    if description:
        schema["description"] = description
    return schema


def _int(minimum: int | None = None, maximum: int | None = None, **extra: Any) -> Schema:
    schema: Schema = {"type": "integer", **extra}
    if minimum is not None:
        schema["minimum"] = minimum
    if maximum is not None:
        schema["maximum"] = maximum
    return schema


def _enum(values: tuple[str, ...] | list[str], description: str | None = None) -> Schema:
    schema = _str(description, enum=list(values))
    names = enum_varnames(tuple(values))
    if names is not None:
        schema["x-enum-varnames"] = names
    return schema


def _timestamp(description: str, *, optional: bool = False) -> Schema:
    schema = _str(description + " (ISO 8601 UTC, milliseconds, `Z`).", format="date-time")
    return nullable(schema) if optional else schema


def _array(items: Schema, description: str | None = None) -> Schema:
    schema: Schema = {"type": "array", "items": items}
    if description:
        schema["description"] = description
    return schema


# ---------------------------------------------------------------- errors


def _error_schemas() -> dict[str, Schema]:
    return {
        "ErrorDetail": _obj(
            {
                "field": _str("Dotted path of the field, e.g. `profile.revenue`."),
                "code": _str("One of: " + ", ".join(DETAIL_CODES) + " (others may be added)."),
                "message": _str(),
            },
            "field code message",
            description="One problem found in a request (400 `invalid_request`).",
        ),
        "Error": _obj(
            {
                "error": _obj(
                    {
                        "code": _str(
                            "Machine-readable error code: invalid_request, unauthorized, "
                            "forbidden, not_found, conflict, request_timeout, "
                            "payload_too_large, unsupported_media_type, unknown_pool, "
                            "unknown_rulebook, idempotency_key_reused, invalid_webhook_url, "
                            "rate_limited, internal, unavailable (others may be added)."
                        ),
                        "message": _str("Human-readable message."),
                        "details": _array(
                            ref("ErrorDetail"),
                            "Always present; `[]` where there is nothing to list. For 400 "
                            "`invalid_request` every problem found, sorted by "
                            "`(field, code)`.",
                        ),
                    },
                    "code message details",
                )
            },
            "error",
            description="The body of every error response.",
        ),
    }


# ---------------------------------------------------------------- submit request


def _submit_schemas() -> dict[str, Schema]:
    """The submit body, from the declarations its validator uses (verticals/carriers/request.py)."""
    return {
        "Profile": PROFILE.schema(),
        "EvaluationOptions": OPTIONS.schema(),
        "SubmitJobRequest": _obj(
            {
                "profile": ref("Profile"),
                "pool": POOL.schema(),
                "webhook_url": nullable(WEBHOOK_URL.schema()),
                "options": nullable(ref("EvaluationOptions")),
            },
            "profile pool",
            closed=True,
        ),
        "JobAccepted": _obj(
            {
                "eval_id": _str("`eval_` and at least 16 base62 characters.", pattern="^eval_"),
                "status": _enum(("queued",)),
            },
            "eval_id status",
        ),
    }


# ---------------------------------------------------------------- screening (SCREEN.md)


def _screen_schemas() -> dict[str, Schema]:
    """The screen request, from the declarations its validator uses
    (verticals/screen/request.py), its answer, its result (§4) and its trace (§5)."""
    occurrence = _obj(
        {"text": _str("As written in the content."), "start_offset": _int(0),
         "end_offset": _int(0, description="One past the last code point.")},
        "text start_offset end_offset",
    )  # fmt: skip
    regulation = _obj(
        {"id": _str(), "category": _str(), "title": _str(), "authorities": _array(_str()),
         "jurisdictions": _array(_str()), "description": _str(),
         "updated_at": _str(format="date-time"), "source_url": _str()},
        "id category title authorities jurisdictions description updated_at source_url",
    )  # fmt: skip
    finding = _obj(
        {
            "rule_id": _str(),
            "priority": _enum(PRIORITIES),
            "title": _str(),
            "details": _str(),
            "evidence": _array(ref("ScreenOccurrence"), "The first 20, in content order."),
            "evidence_count": _int(0),
            "citations": _array(
                _obj({"regulation": regulation, "chunks": _array(ref("ScreenOccurrence"))},
                     "regulation chunks")
            ),
        },
        "rule_id priority title details evidence evidence_count citations",
    )  # fmt: skip
    rulebook_ref = _obj(
        {"id": _str(), "version": _int(1), "sha256": _str(pattern="^[0-9a-f]{64}$")},
        "id version sha256",
        description="The rule book version the job used.",
    )
    count = _int(0)
    result = _obj(
        {
            "type": _enum(("analysis.screen.result",)),
            "rulebook": rulebook_ref,
            "content_sha256": _str(pattern="^[0-9a-f]{64}$"),
            "risk_score": _int(0, 100),
            "counts": _obj(dict.fromkeys(PRIORITIES, count), " ".join(PRIORITIES)),
            "findings": _array(ref("ScreenFinding"), "p1 first, then by first evidence."),
        },
        "type rulebook content_sha256 risk_score counts findings",
        description="The result of a completed `screen_analysis` job (SCREEN.md §4).",
    )
    rule = _obj(
        {
            "rule_id": _str(),
            "applies": {"type": "boolean"},
            "not_applied_because": nullable(_enum(("state", "market", "document"))),
            "trigger_count": nullable(_int(0)),
            "phrase_count": _int(0),
            "fired": {"type": "boolean"},
        },
        "rule_id applies not_applied_because trigger_count phrase_count fired",
    )
    trace = _obj(
        {
            "id": _str(),
            "type": _enum(("screen_analysis",)),
            "rulebook": rulebook_ref,
            "context": {"type": "object", "description": "The fields given, and `document`."},
            "content_length": _int(0, description="Code points."),
            "content_sha256": _str(pattern="^[0-9a-f]{64}$"),
            "stages": _array({"type": "object"}, "validate, match, score."),
            "rules": _array(rule, "One per rule, in rule book order."),
        },
        "id type rulebook context content_length content_sha256 stages rules",
        description="The trace of a `screen_analysis` job (SCREEN.md §5).",
    )
    return {
        "ScreenContext": CONTEXT.schema(),
        "ScreenRequest": _obj(
            {
                "content": CONTENT.schema(),
                "context": nullable(ref("ScreenContext")),
                "rulebook": nullable(RULEBOOK.schema()),
                "webhook_url": nullable(WEBHOOK_URL.schema()),
            },
            "content",
            closed=True,
        ),
        "ScreenJobAccepted": _obj(
            {
                "id": _str("`job_` and at least 16 base62 characters.", pattern="^job_"),
                "type": _enum(("screen_analysis",)),
                "status": _enum(("queued",)),
            },
            "id type status",
        ),
        "ScreenOccurrence": occurrence,
        "ScreenFinding": finding,
        "ScreenResult": result,
        "ScreenTrace": trace,
    }


# ---------------------------------------------------------------- the job envelope


def _candidate_schema() -> Schema:
    scores = _obj(
        {d: _enum(LEVELS, "L1 best … L4 worst.") for d in DIMENSIONS},
        " ".join(DIMENSIONS),
        description="The six dimensions.",
    )
    return _obj(
        {
            "rank": _int(1),
            "carrier_id": _str(),
            "name": _str(),
            "tier": _enum(tuple(t for t in TIERS if t)),
            "confidence": _enum(CONFIDENCE),
            "fit_score": _int(0, 100),
            "scores": scores,
            "reasoning": _str(),
        },
        "rank carrier_id name tier confidence fit_score scores reasoning",
    )


def _job_common_properties() -> dict[str, Schema]:
    return {
        "id": _str("The job id (for evaluations the same as `eval_id`)."),
        "type": _enum(jobtypes.names(), "Clients branch on it."),
        "status": _enum(JOB_STATUSES),
        "created_at": _timestamp("When the job was accepted"),
        "updated_at": _timestamp("Last change"),
        "started_at": _timestamp("First claimed by a worker", optional=True),
        "completed_at": _timestamp("Reached a terminal status", optional=True),
        "duration_ms": nullable(_int(0, description="completed_at - started_at.")),
        "attempts": _int(0, description="How many times a worker has claimed it."),
        "error": ref("JobError"),
    }


COMMON_REQUIRED = (
    "id type status created_at updated_at started_at completed_at duration_ms attempts"
)


def schema_prefix(declared: JobType) -> str:
    """A packaged type's component names start with its name in CamelCase."""
    return "".join(part.capitalize() for part in declared.name.split("_"))


def variants() -> dict[str, str]:
    """The envelope's variant (a component name) for each job type."""
    return {
        t.name: "EvaluationJob" if t.name == EVALUATION
        else "ScreenAnalysisJob" if t.name == SCREEN_ANALYSIS
        else f"{schema_prefix(t)}Job" if t.package
        else "MaintenanceJob"
        for t in jobtypes.registry()
    }  # fmt: skip


def _variant(type_names: tuple[str, ...], extra: dict[str, Schema], description: str) -> Schema:
    """One job type's envelope: the common fields with `type` narrowed to its names."""
    properties = _job_common_properties()
    properties["type"] = _enum(type_names, "Clients branch on it.")
    properties.update(extra)
    return _obj(properties, COMMON_REQUIRED, description=description)


def _job_variants() -> dict[str, Schema]:
    count = _int(0)
    evaluation = _variant(
        (EVALUATION,),
        {
            "eval_id": _str("The same as `id`."),
            "pool_size": {**count, "description": "Completed: the pool's size."},
            "filtered": {**count, "description": "Completed: carriers filtered out."},
            "passed": {**count, "description": "Completed: carriers that passed."},
            "candidates": _array(
                ref("Candidate"),
                "Completed: the ranked carriers that passed (cut by `options.limit`); "
                "not in listings.",
            ),
            "audit": _str("Completed: URL of the audit trace.", format="uri"),
        },
        "An evaluation (docs/scoring.md): when completed, its result at top level.",
    )
    screen = _variant(
        (SCREEN_ANALYSIS,),
        {"result": {**ref("ScreenResult"), "description": "Completed: the screen's result."}},
        "A placement screen (docs/screening.md): when completed, its `result`.",
    )
    maintenance = _variant(
        jobtypes.maintenance_names(),
        {
            "dry_run": {"type": "boolean", "description": "Completed: counted only."},
            "records_scanned": {**count, "description": "Completed: jobs examined."},
            "records_affected": {**count, "description": "Completed: jobs deleted (or that "
                                 "would be, with `dry_run`)."},
            "errors": {**count, "description": "Completed: errors recorded."},
            "metrics": {"type": "object", "description": "Completed `metrics` jobs."},
        },
        "A maintenance job: when completed, its counts at top level.",
    )  # fmt: skip
    return {"EvaluationJob": evaluation, "ScreenAnalysisJob": screen, "MaintenanceJob": maintenance}


def _packaged_schemas() -> dict[str, Schema]:
    """Per packaged type: its create body, 202 answer, result, trace and envelope."""
    out: dict[str, Schema] = {}
    for t in jobtypes.packaged():
        package, prefix = load_package(t.package), schema_prefix(t)
        out[f"{prefix}Request"] = request_fields(package).schema()
        out[f"{prefix}JobAccepted"] = _obj(
            {"id": _str(f"`{t.id_prefix}` and at least 16 base62 characters.",
                        pattern=f"^{t.id_prefix}"),
             "type": _enum((t.name,)), "status": _enum(("queued",))},
            "id type status",
        )  # fmt: skip
        out[f"{prefix}Result"] = package.RESULT
        if package.TRACE is not None:
            out[f"{prefix}Trace"] = package.TRACE
        out[f"{prefix}Job"] = _variant(
            (t.name,),
            {"result": {**ref(f"{prefix}Result"), "description": "Completed: its result."}},
            f"A `{t.name}` job: when completed, its `result`.",
        )
    return out


def _job_schemas() -> dict[str, Schema]:
    by_type = variants()
    return {
        "Candidate": _candidate_schema(),
        "JobError": _obj(
            {"code": _str(), "message": _str(), "details": {"type": "object"}},
            "code message",
            description="Why a job failed.",
        ),
        **_job_variants(),
        **_packaged_schemas(),
        "Job": {
            "oneOf": [ref(name) for name in sorted(set(by_type.values()))],
            "discriminator": {
                "propertyName": "type",
                "mapping": {t: f"#/components/schemas/{v}" for t, v in by_type.items()},
            },
            "description": "The job envelope of any type (docs/api.md): the common fields, "
            "and by `type` the type's result; failed jobs add `error`.",
        },
        "JobList": _obj(
            {
                "data": _array(ref("Job"), "Newest first, without `candidates`."),
                "next_cursor": nullable(_str("Pass as `cursor`; null on the last page.")),
            },
            "data next_cursor",
        ),
    }


# ---------------------------------------------------------------- other resources


def _delivery_schemas() -> dict[str, Schema]:
    attempt = _obj(
        {
            "at": _timestamp("When the attempt was made"),
            "status_code": nullable(_int(description="HTTP status of the answer.")),
            "error": nullable(_str("Why no answer was received.")),
            "latency_ms": nullable(_int(0)),
            "response_excerpt": nullable(_str("The start of the answer's body.")),
        },
        "at status_code error",
    )
    delivery = _obj(
        {
            "id": _str("`dlv_…`"),
            "webhook_id": _str("The `webhook-id` header, stable across retries."),
            "url": _str(format="uri"),
            "status": _enum(DELIVERY_STATUSES),
            "created_at": _timestamp("When the delivery was queued"),
            "attempts": _array(ref("DeliveryAttempt")),
        },
        "id webhook_id url status created_at attempts",
    )
    return {
        "DeliveryAttempt": attempt,
        "Delivery": delivery,
        "DeliveryList": _obj({"data": _array(ref("Delivery"), "Oldest first.")}, "data"),
        "RedeliveryAccepted": _obj(
            {"delivery_id": _str("`dlv_…`"), "status": _enum(("pending",))},
            "delivery_id status",
        ),
    }


def _maintenance_schemas() -> dict[str, Schema]:
    return {
        "MaintenanceJobRequest": MAINTENANCE_REQUEST.schema(),
        "MaintenanceJobAccepted": _obj(
            {
                "id": _str("`job_…`"),
                "type": _enum(jobtypes.maintenance_names()),
                "status": _enum(("queued",)),
            },
            "id type status",
        ),
    }


def _ops_schemas() -> dict[str, Schema]:
    pool = _obj(
        {
            "pool": _str("Pool id."),
            "size": _int(0),
            "version": _int(1, description="Current version; each import adds one."),
            "as_of": _str(format="date"),
            "sha256": _str(pattern="^[0-9a-f]{64}$"),
        },
        "pool size version as_of sha256",
    )
    trace = _obj(
        {
            "eval_id": _str(),
            "created_at": _str(format="date-time"),
            "vertical": _obj({"id": _str(), "rules_version": _str()}),
            "pool": _obj(
                {
                    "id": _str(),
                    "generator": nullable(_str()),
                    "size": _int(0),
                    "as_of": _str(format="date"),
                    "sha256": _str(),
                }
            ),
            "as_of": _str(format="date"),
            "as_of_source": _enum(("options", "pool")),
            "profile": {"type": "object", "description": "As validated, defaults applied."},
            "defaults_applied": _array(_str()),
            "constants": {"type": "object"},
            "stages": _array(
                {"type": "object"}, "validate, load_pool, filter, score, rank, render."
            ),
            "carriers": _array({"type": "object"}, "`full`: every pool carrier, in pool order."),
            "candidates": _array(ref("Candidate"), "`summary`: every candidate, in rank order."),
        },
        "eval_id created_at vertical pool as_of as_of_source profile stages",
        description="The audit trace (docs/scoring.md).",
    )
    rulebook = _obj(
        {
            "rulebook": _str("Rule book id, e.g. `rules:default`."),
            "version": _int(1, description="Current version; each import adds one."),
            "rules": _int(0, description="How many rules it has."),
            "regulations": _int(0, description="How many regulations it cites."),
            "sha256": _str(pattern="^[0-9a-f]{64}$"),
        },
        "rulebook version rules regulations sha256",
    )
    return {
        "Pool": pool,
        "PoolList": _obj({"data": _array(ref("Pool"))}, "data"),
        "Rulebook": rulebook,
        "RulebookList": _obj({"data": _array(ref("Rulebook"))}, "data"),
        "Trace": trace,
        "Health": _obj({"status": _str(examples=["ok"])}, "status"),
        "Check": {
            "type": "object",
            "description": "One readiness check: `ok`, and when not, `error` says why.",
            "properties": {
                "ok": {"type": "boolean"},
                "error": _str(),
                "failing_for_seconds": {"type": "number", "minimum": 0},
                "last_round_seconds_ago": {"type": "number", "minimum": 0},
            },
            "required": ["ok"],
        },
        "Readiness": _obj(
            {
                "status": _enum(("ready", "not_ready")),
                "checks": {
                    "type": "object",
                    "description": "`database` and each background loop of the process "
                    "(dispatch, heartbeat, reaper, webhooks, sweeper, checkpoint, ...).",
                    "additionalProperties": ref("Check"),
                },
                "loop_worst_stall_ms": {"type": "number", "minimum": 0},
            },
            "status checks loop_worst_stall_ms",
        ),
    }


def component_schemas() -> dict[str, Schema]:
    """Every schema of `components.schemas`, by name."""
    return {
        **_error_schemas(),
        **_submit_schemas(),
        **_screen_schemas(),
        **_job_schemas(),
        **_delivery_schemas(),
        **_maintenance_schemas(),
        **_ops_schemas(),
    }
