"""`word_count`: the small job type the tests add to show how a third type is made.

This package and one registry line are all of it (docs/job-types.md):

    JobType("word_count", "job_", "POST /api/v1/examples/word-count", "scorer",
            "run_package", result_in=ResultIn.RESULT, trace=Trace.STORED, swept=True,
            package="tests.example_type")

The service builds the create route, the 400 details, Idempotency-Key and webhook
handling, the OpenAPI operation and schemas, and runs `run` in a scoring process.
"""

from __future__ import annotations

import re
from typing import Any

from nexio_lite.fields import Integer, Obj, Schema, Text

REQUEST = Obj(
    {
        "text": Text(1, 10_000, "The text whose words are counted."),
        "min_length": Integer(1, 100, "Only words at least this long count (default 1)."),
    },
    required=("text",),
)
RESULT: Schema = {
    "type": "object",
    "properties": {
        "words": {"type": "integer", "minimum": 0},
        "distinct": {"type": "integer", "minimum": 0},
        "longest": {"type": ["string", "null"]},
    },
    "required": ["words", "distinct", "longest"],
    "additionalProperties": False,
}
TRACE: Schema | None = {
    "type": "object",
    "properties": {"id": {"type": "string"}, "tokens": {"type": "integer", "minimum": 0}},
    "required": ["id", "tokens"],
}
SUMMARY = "Count the words of a text"
DESCRIPTION = "Words are runs of letters and digits, counted case-insensitively."
EXAMPLE: dict[str, Any] = {"text": "The quick brown fox", "min_length": 4}

_WORD = re.compile(r"\w+")


def run(request: dict[str, Any], job_id: str) -> tuple[Any, Any]:
    tokens = _WORD.findall(request["text"])
    words = [w.casefold() for w in tokens if len(w) >= request.get("min_length", 1)]
    longest = max(words, key=len) if words else None
    result = {"words": len(words), "distinct": len(set(words)), "longest": longest}
    return result, {"id": job_id, "tokens": len(tokens)}


def declaration() -> Any:
    """The registry line (kept here so the tests register exactly what the docs show)."""
    from nexio_lite.jobtypes import JobType, ResultIn, Trace

    return JobType("word_count", "job_", "POST /api/v1/examples/word-count", "scorer",
                   "run_package", result_in=ResultIn.RESULT, trace=Trace.STORED, swept=True,
                   package="tests.example_type")  # fmt: skip
