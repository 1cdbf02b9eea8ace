"""Schemathesis hooks for tests/e2e/test_schemathesis.py (loaded through
SCHEMATHESIS_HOOKS).

One deliberate difference between JSON Schema and the API: to JSON Schema `5.0` is an
integer, while the API refuses it for integer fields (a JSON integer is a literal with
no fraction and no exponent, and `12000000.0` is a 400 `type` problem). No schema can
say that, so the document says it in words, and before each call this hook writes every
whole float of a generated body as the integer JSON Schema considers it to be. Nothing
else is changed: every other generated value reaches the server as generated.
"""

from __future__ import annotations

from typing import Any

import schemathesis


def _whole_floats_as_ints(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _whole_floats_as_ints(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_whole_floats_as_ints(v) for v in value]
    return value


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    if isinstance(case.body, dict | list):
        case.body = _whole_floats_as_ints(case.body)
