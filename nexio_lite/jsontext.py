"""The one place JSON text is produced for clients: compact, UTF-8, key order kept."""

from __future__ import annotations

import json
from typing import Any


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
