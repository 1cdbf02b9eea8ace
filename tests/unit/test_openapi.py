"""The OpenAPI 3.1 document of `GET /openapi.json` (API.md §9): valid, complete, and
true to what the server really sends and accepts."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, cast

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from openapi_schema_validator import OAS31Validator, oas31_format_checker
from openapi_spec_validator import validate

import nexio_lite
from nexio_lite.api import ops
from nexio_lite.api.context import SERVICES, Services
from nexio_lite.api.deliveries import delivery_body
from nexio_lite.api.middleware import request_context
from nexio_lite.api.openapi import openapi_document, openapi_json
from nexio_lite.config import ServerSettings, Settings
from nexio_lite.envelope import envelope
from nexio_lite.errors import ApiError
from nexio_lite.models import (
    EVALUATION,
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    Job,
    JobStatus,
)
from nexio_lite.verticals.carriers.request import (
    Detail,
    ValidatedRequest,
    error_message,
    parse_json_body,
    validate_request,
)
from nexio_lite.verticals.carriers.schema import Options
from nexio_lite.verticals.carriers.trace import build_trace

from .scoring_helpers import carrier_with_levels, make_carrier, make_profile, pool_of, run

BASE_URL = "https://nexio.example"
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")

# Every endpoint of API.md and the scope it needs (None: no authentication).
ENDPOINTS: dict[tuple[str, str], str | None] = {
    ("post", "/api/v1/jobs"): "jobs:write",
    ("post", "/api/v1/analysis/screen"): "jobs:write",
    ("get", "/api/v1/jobs"): "jobs:read",
    ("get", "/api/v1/jobs/{job_id}"): "jobs:read",
    ("get", "/api/v1/jobs/{job_id}/deliveries"): "jobs:read",
    ("post", "/api/v1/jobs/{job_id}/deliveries/redeliver"): "jobs:write",
    ("post", "/api/v1/maintenance/jobs"): "admin",
    ("get", "/api/v1/pools"): "jobs:read",
    ("get", "/api/v1/rulebooks"): "jobs:read",
    ("get", "/traces/{eval_id}"): "traces:read",
    ("get", "/healthz"): None,
    ("get", "/readyz"): None,
    ("get", "/metrics"): None,
    ("get", "/openapi.json"): None,
}

VALID_BODY: dict[str, Any] = {
    "profile": {"entity": "acme-manufacturing", "state": "CA",
                "line": "professional_liability", "revenue": 12000000},
    "pool": "carriers:all",
}  # fmt: skip


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return openapi_document(BASE_URL, nexio_lite.__version__)


def operations(doc: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in doc["paths"].items():
        for method in METHODS:
            if method in item:
                yield method, path, item[method]


def validator(doc: dict[str, Any], schema_name: str) -> OAS31Validator:
    """A validator of one component schema, its `$ref`s resolved within `doc`."""
    root = {"$ref": f"#/components/schemas/{schema_name}", "components": doc["components"]}
    return OAS31Validator(root, format_checker=oas31_format_checker)


def assert_valid(doc: dict[str, Any], schema_name: str, instance: Any) -> None:
    errors = [e.message for e in validator(doc, schema_name).iter_errors(instance)]
    assert errors == [], f"{schema_name}: {errors}"


def resolve(doc: dict[str, Any], pointer: str) -> Any:
    assert pointer.startswith("#/"), pointer
    node: Any = doc
    for part in pointer[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from refs(item)


def server_check(body: dict[str, Any]) -> ValidatedRequest | list[Detail]:
    """What the server makes of `body` sent as JSON text."""
    return validate_request(parse_json_body(json.dumps(body).encode()))


def deref(doc: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = resolve(doc, node["$ref"])
    return node


# ---------------------------------------------------------------- the document itself


def test_document_is_valid_openapi_3_1(doc: dict[str, Any]) -> None:
    assert doc["openapi"].startswith("3.1.")
    validate(doc)
    assert doc["servers"] == [{"url": BASE_URL}]
    assert doc["info"]["version"] == nexio_lite.__version__


def test_document_is_plain_json(doc: dict[str, Any]) -> None:
    assert json.loads(json.dumps(doc)) == doc


def test_every_endpoint_of_the_contract_is_described(doc: dict[str, Any]) -> None:
    assert {(method, path) for method, path, _ in operations(doc)} == set(ENDPOINTS)


def test_every_operation_has_summary_unique_id_and_a_success(doc: dict[str, Any]) -> None:
    ids = []
    for method, path, op in operations(doc):
        assert op.get("summary"), (method, path)
        assert op.get("operationId"), (method, path)
        ids.append(op["operationId"])
        assert any(code.startswith("2") for code in op["responses"]), (method, path)
        for callback in op.get("callbacks", {}).values():
            ids.extend(o["operationId"] for item in callback.values() for o in item.values())
    assert len(ids) == len(set(ids))


def test_each_operation_states_the_scope_it_needs(doc: dict[str, Any]) -> None:
    for method, path, op in operations(doc):
        scope = ENDPOINTS[(method, path)]
        if scope is None:
            assert op["security"] == [], path
            assert not {"401", "403"} & set(op["responses"]), path
        else:
            assert op["security"] == [{"ApiKeyHeader": []}, {"BearerAuth": []}], path
            assert f"`{scope}`" in op["description"], path
            assert op["x-required-scope"] == scope
            assert {"401", "403", "429"} <= set(op["responses"]), path
    schemes = doc["components"]["securitySchemes"]
    assert schemes["ApiKeyHeader"] == {**schemes["ApiKeyHeader"], "in": "header",
                                       "name": "X-API-Key", "type": "apiKey"}  # fmt: skip
    assert schemes["BearerAuth"]["scheme"] == "bearer"


def test_every_ref_resolves(doc: dict[str, Any]) -> None:
    pointers = set(refs(doc))
    assert pointers
    for pointer in pointers:
        resolve(doc, pointer)


def test_every_error_response_uses_the_shared_error_schema(doc: dict[str, Any]) -> None:
    for method, path, op in operations(doc):
        for status, response in op["responses"].items():
            if not ("400" <= status <= "599") or status == "503":
                continue
            schema = deref(doc, response)["content"]["application/json"]["schema"]
            assert schema["$ref"] == "#/components/schemas/Error", (method, path, status)
            assert "500" in op["responses"], (method, path)


def test_documented_headers(doc: dict[str, Any]) -> None:
    submit = doc["paths"]["/api/v1/jobs"]["post"]
    accepted = submit["responses"]["202"]["headers"]
    assert {"Location", "Idempotent-Replayed", "X-Request-Id"} <= set(accepted)
    assert any(p["name"] == "Idempotency-Key" for p in submit["parameters"] if "name" in p)
    get_job = doc["paths"]["/api/v1/jobs/{job_id}"]["get"]
    assert "Retry-After" in get_job["responses"]["200"]["headers"]
    too_many = doc["components"]["responses"]["TooManyRequests"]
    assert "Retry-After" in too_many["headers"]


def test_examples_match_their_schemas(doc: dict[str, Any]) -> None:
    """Every example in the document is an instance of the schema beside it."""
    media_types = [
        media
        for _, _, op in operations(doc)
        for part in (op.get("requestBody", {}), *op["responses"].values())
        for media in deref(doc, part).get("content", {}).values()
    ]
    checked = 0
    for media in media_types:
        if "example" in media:
            name = media["schema"]["$ref"].rsplit("/", 1)[1]
            assert_valid(doc, name, media["example"])
            checked += 1
    assert checked >= 5


# ---------------------------------------------------------------- true to the server


def test_request_schema_accepts_what_the_server_accepts(doc: dict[str, Any]) -> None:
    full_profile = {
        **VALID_BODY["profile"], "naics": "541110", "employees": 0, "years_in_business": 300,
        "loss_ratio": 0.45, "claims_3yr": 2, "requested_limit": 2000000,
        "effective_date": "2026-01-31", "admitted_only": True, "min_am_best": "A-",
    }  # fmt: skip
    bodies = [
        VALID_BODY,
        {**VALID_BODY, "profile": full_profile, "webhook_url": "https://example.com/hook",
         "options": {"as_of": "2025-06-30", "limit": 10}},
        {**VALID_BODY, "profile": {**VALID_BODY["profile"], "naics": None}, "options": None},
    ]  # fmt: skip
    for body in bodies:
        assert not isinstance(server_check(body), list), body
        assert_valid(doc, "SubmitJobRequest", body)


@pytest.mark.parametrize(
    "body",
    [
        {**VALID_BODY, "extra": 1},
        {**VALID_BODY, "options": {"fast": True}},
        {**VALID_BODY, "profile": {**VALID_BODY["profile"], "color": "red"}},
        {**VALID_BODY, "profile": {**VALID_BODY["profile"], "revenue": 0}},
        {**VALID_BODY, "profile": {**VALID_BODY["profile"], "state": "ca"}},
        {**VALID_BODY, "profile": {**VALID_BODY["profile"], "naics": "99"}},
        {"pool": "carriers:all"},
    ],
)
def test_request_schema_refuses_what_the_server_refuses(
    doc: dict[str, Any], body: dict[str, Any]
) -> None:
    details = server_check(body)
    assert isinstance(details, list)
    assert not validator(doc, "SubmitJobRequest").is_valid(body)
    error = ApiError(400, "invalid_request", error_message(details), [d.to_dict() for d in details])
    assert_valid(doc, "Error", error.body())


def test_error_bodies_match_the_error_schema(doc: dict[str, Any]) -> None:
    assert_valid(doc, "Error", ApiError(401, "unauthorized", "Invalid or missing API key").body())
    detail = {"field": "limit", "code": "range", "message": "limit must be between 1 and 100"}
    assert_valid(doc, "Error", ApiError(400, "invalid_request", "bad", [detail]).body())
    assert not validator(doc, "Error").is_valid({"error": {"code": "x", "message": "y"}})
    # `details` is a list of typed details, never a free-form object
    bad = {"error": {"code": "conflict", "message": "busy", "details": {"job": "x"}}}
    assert not validator(doc, "Error").is_valid(bad)


def _job(status: JobStatus, **fields: Any) -> Job:
    times = {"started_at": 1_750_000_000_500, "completed_at": 1_750_000_001_250}
    if status is JobStatus.QUEUED:
        times = {}
    return Job(seq=1, id="eval_7xKp2mNcQ4vR8sTzAb12", org_id="org_1", type=EVALUATION,
               status=status, request="{}", created_at=1_750_000_000_000,
               updated_at=1_750_000_001_250, attempts=1, **times, **fields)  # fmt: skip


def test_job_envelopes_match_the_job_schema(doc: dict[str, Any]) -> None:
    ev = run(make_carrier(), carrier_with_levels((2, 3, 4, 2, 1, 3)), limit=1)
    result = {"pool_size": ev.pool_size, "filtered": ev.filtered, "passed": ev.passed,
              "candidates": ev.candidates}  # fmt: skip
    error = {"code": "pool_unavailable", "message": "gone", "details": {"pool": "x"}}
    jobs = [
        _job(JobStatus.QUEUED),
        _job(JobStatus.COMPLETED, result=json.dumps(result)),
        _job(JobStatus.FAILED, error=json.dumps(error)),
    ]
    for job in jobs:
        body = json.loads(envelope(job, BASE_URL))
        assert_valid(doc, "Job", body)
        assert_valid(doc, "EvaluationJob", body)
        assert_valid(doc, "Job", {k: v for k, v in body.items() if k != "candidates"})
        # the discriminator: an evaluation's body is no other type's envelope
        assert not validator(doc, "ScreenAnalysisJob").is_valid(body)
        assert not validator(doc, "MaintenanceJob").is_valid(body)
    broken = json.loads(envelope(jobs[1], BASE_URL))
    broken["candidates"][0]["tier"] = "SUPER_FIT"
    assert not validator(doc, "Job").is_valid(broken)


def test_delivery_list_matches_its_schema(doc: dict[str, Any]) -> None:
    attempts = (
        DeliveryAttempt(1, 1_750_000_002_000, None, "connection refused", 12, None),
        DeliveryAttempt(2, 1_750_000_007_000, 200, None, 40, "ok"),
    )
    delivery = Delivery(id="dlv_1", job_id="eval_1", org_id="org_1", webhook_id="msg_1",
                        url="https://example.com/hook", status=DeliveryStatus.DELIVERED,
                        created_at=1_750_000_001_300, updated_at=1_750_000_007_040,
                        next_attempt_at=None, attempts=2, history=attempts)  # fmt: skip
    assert_valid(doc, "DeliveryList", {"data": [delivery_body(delivery)]})


@pytest.mark.parametrize("level", ["full", "summary"])
def test_traces_match_the_trace_schema(doc: dict[str, Any], level: str) -> None:
    pool = pool_of(make_carrier(), make_carrier(status="inactive"))
    trace = build_trace(pool, make_profile(), Options(), eval_id="eval_x",
                        created_at="2025-06-30T00:00:00.000Z", stages=[], level=level)  # fmt: skip
    assert_valid(doc, "Trace", json.loads(json.dumps(trace)))


# ---------------------------------------------------------------- the handler


def _app(public_url: str = BASE_URL) -> web.Application:
    settings = Settings(server=ServerSettings(public_url=public_url))
    app = web.Application(middlewares=[request_context])
    app[SERVICES] = Services(settings=settings, store=cast(Any, None), keys=cast(Any, None))
    app.router.add_get("/openapi.json", openapi_json)
    app.router.add_get("/healthz", ops.healthz)
    return app


async def test_handler_answers_the_document_without_auth(aiohttp_client: Any) -> None:
    client: TestClient = await aiohttp_client(_app())
    resp = await client.get("/openapi.json")
    assert resp.status == 200
    assert resp.content_type == "application/json"
    assert resp.headers["X-Request-Id"]
    body = await resp.json()
    assert body == openapi_document(BASE_URL, nexio_lite.__version__)
    again = await client.get("/openapi.json")
    assert await again.read() == await resp.read()


async def test_handler_uses_the_configured_base_url(aiohttp_client: Any) -> None:
    client: TestClient = await aiohttp_client(_app("https://other.example/"))
    body = await (await client.get("/openapi.json")).json()
    assert body["servers"] == [{"url": "https://other.example"}]


async def test_health_answer_matches_its_schema(aiohttp_client: Any, doc: dict[str, Any]) -> None:
    client: TestClient = await aiohttp_client(_app())
    assert_valid(doc, "Health", await (await client.get("/healthz")).json())
