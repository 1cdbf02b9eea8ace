"""Request bodies, whatever the job type: strict JSON parsing (`parse_json_body`), the
problem records of a 400 (`Detail`) and its top-level message (`error_message`).

A body is parsed once into plain JSON values (`Decimal` for number literals with a
fraction or exponent, so their decimal text is kept); each job type then validates it
with its own field declarations (`nexio_lite.fields`).
"""

from __future__ import annotations

import json
import re
from decimal import Decimal

import attrs

from nexio_lite.errors import NexioError
from nexio_lite.fields import Text

# Every create body may name a webhook: one declaration for every job type.
WEBHOOK_URL = Text(description="Absolute http(s) URL that receives the finished job.", format="uri")

INVALID_JSON_MESSAGE = "Request body is not valid JSON"
NOT_AN_OBJECT_MESSAGE = "Request body must be a JSON object"

_SURROGATE_RE = re.compile("[\ud800-\udfff]")


class BodyError(NexioError):
    """The body is not usable JSON (or not an object): answered as 400 `invalid_request`
    with this message and empty `details`."""


@attrs.frozen
class Detail:
    """One validation problem: `field` is a dotted path (`profile.revenue`), `code` one of
    required/type/range/enum/format/unknown_field/conflict, `message` the exact text."""

    field: str
    code: str
    message: str

    def to_dict(self) -> dict[str, str]:
        """The API's detail object, keys in the order field, code, message."""
        return {"field": self.field, "code": self.code, "message": self.message}


# ---------------------------------------------------------------- JSON body


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not valid JSON")


def _has_lone_surrogate(value: object) -> bool:
    """True if any string (key or value) holds an unpaired surrogate from a `\\u` escape:
    such text cannot be encoded as UTF-8, so it could not be stored or echoed back."""
    stack = [value]
    while stack:
        item = stack.pop()
        if type(item) is str:
            if _SURROGATE_RE.search(item):
                return True
        elif type(item) is dict:
            stack.extend(item.keys())
            stack.extend(item.values())
        elif type(item) is list:
            stack.extend(item)
    return False


_DECODER = json.JSONDecoder(parse_float=Decimal, parse_constant=_reject_constant)


def parse_json_body(raw: bytes) -> object:
    """Parse a request body as strict JSON.

    Guarantees: returns the JSON value (`dict`, `list`, `str`, `int`, `Decimal` for number
    literals with a fraction or exponent, `bool`, `None`) or raises `BodyError`; never any
    other exception. Refused: invalid UTF-8, a byte-order mark, syntax errors, `NaN` and
    `Infinity`, nesting too deep for the parser, integer literals beyond Python's digit
    limit or exponents beyond Decimal's, and strings with unpaired surrogate escapes.
    Duplicate keys keep the last value (as `json.loads` does).
    """
    try:
        text = bytes(raw).decode("utf-8")
        value = _DECODER.decode(text)
    except (ValueError, ArithmeticError, RecursionError, TypeError) as exc:
        raise BodyError(INVALID_JSON_MESSAGE) from exc
    if "\\u" in text and _has_lone_surrogate(value):
        raise BodyError(INVALID_JSON_MESSAGE)
    return value


def error_message(details: list[Detail]) -> str:
    """The top-level `message` of a 400 (API.md §3): `Missing required field: <field>` when
    the first detail is `required`, otherwise the first detail's message."""
    if not details:
        return "Invalid request"
    first = details[0]
    if first.code == "required":
        return f"Missing required field: {first.field}"
    return first.message
