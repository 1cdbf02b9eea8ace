"""`GET /openapi.json`: the OpenAPI 3.1 description of every endpoint (API.md §9).

`openapi_document` builds the document as plain Python data: the paths and operations
here, the component schemas in `openapi_schemas`. The handler serves it without
authentication, built once per base URL. The tests validate it with
`openapi-spec-validator`, so it stays a valid 3.1 document.
"""

from __future__ import annotations

import functools
from typing import Any

from aiohttp import web

import nexio_lite
from nexio_lite import jobtypes
from nexio_lite.api.context import services
from nexio_lite.api.openapi_schemas import DETAIL_CODES, component_schemas, ref
from nexio_lite.api.operations import (
    AUTHENTICATED,
    ERROR_RESPONSES,
    json_content,
    parameter,
    response_headers,
)
from nexio_lite.api.responses import json_text
from nexio_lite.jsontext import dumps

Operation = dict[str, Any]


# ---------------------------------------------------------------- components


def _error_response_components() -> dict[str, Any]:
    components: dict[str, Any] = {}
    for status, (name, description, code, message) in ERROR_RESPONSES.items():
        details: list[Any] = []
        if status == 400:
            details = [{"field": "profile.entity", "code": "required",
                        "message": "profile.entity is required"}]  # fmt: skip
        schema = ref("Error")
        example = {"error": {"code": code, "message": message, "details": details}}
        extra = ("Retry-After",) if status in (429, 503) else ()
        components[name] = {
            "description": description,
            "headers": response_headers(*extra),
            "content": json_content(schema, example),
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
        "RequestId": parameter(
            "X-Request-Id",
            "header",
            {"type": "string"},
            "Optional id for this request, echoed in the response and the logs (replaced "
            "by a new one unless 1-64 printable characters).",
        ),
        "JobId": parameter("job_id", "path", {"type": "string"}, "`eval_…` or `job_…`."),
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


# ---------------------------------------------------------------- document and handler


def openapi_document(base_url: str, version: str) -> dict[str, Any]:
    """The whole OpenAPI 3.1 document, for a server at `base_url`: the paths of the
    route table (`routes.py`), the components here and in `openapi_schemas`."""
    from nexio_lite.api.routes import paths  # the table imports this module's handler

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
            for name in (
                "jobs",
                "deliveries",
                "maintenance",
                "pools",
                "rulebooks",
                "traces",
                "operations",
            )
        ],
        "paths": paths(),
        "components": _components(),
    }


@functools.cache
def _document_text(base_url: str, version: str, job_types: tuple[str, ...]) -> str:
    return dumps(openapi_document(base_url, version))


async def openapi_json(request: web.Request) -> web.Response:
    """`GET /openapi.json`, without authentication."""
    base_url = services(request).settings.base_url
    return json_text(_document_text(base_url, nexio_lite.__version__, jobtypes.names()))
