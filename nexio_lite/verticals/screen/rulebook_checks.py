"""Checking an imported rule book: every problem, each with its JSON path.

Checkers take `(value, path, problems)`, append what is wrong and return the checked value,
or None when it is not usable (no valid value of a rule book is ever null). Problems come in
document order: for each object its duplicate keys, unknown keys and missing keys, then its
fields in key order; cross-references (unique ids, cited paragraphs) where they are read.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from functools import partial
from typing import Any

from nexio_lite.verticals.carriers.schema import STATES
from nexio_lite.verticals.screen.request import DOCUMENTS, MARKETS
from nexio_lite.verticals.screen.rulebook import (
    ANY,
    CITE_KEYS,
    KINDS,
    PRIORITIES,
    REGULATION_KEYS,
    RULE_KEYS,
    Cite,
    Regulation,
    Rule,
    Rulebook,
    RulebookError,
    RulebookProblem,
    canonical_json,
    split_paragraphs,
)

ROOT_KEYS: tuple[str, ...] = ("regulations", "rules")
REGULATION_ID_MAX = 64
RULE_ID_MAX = 32
TEXT_MAX_CHARS = 20_000
PHRASE_MAX_CHARS = 100
PHRASES_MAX = 50
CITES_MAX = 5

_REGULATION_ID_RE = re.compile(r"[A-Za-z0-9._-]{1,64}")
_RULE_ID_RE = re.compile(r"[A-Z0-9_]{1,32}")
_PHRASE_CHARS = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 -'&$%.,/:;"
)
_UPDATED_AT_RE = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?Z"
)
_SURROGATE_RE = re.compile("[\ud800-\udfff]")

_PHRASE_CHARS_TEXT = "ASCII letters, digits, spaces and - ' & $ % . , / : ;"
_SCOPES: dict[str, tuple[frozenset[str], str]] = {
    "states": (frozenset(STATES), "a state code (one of the 50 states or DC, uppercase)"),
    "markets": (frozenset(MARKETS), "one of: " + ", ".join(sorted(MARKETS))),
    "documents": (frozenset(DOCUMENTS), "one of: " + ", ".join(sorted(DOCUMENTS))),
}

Problems = list[RulebookProblem]


class _Object(dict[str, Any]):
    """A parsed JSON object that remembers the keys it held more than once."""

    duplicates: tuple[str, ...] = ()


def _object_pairs(pairs: list[tuple[str, Any]]) -> _Object:
    obj = _Object(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        duplicates: list[str] = []
        for key, _value in pairs:
            if key in seen and key not in duplicates:
                duplicates.append(key)
            seen.add(key)
        obj.duplicates = tuple(duplicates)
    return obj


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


_DECODER = json.JSONDecoder(object_pairs_hook=_object_pairs, parse_constant=_reject_constant)


def _at(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _item(path: str, index: int) -> str:
    return f"{path}[{index}]"


# ---------------------------------------------------------------- scalar checkers


def _string(v: Any, path: str, problems: Problems) -> str | None:
    if type(v) is not str:
        problems.append(RulebookProblem(path, "must be a string"))
        return None
    if _SURROGATE_RE.search(v):
        problems.append(RulebookProblem(path, "must not contain unpaired surrogates"))
        return None
    return v


def _pattern(regex: re.Pattern[str], rule: str) -> Callable[[Any, str, Problems], str | None]:
    def check(v: Any, path: str, problems: Problems) -> str | None:
        s = _string(v, path, problems)
        if s is not None and regex.fullmatch(s) is None:
            problems.append(RulebookProblem(path, f"must be {rule}"))
            return None
        return s

    return check


def _one_of(values: tuple[str, ...]) -> Callable[[Any, str, Problems], str | None]:
    def check(v: Any, path: str, problems: Problems) -> str | None:
        s = _string(v, path, problems)
        if s is not None and s not in values:
            problems.append(RulebookProblem(path, "must be one of: " + ", ".join(values)))
            return None
        return s

    return check


def _updated_at(v: Any, path: str, problems: Problems) -> str | None:
    s = _string(v, path, problems)
    if s is None:
        return None
    try:
        valid = _UPDATED_AT_RE.fullmatch(s) is not None and bool(dt.datetime.fromisoformat(s))
    except ValueError:
        valid = False
    if not valid:
        problems.append(
            RulebookProblem(path, "must be an ISO 8601 UTC date-time such as 2025-06-30T00:00:00Z")
        )
        return None
    return s


def _text(v: Any, path: str, problems: Problems) -> str | None:
    s = _string(v, path, problems)
    if s is not None and not 1 <= len(s) <= TEXT_MAX_CHARS:
        problems.append(RulebookProblem(path, f"must be 1-{TEXT_MAX_CHARS} characters"))
        return None
    return s


def _string_list(v: Any, path: str, problems: Problems) -> tuple[str, ...] | None:
    if type(v) is not list:
        problems.append(RulebookProblem(path, "must be a list of strings"))
        return None
    items = [_string(item, _item(path, k), problems) for k, item in enumerate(v)]
    return None if None in items else tuple(items)  # type: ignore[arg-type]


def _phrase(v: Any, path: str, problems: Problems) -> str | None:
    s = _string(v, path, problems)
    if s is None:
        return None
    message = None
    if not 1 <= len(s) <= PHRASE_MAX_CHARS:
        message = f"must be 1-{PHRASE_MAX_CHARS} characters"
    elif bad := [c for c in s if c not in _PHRASE_CHARS]:
        message = f"contains {bad[0]!r}; a phrase may contain only {_PHRASE_CHARS_TEXT}"
    elif s[0] == " " or s[-1] == " " or "  " in s:
        message = "must not begin or end with a space or contain two spaces in a row"
    if message is not None:
        problems.append(RulebookProblem(path, message))
        return None
    return s


def _phrases(v: Any, path: str, problems: Problems, least: int) -> tuple[str, ...] | None:
    if type(v) is not list or not least <= len(v) <= PHRASES_MAX:
        problems.append(RulebookProblem(path, f"must be a list of {least}-{PHRASES_MAX} phrases"))
        return None
    items = [_phrase(item, _item(path, k), problems) for k, item in enumerate(v)]
    return None if None in items else tuple(items)  # type: ignore[arg-type]


def _scope(v: Any, path: str, problems: Problems, name: str) -> tuple[str, ...] | None:
    allowed, allowed_text = _SCOPES[name]
    if type(v) is not list or not v:
        problems.append(RulebookProblem(path, 'must be a non-empty list: ["*"] or values'))
        return None
    ok = True
    if ANY in v and len(v) > 1:
        problems.append(RulebookProblem(path, 'must be ["*"] alone when it holds "*"'))
        ok = False
    for k, item in enumerate(v):
        s = _string(item, _item(path, k), problems)
        if s is None:
            ok = False
        elif s != ANY and s not in allowed:
            problems.append(RulebookProblem(_item(path, k), f'must be {allowed_text} or "*"'))
            ok = False
    return tuple(v) if ok else None


# ---------------------------------------------------------------- objects


def _object(
    v: Any, path: str, problems: Problems, keys: tuple[str, ...], optional: tuple[str, ...] = ()
) -> dict[str, Any] | None:
    """Check that `v` is an object with exactly `keys` (those in `optional` may be absent)."""
    if not isinstance(v, dict):
        message = "must be an object" if path else "a rule book must be a JSON object"
        problems.append(RulebookProblem(path, message))
        return None
    for key in getattr(v, "duplicates", ()):
        problems.append(RulebookProblem(_at(path, key), "appears more than once"))
    for key in v:
        if key not in keys:
            problems.append(RulebookProblem(_at(path, key), "is not a recognized key"))
    for key in keys:
        if key not in v and key not in optional:
            problems.append(RulebookProblem(_at(path, key), "is required"))
    return v


def _field(
    d: dict[str, Any],
    key: str,
    path: str,
    problems: Problems,
    check: Callable[[Any, str, Problems], Any],
) -> Any:
    """The checked value of `d[key]`; None when absent (already reported) or invalid."""
    if key not in d:
        return None
    return check(d[key], _at(path, key), problems)


def _unique(value: str | None, path: str, seen: dict[str, str], problems: Problems) -> str | None:
    """`value` unless another entry already has it as id (`seen` maps ids to their paths)."""
    if value is None:
        return None
    first = seen.setdefault(value, path)
    if first != path:
        problems.append(RulebookProblem(path, f"{value!r} is already the id of {first}"))
        return None
    return value


_regulation_id = _pattern(
    _REGULATION_ID_RE, f"1-{REGULATION_ID_MAX} characters from A-Z, a-z, 0-9, '-', '_' and '.'"
)
_rule_id = _pattern(_RULE_ID_RE, f"1-{RULE_ID_MAX} characters from A-Z, 0-9 and '_'")
_priority = _one_of(PRIORITIES)
_kind = _one_of(KINDS)

_REGULATION_FIELDS: dict[str, Callable[[Any, str, Problems], Any]] = {
    "id": _regulation_id,
    "category": _string,
    "title": _string,
    "description": _string,
    "source_url": _string,
    "authorities": _string_list,
    "jurisdictions": _string_list,
    "updated_at": _updated_at,
    "text": _text,
}
assert tuple(_REGULATION_FIELDS) == REGULATION_KEYS


def _regulation(
    v: Any, path: str, problems: Problems, ids: dict[str, str]
) -> tuple[str | None, Regulation | None]:
    """(its id if usable, the record if wholly valid)."""
    d = _object(v, path, problems, REGULATION_KEYS)
    if d is None:
        return None, None
    values = {key: _field(d, key, path, problems, chk) for key, chk in _REGULATION_FIELDS.items()}
    values["id"] = _unique(values["id"], _at(path, "id"), ids, problems)
    if None in values.values():
        return values["id"], None
    return values["id"], Regulation(**values)


def _cite(
    v: Any, path: str, problems: Problems, paragraph_counts: dict[str, int | None]
) -> Cite | None:
    d = _object(v, path, problems, CITE_KEYS)
    if d is None:
        return None
    regulation = _field(d, "regulation", path, problems, _string)
    paragraph = d.get("paragraph")
    if "paragraph" in d and (type(paragraph) is not int or paragraph < 1):
        problems.append(RulebookProblem(_at(path, "paragraph"), "must be an integer from 1"))
        paragraph = None
    if regulation is None or paragraph is None:
        return None
    if regulation not in paragraph_counts:
        problems.append(
            RulebookProblem(path, f"names regulation {regulation!r}, which this rule book lacks")
        )
        return None
    count = paragraph_counts[regulation]
    if count is None:  # the regulation's text is invalid: already reported
        return None
    if paragraph > count:
        problems.append(
            RulebookProblem(
                path,
                f"names paragraph {paragraph} of regulation {regulation!r}, "
                f"which has {count} paragraph{'s' if count > 1 else ''}",
            )
        )
        return None
    return Cite(regulation, paragraph)


def _cites(
    v: Any, path: str, problems: Problems, paragraph_counts: dict[str, int | None]
) -> tuple[Cite, ...] | None:
    if type(v) is not list or not 1 <= len(v) <= CITES_MAX:
        problems.append(RulebookProblem(path, f"must be a list of 1-{CITES_MAX} citations"))
        return None
    cites = [_cite(item, _item(path, k), problems, paragraph_counts) for k, item in enumerate(v)]
    return None if None in cites else tuple(cites)  # type: ignore[arg-type]


def _rule(
    v: Any,
    path: str,
    problems: Problems,
    ids: dict[str, str],
    paragraph_counts: dict[str, int | None],
) -> Rule | None:
    d = _object(v, path, problems, RULE_KEYS, optional=("trigger",))
    if d is None:
        return None
    values: dict[str, Any] = {
        "id": _unique(_field(d, "id", path, problems, _rule_id), _at(path, "id"), ids, problems),
        "priority": _field(d, "priority", path, problems, _priority),
        "title": _field(d, "title", path, problems, _string),
        "details": _field(d, "details", path, problems, _string),
        "kind": _field(d, "kind", path, problems, _kind),
        "phrases": _field(d, "phrases", path, problems, partial(_phrases, least=1)),
        "trigger": _field(d, "trigger", path, problems, partial(_phrases, least=0))
        if "trigger" in d
        else (),
    }
    if values["kind"] == "forbidden" and values["trigger"]:
        problems.append(
            RulebookProblem(_at(path, "trigger"), "must be empty or absent for a forbidden rule")
        )
        values["trigger"] = None
    for name in ("states", "markets", "documents"):
        values[name] = _field(d, name, path, problems, partial(_scope, name=name))
    values["cites"] = _field(
        d, "cites", path, problems, partial(_cites, paragraph_counts=paragraph_counts)
    )
    if None in values.values():
        return None
    return Rule(**values)


def _list(v: Any, path: str, problems: Problems) -> list[Any]:
    if type(v) is not list:
        problems.append(RulebookProblem(path, "must be a list"))
        return []
    return v


def rulebook_from_obj(obj: Any) -> Rulebook:
    """Check a parsed rule book object and build the `Rulebook`; raises `RulebookError`
    with every problem (JSON paths from the object's root) when anything is wrong."""
    problems: Problems = []
    root = _object(obj, "", problems, ROOT_KEYS)
    if root is None:
        raise RulebookError(problems)

    regulation_ids: dict[str, str] = {}
    paragraph_counts: dict[str, int | None] = {}
    regulations: list[Regulation | None] = []
    for k, item in enumerate(_list(root.get("regulations", []), "regulations", problems)):
        reg_id, regulation = _regulation(item, _item("regulations", k), problems, regulation_ids)
        if reg_id is not None:
            text = item.get("text")
            valid_text = regulation is not None or _text(text, "", []) is not None
            paragraph_counts[reg_id] = len(split_paragraphs(text)) if valid_text else None
        regulations.append(regulation)

    rule_ids: dict[str, str] = {}
    rules = [
        _rule(item, _item("rules", k), problems, rule_ids, paragraph_counts)
        for k, item in enumerate(_list(root.get("rules", []), "rules", problems))
    ]
    if problems:
        raise RulebookError(problems)
    return Rulebook(
        regulations=tuple(regulations),  # type: ignore[arg-type]
        rules=tuple(rules),  # type: ignore[arg-type]
        canonical=canonical_json(obj),
    )


def load_rulebook(data: bytes | str) -> Rulebook:
    """Parse rule book JSON text (UTF-8 bytes, a leading byte-order mark allowed) and check
    it as `rulebook_from_obj` does. Text that is not JSON is one problem at the root."""
    try:
        text = data.decode("utf-8-sig") if isinstance(data, bytes) else data.removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        raise RulebookError([RulebookProblem("", f"is not UTF-8 text ({exc.reason})")]) from exc
    try:
        obj = _DECODER.decode(text)
    except (ValueError, RecursionError) as exc:
        raise RulebookError([RulebookProblem("", f"is not valid JSON ({exc})")]) from exc
    return rulebook_from_obj(obj)
