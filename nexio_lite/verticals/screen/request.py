"""The body of `POST /api/v1/analysis/screen`, checked and normalized.

`validate_screen_request` collects *every* problem of a parsed body into `Detail`s sorted by
`(field, code)` (the same records, JSON body parser and top-level message rule as
`POST /api/v1/jobs`: `nexio_lite.verticals.carriers.request`), or returns a `ScreenRequest`.
`load_screen_request` rebuilds the request from its stored `normalized` form.

Nulls: every field but `content`, and every field of `context`, counts as absent when it is
`null`. Unknown keys are reported whatever their value. `webhook_url` is only type-checked
here and the rule book id is not looked up.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from nexio_lite.fields import Choice, Obj, Text
from nexio_lite.validation import NOT_AN_OBJECT_MESSAGE, BodyError, Detail
from nexio_lite.verticals.carriers.schema import LINES, STATES

CONTENT_MAX_CHARS = 65_536
RULEBOOK_MAX_CHARS = 128
DEFAULT_RULEBOOK = "rules:default"

MARKETS: tuple[str, ...] = ("admitted", "surplus")
DOCUMENTS: tuple[str, ...] = ("proposal", "quote", "marketing", "other")
DEFAULT_DOCUMENT = "other"

FIELDS: tuple[str, ...] = ("content", "context", "rulebook", "webhook_url")
CONTEXT_FIELDS: tuple[str, ...] = ("state", "line", "market", "document")

_CONTEXT_ENUM_MESSAGES: dict[str, str] = {
    "state": "context.state must be a two-letter uppercase USPS code for one of the 50 states "
    "or DC",
    "line": "context.line must be one of: " + ", ".join(sorted(LINES)),
    "market": "context.market must be one of: " + ", ".join(sorted(MARKETS)),
    "document": "context.document must be one of: " + ", ".join(sorted(DOCUMENTS)),
}


def unknown_rulebook_message(rulebook_id: str) -> str:
    """The message of the 422 `unknown_rulebook` answer."""
    return f"Rulebook '{rulebook_id}' not found for your organization"


@attrs.frozen(slots=True)
class ScreenContext:
    """`context` of a request; None means absent. `document` is never absent (default
    `other`)."""

    state: str | None = None
    line: str | None = None
    market: str | None = None
    document: str = DEFAULT_DOCUMENT

    def to_dict(self) -> dict[str, str]:
        """The trace's `context`: the fields given (state, line, market, in that order),
        then `document` always."""
        out = {
            name: value
            for name, value in (("state", self.state), ("line", self.line), ("market", self.market))
            if value is not None
        }
        out["document"] = self.document
        return out


@attrs.frozen(slots=True)
class ScreenRequest:
    """A request that passed every field check (rule book not yet looked up, webhook URL not
    yet vetted). `rulebook` is the id asked for, `rules:default` when absent. `normalized` is
    the JSON-ready form to store: `content`, `context` (the given non-null fields in
    state/line/market/document order; left out when empty), `rulebook`, `webhook_url` (left
    out when absent)."""

    content: str
    context: ScreenContext
    rulebook: str
    webhook_url: str | None
    normalized: dict[str, Any]


def _unknown(field: str) -> Detail:
    return Detail(field, "unknown_field", f"{field} is not a recognized field")


# The declarations of the body's fields: the validator below checks with them and
# /openapi.json describes the body from them (api/openapi_schemas.py).
CONTENT = Text(1, CONTENT_MAX_CHARS, "The text to screen, 1-65,536 characters (code points).")
RULEBOOK = Text(1, RULEBOOK_MAX_CHARS, f"Rule book id; `{DEFAULT_RULEBOOK}` when absent.")
CONTEXT = Obj(
    {
        "state": Choice(STATES, "Two-letter USPS code (50 states and DC).",
                        _CONTEXT_ENUM_MESSAGES["state"]),
        "line": Choice(LINES, "Line of business.", _CONTEXT_ENUM_MESSAGES["line"]),
        "market": Choice(MARKETS, "Admitted or surplus lines placement.",
                         _CONTEXT_ENUM_MESSAGES["market"]),
        "document": Choice(DOCUMENTS, "What the text is.", _CONTEXT_ENUM_MESSAGES["document"],
                           default=DEFAULT_DOCUMENT),
    },
    description="Selects the rules that apply; a field that is null counts as absent.",
)  # fmt: skip


def _check(field: str, spec: Text, value: Any, details: list[Detail]) -> None:
    problem = spec.check(field, value)
    if problem is not None:
        details.append(Detail(field, *problem))


def _validate_content(content: Any, details: list[Detail]) -> None:
    if content is None:
        details.append(Detail("content", "required", "content is required"))
    else:
        _check("content", CONTENT, content, details)


def _validate_context(context: Any, details: list[Detail]) -> dict[str, str]:
    """Append the problems of `context`; return its valid non-null fields in canonical
    order."""
    if context is None:
        return {}
    if type(context) is not dict:
        details.append(Detail("context", "type", "context must be an object"))
        return {}
    return CONTEXT.validate("context.", context, details, Detail)


def _validate_rulebook(rulebook: Any, details: list[Detail]) -> None:
    if rulebook is not None:
        _check("rulebook", RULEBOOK, rulebook, details)


def _sort_key(detail: Detail) -> tuple[str, str]:
    return (detail.field, detail.code)


def validate_screen_request(body: object) -> ScreenRequest | list[Detail]:
    """Validate a parsed `POST /api/v1/analysis/screen` body.

    Guarantees: returns a `ScreenRequest`, or a non-empty list of every problem found,
    sorted by `(field, code)`, at most one per field. Raises `BodyError` when `body` is not
    a JSON object (answered as 400 with empty details, like `POST /api/v1/jobs`). Use
    `nexio_lite.verticals.carriers.request.error_message` for the answer's top-level message.
    """
    if type(body) is not dict:
        raise BodyError(NOT_AN_OBJECT_MESSAGE)
    details: list[Detail] = [_unknown(key) for key in body if key not in FIELDS]
    content = body.get("content")
    _validate_content(content, details)
    context = _validate_context(body.get("context"), details)
    rulebook = body.get("rulebook")
    _validate_rulebook(rulebook, details)
    webhook_url = body.get("webhook_url")
    if webhook_url is not None and type(webhook_url) is not str:
        details.append(Detail("webhook_url", "type", "webhook_url must be a string"))
    if details:
        details.sort(key=_sort_key)
        return details
    normalized: dict[str, Any] = {"content": content}
    if context:
        normalized["context"] = context
    normalized["rulebook"] = DEFAULT_RULEBOOK if rulebook is None else rulebook
    if webhook_url is not None:
        normalized["webhook_url"] = webhook_url
    return load_screen_request(normalized)


def load_screen_request(normalized: Mapping[str, Any]) -> ScreenRequest:
    """Rebuild the `ScreenRequest` from its stored `normalized` form (e.g. in a worker).
    The input is not re-validated: pass only what `validate_screen_request` produced."""
    context = normalized.get("context") or {}
    return ScreenRequest(
        content=normalized["content"],
        context=ScreenContext(
            state=context.get("state"),
            line=context.get("line"),
            market=context.get("market"),
            document=context.get("document") or DEFAULT_DOCUMENT,
        ),
        rulebook=normalized.get("rulebook") or DEFAULT_RULEBOOK,
        webhook_url=normalized.get("webhook_url"),
        normalized=dict(normalized),
    )
