"""The one place JSON text is produced for clients: compact, UTF-8, key order kept.

orjson does it several times faster than the standard library (it earns its place on
the submit path and in the scoring processes, where whole candidate lists are written:
see docs/benchmarks.md); values it does not know (Decimal, integers beyond 64 bits) fall
back to the standard library with the same output format.
"""

from __future__ import annotations

import json
from typing import Any

import orjson


def dumps(value: Any) -> str:
    try:
        return orjson.dumps(value).decode("utf-8")
    except TypeError:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
