"""`GET /openapi.json`: the OpenAPI 3.1 description of every endpoint (API.md §9).

`openapi_document` builds the document as plain Python data: the paths and operations
here, the component schemas in `openapi_schemas`. The handler serves it without
authentication, built once per base URL. The tests validate it with
`openapi-spec-validator`, so it stays a valid 3.1 document.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from aiohttp import web

import nexio_lite
from nexio_lite.api.context import services
from nexio_lite.api.openapi_schemas import (
    DETAIL_CODES,
    JOB_STATUSES,
    JOB_TYPES,
    Schema,
    component_schemas,
    ref,
)
from nexio_lite.api.responses import json_text
from nexio_lite.jsontext import dumps

Operation = dict[str, Any]

JSON = "application/json"
AUTHENTICATED: list[dict[str, list[str]]] = [{"ApiKeyHeader": []}, {"BearerAuth": []}]
AUTH_ERRORS: tuple[int, ...] = (401, 403, 429)

# status -> (component name, description, example code, example message)
_ERRORS: dict[int, tuple[str, str, str, str]] = {
    400: ("BadRequest", "The request is invalid.", "invalid_request",
          "Missing required field: profile.entity"),
    401: ("Unauthorized", "Missing, unknown or revoked API key.", "unauthorized",
          "Invalid or missing API key"),
    403: ("Forbidden", "The key lacks the scope this operation needs.", "forbidden",
          "This API key lacks the jobs:write scope"),
    404: ("NotFound", "Unknown id, or one of another organization.", "not_found",
          "Job 'eval_7xKp2mNcQ4vR8sTz' not found"),
    409: ("Conflict", "The request conflicts with the resource's state.", "conflict",
          "A request with this Idempotency-Key is still in progress"),
    413: ("PayloadTooLarge", "The body is over `server.max_body_bytes` (default 256 KiB).",
          "payload_too_large", "Request body is larger than 262144 bytes"),
    408: ("RequestTimeout", "The body did not arrive within `server.body_timeout_seconds` "
          "(default 10); the connection is closed.", "request_timeout",
          "The request body did not arrive within 10 seconds"),
    415: ("UnsupportedMediaType", "The body is not sent as `application/json`, or with a "
          "`Content-Encoding` other than `gzip` or `deflate`.",
          "unsupported_media_type", "Content-Type must be application/json"),
    422: ("UnprocessableEntity", "Well-formed, but refused.", "unknown_pool",
          "Pool 'carriers:unknown' not found for your organization"),
    429: ("TooManyRequests", "Over the key's request rate (only where "
          "`limits.requests_per_second_per_key` > 0).", "rate_limited", "Too many requests"),
    500: ("InternalError", "A bug; logged with the request id.", "internal",
          "Internal error (request id req_5f2c9a81d03e4b7a)"),
    503: ("Unavailable", "The service cannot do it now (a full disk, a scoring process "
          "being replaced); nothing was half-written: send the same request again after "
          "`Retry-After` seconds.", "unavailable",
          "The service cannot do this now (database unavailable: database or disk is "
          "full); send the same request again later"),
}  # fmt: skip


# ---------------------------------------------------------------- small builders


def _component(kind: str, name: str) -> dict[str, str]:
    return {"$ref": f"#/components/{kind}/{name}"}


def _json_content(schema: Schema, example: Any = None) -> dict[str, Any]:
    media: dict[str, Any] = {"schema": schema}
    if example is not None:
        media["example"] = example
    return {JSON: media}


def _headers(*names: str) -> dict[str, Any]:
    """Response headers by component name; every response carries `X-Request-Id`."""
    return {name: _component("headers", name) for name in ("X-Request-Id", *names)}


def _ok(description: str, schema: Schema, *headers: str, example: Any = None) -> dict[str, Any]:
    """A success response with a JSON body."""
    return {
        "description": description,
        "headers": _headers(*headers),
        "content": _json_content(schema, example),
    }


def _error_responses(*codes: int, notes: dict[int, str] | None = None) -> dict[str, Any]:
    """References to the shared error responses; `notes` overrides a description with
    what the status means for this operation."""
    notes = notes or {}
    answers: dict[str, Any] = {}
    for code in codes:
        answer = _component("responses", _ERRORS[code][0])
        if code in notes:
            answer["description"] = notes[code]
        answers[str(code)] = answer
    return answers


def _param(
    name: str, where: str, schema: Schema, description: str, *, required: bool = False
) -> dict[str, Any]:
    param = {"name": name, "in": where, "schema": schema, "description": description}
    if required or where == "path":
        param["required"] = True
    return param


def _operation(
    operation_id: str,
    summary: str,
    description: str,
    tag: str,
    success: dict[str, Any],
    *,
    scope: str | None,
    errors: tuple[int, ...] = (),
    notes: dict[int, str] | None = None,
    parameters: Sequence[dict[str, Any]] = (),
    request_body: dict[str, Any] | None = None,
) -> Operation:
    """One operation. With a `scope` it needs an API key carrying it (said in the
    description and in `x-required-scope`) and may answer 401, 403, 429 and 503;
    without one it is public. One with a body may answer 408. Any operation may answer
    500; `errors` adds its own statuses."""
    codes = {*errors, *(AUTH_ERRORS if scope is not None else ()), 500}
    if scope is not None:
        codes.add(503)
    if request_body is not None:
        codes.add(408)
    if scope is not None:
        description += (
            f"\n\nRequired scope: `{scope}` (API key in `X-API-Key` or as a bearer token)."
        )
    op: Operation = {
        "operationId": operation_id,
        "summary": summary,
        "description": description,
        "tags": [tag],
        "parameters": [*parameters, _component("parameters", "RequestId")],
    }
    if request_body is not None:
        op["requestBody"] = request_body
    op["responses"] = {**success, **_error_responses(*sorted(codes), notes=notes)}
    op["security"] = AUTHENTICATED if scope is not None else []
    if scope is not None:
        op["x-required-scope"] = scope
    return op


def _json_body(schema_name: str, example: Any) -> dict[str, Any]:
    return {"required": True, "content": _json_content(ref(schema_name), example)}


# ---------------------------------------------------------------- components


def _error_response_components() -> dict[str, Any]:
    components: dict[str, Any] = {}
    for status, (name, description, code, message) in _ERRORS.items():
        details: list[Any] = []
        if status == 400:
            details = [{"field": "profile.entity", "code": "required",
                        "message": "profile.entity is required"}]  # fmt: skip
        schema = ref("ValidationError") if status == 400 else ref("Error")
        example = {"error": {"code": code, "message": message, "details": details}}
        extra = ("Retry-After",) if status in (429, 503) else ()
        components[name] = {
            "description": description,
            "headers": _headers(*extra),
            "content": _json_content(schema, example),
        }
    return components


def _header_components() -> dict[str, Any]:
    return {
        "X-Request-Id": {
            "description": "The request's id: the client's `X-Request-Id` when it is 1-64 "
            "printable characters, else a new `req_…`. Logged with every line.",
            "schema": {"type": "string"},
        },
        "Location": {
            "description": "Where to read the job: `/api/v1/jobs/{id}`.",
            "required": True,
            "schema": {"type": "string", "format": "uri-reference"},
        },
        "Retry-After": {
            "description": "Whole seconds to wait before asking again (a hint).",
            "schema": {"type": "integer", "minimum": 0},
        },
        "Idempotent-Replayed": {
            "description": "`true` when this is the stored answer to an earlier request "
            "with the same `Idempotency-Key` and body.",
            "schema": {"type": "string", "enum": ["true"]},
        },
    }


def _parameter_components() -> dict[str, Any]:
    return {
        "RequestId": _param(
            "X-Request-Id",
            "header",
            {"type": "string"},
            "Optional id for this request, echoed in the response and the logs (replaced "
            "by a new one unless 1-64 printable characters).",
        ),
        "JobId": _param("id", "path", {"type": "string"}, "`eval_…` or `job_…`."),
    }


def _components() -> dict[str, Any]:
    return {
        "securitySchemes": {
            "ApiKeyHeader": {
                "type": "apiKey",
                "in": "header",
                "name": "X-API-Key",
                "description": "An API key (`nx_live_…`) of the organization.",
            },
            "BearerAuth": {
                "type": "http",
                "scheme": "bearer",
                "description": "The same API key as `Authorization: Bearer <key>`.",
            },
        },
        "schemas": component_schemas(),
        "responses": _error_response_components(),
        "headers": _header_components(),
        "parameters": _parameter_components(),
    }


# ---------------------------------------------------------------- paths


def _webhook_callback() -> dict[str, Any]:
    signature_headers = [
        _param("webhook-id", "header", {"type": "string"}, "Stable across retries.", required=True),
        _param("webhook-timestamp", "header", {"type": "integer"}, "Unix seconds.", required=True),
        _param(
            "webhook-signature",
            "header",
            {"type": "string"},
            "`v1,<base64 HMAC-SHA256 of id.timestamp.body>` (Standard Webhooks).",
            required=True,
        ),
    ]
    return {
        "jobFinished": {
            "{$request.body#/webhook_url}": {
                "post": {
                    "operationId": "deliverJobWebhook",
                    "summary": "The finished job, POSTed to `webhook_url`",
                    "description": "Sent when the evaluation reaches `completed` or `failed`: "
                    "exactly the body `GET /api/v1/jobs/{id}` returns then, signed with the "
                    "organization's secret. Any 2xx within `webhooks.timeout_seconds` is "
                    "success; 410 stops retries; redirects are not followed.",
                    "parameters": signature_headers,
                    "requestBody": {"required": True, "content": _json_content(ref("Job"))},
                    "responses": {"2XX": {"description": "Delivered."}},
                    "security": [],
                }
            }
        }
    }


def _submit_job() -> Operation:
    example = {
        "profile": {"entity": "acme-manufacturing", "state": "CA",
                    "line": "professional_liability", "revenue": 12000000},
        "pool": "carriers:all",
        "webhook_url": "https://your-app.com/hooks/nexio",
    }  # fmt: skip
    idempotency_key = _param(
        "Idempotency-Key",
        "header",
        {"type": "string", "minLength": 1, "maxLength": 255},
        "1-255 printable characters. The same key with the same body within 24 h answers "
        "the original response (with `Idempotent-Replayed: true`); with another body, 422.",
    )
    accepted = _ok(
        "Accepted and durably queued.",
        ref("JobAccepted"),
        "Location",
        "Idempotent-Replayed",
        example={"eval_id": "eval_7xKp2mNcQ4vR8sTz", "status": "queued"},
    )
    op = _operation(
        "submitJob",
        "Submit an evaluation",
        "Queue the evaluation of a profile against a pool. Checks, first failure answers: "
        "the body (415, 413, 400), every field at once (400), the pool (422 "
        "`unknown_pool`), the webhook URL (422 `invalid_webhook_url`).",
        "jobs",
        {"202": accepted},
        scope="jobs:write",
        errors=(400, 409, 413, 415, 422),
        notes={
            409: "A request with this `Idempotency-Key` is still in progress.",
            422: "`unknown_pool`, `invalid_webhook_url` or `idempotency_key_reused`.",
        },
        parameters=[idempotency_key],
        request_body=_json_body("SubmitJobRequest", example),
    )
    op["callbacks"] = _webhook_callback()
    return op


def _list_jobs() -> Operation:
    params = [
        _param("status", "query", {"type": "string", "enum": list(JOB_STATUSES)}, "Only these."),
        _param("type", "query", {"type": "string", "enum": list(JOB_TYPES)}, "Only this type."),
        _param(
            "limit",
            "query",
            {"type": "integer", "minimum": 1, "maximum": 100, "default": 20},
            "Page size, 1-100.",
        ),
        _param("cursor", "query", {"type": "string"}, "`next_cursor` of the previous page."),
    ]
    return _operation(
        "listJobs",
        "List jobs",
        "The organization's jobs of every type, newest first, without `candidates`.",
        "jobs",
        {"200": _ok("One page of jobs.", ref("JobList"))},
        scope="jobs:read",
        errors=(400,),
        notes={400: "A query parameter is invalid."},
        parameters=params,
    )


def _get_job() -> Operation:
    wait = _param(
        "wait",
        "query",
        {"type": "integer", "minimum": 0, "maximum": 60, "default": 0},
        "Long-poll: answer as soon as the job is terminal or after this many seconds.",
    )
    return _operation(
        "getJob",
        "Get a job",
        "The job envelope of any job type. A job never changes once terminal. While it is "
        "not terminal the answer carries `Retry-After`.",
        "jobs",
        {"200": _ok("The job.", ref("Job"), "Retry-After")},
        scope="jobs:read",
        errors=(400, 404),
        notes={400: "`wait` is not an integer 0-60.", 404: "Unknown or malformed job id."},
        parameters=[_component("parameters", "JobId"), wait],
    )


def _list_deliveries() -> Operation:
    return _operation(
        "listDeliveries",
        "List a job's webhook deliveries",
        "Every delivery of the job's webhook and each of its attempts, oldest first.",
        "deliveries",
        {"200": _ok("The deliveries.", ref("DeliveryList"))},
        scope="jobs:read",
        errors=(404,),
        parameters=[_component("parameters", "JobId")],
    )


def _redeliver() -> Operation:
    return _operation(
        "redeliverJobWebhook",
        "Redeliver a job's webhook",
        "Queue a new delivery of the finished job, with a new `webhook-id`. No body.",
        "deliveries",
        {"202": _ok("Queued.", ref("RedeliveryAccepted"))},
        scope="jobs:write",
        errors=(404, 409),
        notes={409: "The job is not terminal, or has no webhook URL."},
        parameters=[_component("parameters", "JobId")],
    )


def _create_maintenance_job() -> Operation:
    example = {"id": "job_3hTq9ZwLm2Xc7VbN", "type": "decay_sweep", "status": "queued"}
    return _operation(
        "createMaintenanceJob",
        "Start a maintenance job",
        "`decay_sweep` deletes the organization's terminal evaluation jobs completed more "
        "than `older_than_days` ago (with results, traces and deliveries; `dry_run` only "
        "counts them); `metrics` reports metrics. Read the job with `GET /api/v1/jobs/{id}`.",
        "maintenance",
        {"202": _ok("Queued.", ref("MaintenanceJobAccepted"), example=example)},
        scope="admin",
        errors=(400, 413, 415),
        request_body=_json_body(
            "MaintenanceJobRequest",
            {"job_type": "decay_sweep", "dry_run": True, "older_than_days": 30},
        ),
    )


def _list_pools() -> Operation:
    return _operation(
        "listPools",
        "List pools",
        "The organization's pools, each at its current version.",
        "pools",
        {"200": _ok("The pools.", ref("PoolList"))},
        scope="jobs:read",
    )


def _get_trace() -> Operation:
    level = _param(
        "level",
        "query",
        {"type": "string", "enum": ["full", "summary"], "default": "full"},
        "`summary`: header, stages and candidates only.",
    )
    page = _param(
        "page",
        "query",
        {"type": "integer", "minimum": 1, "default": 1},
        "With `Accept: text/html`: which page of candidates (100 a page).",
    )
    eval_id = _param("eval_id", "path", {"type": "string"}, "`eval_…`.")
    ok = _ok("The trace (the full JSON is sent gzip-encoded to clients that accept it).",
             ref("Trace"))  # fmt: skip
    ok["content"]["text/html"] = {"schema": {"type": "string"}}
    return _operation(
        "getTrace",
        "Get an evaluation's audit trace",
        "Every stage, every filtered carrier with the rule that removed it, and every "
        "dimension of every candidate (DOMAIN.md §8). `Accept: text/html` gets a readable "
        "page of the same trace, paged by `page`. Recomputed on demand in a scoring "
        "process, one at a time per process: 503 when none is free within 30 s or the "
        "process is being replaced.",
        "traces",
        {"200": ok},
        scope="traces:read",
        errors=(400, 404),
        notes={400: "`level` or `page` is invalid.", 404: "Unknown evaluation, or not completed."},
        parameters=[eval_id, level, page],
    )


def _ops_paths() -> dict[str, Any]:
    reset = _param(
        "reset",
        "query",
        {"type": "string", "enum": ["loop"]},
        "`loop` restarts the worst event-loop stall measurement.",
    )
    readiness = {
        "200": _ok("Ready.", ref("Readiness")),
        "503": _ok("Not ready: `checks` names each failing check and why.", ref("Readiness")),
    }
    health = _operation(
        "getHealth",
        "Liveness",
        "The process is alive.",
        "operations",
        {"200": _ok("Alive.", ref("Health"))},
        scope=None,
    )
    ready = _operation(
        "getReadiness",
        "Readiness",
        "The database answers and the workers run.",
        "operations",
        readiness,
        scope=None,
        parameters=[reset],
    )
    document = _operation(
        "getOpenApi",
        "This document",
        "The OpenAPI 3.1 description of this API.",
        "operations",
        {"200": _ok("The document.", {"type": "object"})},
        scope=None,
    )
    scrape = _operation(
        "getMetrics",
        "Prometheus metrics",
        "Every metric family of the service in the Prometheus text format (0.0.4), on "
        "every role; the queue gauges are read from the database (at most once a second).",
        "operations",
        {"200": {"description": "The metrics.", "headers": _headers(),
                 "content": {"text/plain": {"schema": {"type": "string"}}}}},
        scope=None,
        errors=(404,),
        notes={404: "Metrics are turned off (`metrics.enabled = false`)."},
    )  # fmt: skip
    return {
        "/healthz": {"get": health},
        "/readyz": {"get": ready},
        "/metrics": {"get": scrape},
        "/openapi.json": {"get": document},
    }


def _paths() -> dict[str, Any]:
    return {
        "/api/v1/jobs": {"post": _submit_job(), "get": _list_jobs()},
        "/api/v1/jobs/{id}": {"get": _get_job()},
        "/api/v1/jobs/{id}/deliveries": {"get": _list_deliveries()},
        "/api/v1/jobs/{id}/deliveries/redeliver": {"post": _redeliver()},
        "/api/v1/maintenance/jobs": {"post": _create_maintenance_job()},
        "/api/v1/pools": {"get": _list_pools()},
        "/traces/{eval_id}": {"get": _get_trace()},
        **_ops_paths(),
    }


# ---------------------------------------------------------------- document and handler


def openapi_document(base_url: str, version: str) -> dict[str, Any]:
    """The whole OpenAPI 3.1 document, for a server at `base_url`."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "nexio_lite",
            "version": version,
            "summary": "Evaluation jobs: submit a profile, get ranked carriers and a trace.",
            "description": "Errors are JSON `{error: {code, message, details}}`; 400 details "
            "list every problem (codes: " + ", ".join(DETAIL_CODES) + ").",
        },
        "servers": [{"url": base_url}],
        "security": AUTHENTICATED,
        "tags": [
            {"name": name}
            for name in ("jobs", "deliveries", "maintenance", "pools", "traces", "operations")
        ],
        "paths": _paths(),
        "components": _components(),
    }


@functools.cache
def _document_text(base_url: str, version: str) -> str:
    return dumps(openapi_document(base_url, version))


async def openapi_json(request: web.Request) -> web.Response:
    """`GET /openapi.json`, without authentication."""
    base_url = services(request).settings.base_url
    return json_text(_document_text(base_url, nexio_lite.__version__))
