"""The operations of the HTTP API, each as its OpenAPI description: what it takes (the
field and query declarations the handlers validate with), what it answers, which scope
it needs and which errors it may give. `routes.py` pairs each with its handler, so an
operation cannot be served without being described, nor described without being served.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from nexio_lite import jobtypes
from nexio_lite.api.jobs import IDEMPOTENCY_KEY, WAIT_QUERY, list_query
from nexio_lite.api.openapi_schemas import Schema, ref, schema_prefix
from nexio_lite.api.ops import READY_QUERY
from nexio_lite.api.traces import TRACE_QUERY
from nexio_lite.jobtypes import JobType
from nexio_lite.verticals.package import load_package

Operation = dict[str, Any]

JSON = "application/json"
AUTHENTICATED: list[dict[str, list[str]]] = [{"ApiKeyHeader": []}, {"BearerAuth": []}]
AUTH_ERRORS: tuple[int, ...] = (401, 403, 429)

# status -> (component name, description, example code, example message)
ERROR_RESPONSES: dict[int, tuple[str, str, str, str]] = {
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


def json_content(schema: Schema, example: Any = None) -> dict[str, Any]:
    media: dict[str, Any] = {"schema": schema}
    if example is not None:
        media["example"] = example
    return {JSON: media}


def response_headers(*names: str) -> dict[str, Any]:
    """Response headers by component name; every response carries `X-Request-Id`."""
    return {name: _component("headers", name) for name in ("X-Request-Id", *names)}


def _ok(description: str, schema: Schema, *headers: str, example: Any = None) -> dict[str, Any]:
    """A success response with a JSON body."""
    return {
        "description": description,
        "headers": response_headers(*headers),
        "content": json_content(schema, example),
    }


def _error_responses(*codes: int, notes: dict[int, str] | None = None) -> dict[str, Any]:
    """References to the shared error responses; `notes` overrides a description with
    what the status means for this operation."""
    notes = notes or {}
    answers: dict[str, Any] = {}
    for code in codes:
        answer = _component("responses", ERROR_RESPONSES[code][0])
        if code in notes:
            answer["description"] = notes[code]
        answers[str(code)] = answer
    return answers


def parameter(
    name: str, where: str, schema: Schema, description: str, *, required: bool = False
) -> dict[str, Any]:
    param: dict[str, Any] = {"name": name, "in": where, "schema": schema,
                             "description": description}  # fmt: skip
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
    return {"required": True, "content": json_content(ref(schema_name), example)}


# ---------------------------------------------------------------- paths


def _webhook_callback(operation_id: str = "deliverJobWebhook") -> dict[str, Any]:
    signature_headers = [
        parameter(
            "webhook-id", "header", {"type": "string"}, "Stable across retries.", required=True
        ),
        parameter(
            "webhook-timestamp", "header", {"type": "integer"}, "Unix seconds.", required=True
        ),
        parameter(
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
                    "operationId": operation_id,
                    "summary": "The finished job, POSTed to `webhook_url`",
                    "description": "Sent when the job reaches `completed` or `failed`: "
                    "exactly the body `GET /api/v1/jobs/{id}` returns then, signed with the "
                    "organization's secret. Any 2xx within `webhooks.timeout_seconds` is "
                    "success; 410 stops retries; redirects are not followed.",
                    "parameters": signature_headers,
                    "requestBody": {"required": True, "content": json_content(ref("Job"))},
                    "responses": {"2XX": {"description": "Delivered."}},
                    "security": [],
                }
            }
        }
    }


def _idempotency_key_header() -> dict[str, Any]:
    schema = IDEMPOTENCY_KEY.schema()
    description = schema.pop("description")
    return parameter("Idempotency-Key", "header", schema, description)


def _create_op(
    operation_id: str,
    summary: str,
    description: str,
    *,
    prefix: str,
    example: Any,
    accepted_example: dict[str, str],
    refusals: str,
) -> Operation:
    """A job type's create operation: `{prefix}Request` in, 202 `{prefix}JobAccepted`
    out, the Idempotency-Key header and the webhook callback; `refusals` are its 422
    codes besides `idempotency_key_reused`."""
    accepted = _ok(
        "Accepted and durably queued; read it with `GET /api/v1/jobs/{id}`.",
        ref(f"{prefix}JobAccepted"),
        "Location",
        "Idempotent-Replayed",
        example=accepted_example,
    )
    op = _operation(
        operation_id,
        summary,
        description,
        "jobs",
        {"202": accepted},
        scope="jobs:write",
        errors=(400, 409, 413, 415, 422),
        notes={
            409: "A request with this `Idempotency-Key` is still in progress.",
            422: f"{refusals} or `idempotency_key_reused`.",
        },
        parameters=[_idempotency_key_header()],
        request_body=_json_body(f"{prefix}Request", example),
    )
    op["callbacks"] = _webhook_callback(f"deliver{prefix}Webhook")
    return op


def submit_screen_op() -> Operation:
    return _create_op(
        "submitScreen",
        "Screen a placement text",
        "Queue a `screen_analysis` job: the text is screened against the organization's "
        "rule book (the version current now) for forbidden phrases and missing required "
        "statements. Checks, first failure answers: the body (415, 413, 400), every field "
        "at once (400), the rule book (422 `unknown_rulebook`), the webhook URL (422 "
        "`invalid_webhook_url`).",
        prefix="Screen",
        example={"content": "Guaranteed approval for every applicant.",
                 "context": {"market": "surplus", "document": "quote"},
                 "rulebook": "rules:default"},
        accepted_example={"id": "job_7xKp2mNcQ4vR8sTzAb3D", "type": "screen_analysis",
                          "status": "queued"},
        refusals="`unknown_rulebook`, `invalid_webhook_url`",
    )  # fmt: skip


def submit_package_op(declared: JobType) -> Operation:
    """The create operation of a packaged job type, from its package's declarations."""
    package, prefix = load_package(declared.package), schema_prefix(declared)
    return _create_op(
        f"submit{prefix}",
        package.SUMMARY,
        f"Queue a `{declared.name}` job. {package.DESCRIPTION} Checks, first failure "
        "answers: the body (415, 413, 400), every field at once (400), the webhook URL "
        "(422 `invalid_webhook_url`).",
        prefix=prefix,
        example=package.EXAMPLE,
        accepted_example={"id": f"{declared.id_prefix}7xKp2mNcQ4vR8sTzAb3D",
                          "type": declared.name, "status": "queued"},
        refusals="`invalid_webhook_url`",
    )  # fmt: skip


def submit_job_op() -> Operation:
    example = {
        "profile": {"entity": "acme-manufacturing", "state": "CA",
                    "line": "professional_liability", "revenue": 12000000},
        "pool": "carriers:all",
        "webhook_url": "https://your-app.com/hooks/nexio",
    }  # fmt: skip
    idempotency_key = _idempotency_key_header()
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


def list_jobs_op() -> Operation:
    params = [q.parameter() for q in list_query()]
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


def get_job_op() -> Operation:
    (wait,) = [q.parameter() for q in WAIT_QUERY]
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


def list_deliveries_op() -> Operation:
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


def redeliver_op() -> Operation:
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


def create_maintenance_job_op() -> Operation:
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


def list_pools_op() -> Operation:
    return _operation(
        "listPools",
        "List pools",
        "The organization's pools, each at its current version.",
        "pools",
        {"200": _ok("The pools.", ref("PoolList"))},
        scope="jobs:read",
    )


def list_rulebooks_op() -> Operation:
    return _operation(
        "listRulebooks",
        "List screening rule books",
        "The organization's rule books for `screen_analysis` jobs, each at its current version.",
        "rulebooks",
        {"200": _ok("The rule books.", ref("RulebookList"))},
        scope="jobs:read",
    )


def get_trace_op() -> Operation:
    eval_id = parameter("eval_id", "path", {"type": "string"}, "`eval_…`.")
    packaged = [ref(f"{schema_prefix(t)}Trace") for t in jobtypes.packaged()
                if load_package(t.package).TRACE is not None]  # fmt: skip
    ok = _ok(
        "The trace (sent gzip-encoded to clients that accept it): an evaluation's, or a "
        "`screen_analysis` job's (`ScreenTrace`), or that of another type that keeps one.",
        {"anyOf": [ref("Trace"), ref("ScreenTrace"), *packaged]},
    )
    return _operation(
        "getTrace",
        "Get an evaluation's audit trace",
        "Every stage, every filtered carrier with the rule that removed it, and every "
        "dimension of every candidate, as JSON. (The same trace explained for people is "
        "the web console's page `/ui/traces/{eval_id}`; this URL also answers "
        "`Accept: text/html` with a plain paged rendering.) Recomputed on demand in a "
        "scoring process, a few at a time per process: 503 when none is free within 30 s "
        "or the process is being replaced.",
        "traces",
        {"200": ok},
        scope="traces:read",
        errors=(400, 404),
        notes={400: "`level` is invalid.", 404: "Unknown evaluation, or not completed."},
        parameters=[eval_id, *(q.parameter() for q in TRACE_QUERY)],
    )


def _ops_paths() -> dict[str, Any]:
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
        errors=(400,),
        notes={400: "`reset` is not `loop`."},
        parameters=[q.parameter() for q in READY_QUERY],
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
        {"200": {"description": "The metrics.", "headers": response_headers(),
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


_OPS = _ops_paths()


def health_op() -> Operation:
    return _OPS["/healthz"]["get"]  # type: ignore[no-any-return]


def readiness_op() -> Operation:
    return _OPS["/readyz"]["get"]  # type: ignore[no-any-return]


def metrics_op() -> Operation:
    return _OPS["/metrics"]["get"]  # type: ignore[no-any-return]


def openapi_op() -> Operation:
    return _OPS["/openapi.json"]["get"]  # type: ignore[no-any-return]
