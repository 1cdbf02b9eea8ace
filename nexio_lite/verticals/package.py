"""What a job type made by the generic machinery provides: a `JobPackage`.

A job type whose work is a pure function of its request (no pool, no rule book) is one
module with these names, and one `JobType(..., package="its.import.path")` line in the
registry (`nexio_lite.jobtypes`). From them the service builds its create route (the
body checked field by field with the same 400 details as every other type, then the
shared Idempotency-Key, webhook URL and 202 machinery), its OpenAPI operation and result
schema, and its runner, which calls `run` in a scoring process. docs/job-types.md walks
through one (the tests' `word_count`).
"""

from __future__ import annotations

import importlib
import json
from typing import Any, Protocol, cast

from nexio_lite.fields import Obj, Schema
from nexio_lite.jsontext import dumps
from nexio_lite.validation import WEBHOOK_URL, Detail


class JobPackage(Protocol):
    """The module of a packaged job type."""

    REQUEST: Obj  # the create body's fields (`webhook_url` is added by the service)
    RESULT: Schema  # JSON Schema of the completed job's `result`
    TRACE: Schema | None  # JSON Schema of its trace (`GET /traces/{id}`), or None
    SUMMARY: str  # the create operation's summary (OpenAPI)
    DESCRIPTION: str  # what the type does (OpenAPI)
    EXAMPLE: dict[str, Any]  # a valid create body

    def run(self, request: dict[str, Any], job_id: str) -> tuple[Any, Any]:
        """The job's work, in a scoring process: from the stored (validated) request to
        the result and the trace (None when the type keeps none). Pure: no I/O."""
        ...


def load_package(path: str) -> JobPackage:
    """The package at import path `path` (imported once per process)."""
    return cast(JobPackage, importlib.import_module(path))


def request_fields(package: JobPackage) -> Obj:
    """The create body's declaration: the package's fields and `webhook_url`."""
    declared = package.REQUEST
    if "webhook_url" in declared.fields:
        return declared
    return Obj({**declared.fields, "webhook_url": WEBHOOK_URL}, declared.required,
               declared.description, declared.extra_schema)  # fmt: skip


def validate_body(package: JobPackage, body: dict[str, Any]) -> dict[str, Any] | list[Detail]:
    """The valid, non-null fields of `body` in declaration order, or every problem, sorted
    by (field, code) as every create endpoint reports them."""
    details: list[Detail] = []
    valid = request_fields(package).validate("", body, details, Detail)
    if details:
        return sorted(details, key=lambda d: (d.field, d.code))
    return valid


def run_package(path: str, request_json: str, job_id: str) -> tuple[str, str | None]:
    """Run a stored request of the package at `path` (in a scoring process): the result's
    and the trace's JSON texts. `webhook_url` is the service's, not the package's."""
    request = json.loads(request_json)
    request.pop("webhook_url", None)
    result, trace = load_package(path).run(request, job_id)
    return dumps(result), None if trace is None else dumps(trace)
