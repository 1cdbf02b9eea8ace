"""Field declarations: one place that says what a request field accepts, read both by
the validators (each declaration checks a value) and by `/openapi.json` (each one
describes itself as JSON Schema), so a range, pattern or choice cannot differ between
what the server enforces and what it documents.

A check returns None for a valid value, else `(code, message)` with the exact text the
API answers (codes: `type`, `range`, `enum`, `format`). The caller decides what `null`
means (for request bodies: absent) and reports `required` and `unknown_field` itself.

Rules that JSON Schema cannot state (a real calendar date, at most N decimal places, an
integer written without a fraction) are checked here and told in the description; the
schema never approximates them with something stricter.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

import attrs

Problem = tuple[str, str]  # (code, message)
Schema = dict[str, Any]

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _described(schema: Schema, description: str) -> Schema:
    if description:
        schema["description"] = description
    return schema


def enum_varnames(values: tuple[str, ...]) -> list[str] | None:
    """Names a code generator can use for `values` (`x-enum-varnames`), or None when the
    values are identifiers already: `A++` -> `A_PLUS_PLUS`, `A-` -> `A_MINUS`,
    `carriers:all` -> `CARRIERS_ALL`."""
    if all(_IDENTIFIER.fullmatch(v) for v in values):
        return None
    names = []
    for value in values:
        name = value.replace("++", "_PLUS_PLUS").replace("+", "_PLUS").replace("-", "_MINUS")
        name = re.sub(r"[^A-Za-z0-9_]+", "_", name).strip("_").upper() or "EMPTY"
        if name[0].isdigit():
            name = f"V_{name}"
        names.append(name)
    assert len(set(names)) == len(names), f"x-enum-varnames collide for {values}"
    return names


def parse_date(text: str) -> dt.date | None:
    """A real calendar date written exactly `YYYY-MM-DD`, else None."""
    if _DATE_RE.fullmatch(text) is None:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        return None


@attrs.frozen
class Integer:
    """A JSON integer (no fraction, no exponent, not a boolean) from `lo` to `hi`."""

    lo: int | None = None
    hi: int | None = None
    description: str = ""
    int64: bool = False

    def check(self, path: str, v: Any) -> Problem | None:
        if type(v) is not int:
            return ("type", f"{path} must be an integer")
        if (self.lo is not None and v < self.lo) or (self.hi is not None and v > self.hi):
            return ("range", f"{path} must be between {self.lo} and {self.hi}")
        return None

    def schema(self) -> Schema:
        s: Schema = {"type": "integer"}
        if self.int64:
            s["format"] = "int64"
        if self.lo is not None:
            s["minimum"] = self.lo
        if self.hi is not None:
            s["maximum"] = self.hi
        return _described(s, self.description)


@attrs.frozen
class Number:
    """A JSON number from `lo` to `hi` with at most `decimals` decimal places (read from
    the literal's digits, never through binary float)."""

    lo: int
    hi: int
    decimals: int
    description: str = ""

    def check(self, path: str, v: Any) -> Problem | None:
        t = type(v)
        if not (t is int or (t is Decimal and v.is_finite())):
            return ("type", f"{path} must be a number")
        if v < self.lo or v > self.hi:
            return ("range", f"{path} must be between {self.lo} and {self.hi}")
        if t is Decimal and not has_at_most_decimals(v, self.decimals):
            return ("format", f"{path} must have at most {self.decimals} decimal places")
        return None

    def schema(self) -> Schema:
        s: Schema = {"type": "number", "minimum": self.lo, "maximum": self.hi,
                     "multipleOf": float(Decimal(1).scaleb(-self.decimals))}  # fmt: skip
        return _described(s, self.description)


def decimal_parts(d: Decimal) -> tuple[int, str, int]:
    """(sign, coefficient digits without trailing zeros, exponent of the last kept digit).
    A zero value gives an empty coefficient."""
    sign, digits, exponent = d.as_tuple()
    assert isinstance(exponent, int)
    text = "".join(map(str, digits))
    coefficient = text.lstrip("0").rstrip("0")
    if not coefficient:
        return sign, "", 0
    return sign, coefficient, exponent + len(text) - len(text.rstrip("0"))


def has_at_most_decimals(d: Decimal, places: int) -> bool:
    """True if `d × 10^places` is whole, read from the decimal digits (no rounding context:
    `0.10000` passes 4 places and `0.12345000000000000000000000001` fails)."""
    _sign, coefficient, exponent = decimal_parts(d)
    return not coefficient or exponent >= -places


@attrs.frozen
class Boolean:
    description: str = ""
    default: bool | None = None

    def check(self, path: str, v: Any) -> Problem | None:
        return None if type(v) is bool else ("type", f"{path} must be a boolean")

    def schema(self) -> Schema:
        s: Schema = {"type": "boolean"}
        if self.default is not None:
            s["default"] = self.default
        return _described(s, self.description)


@attrs.frozen
class Text:
    """A string of `min_length` to `max_length` characters (`format` code outside), with
    `format` only as documentation (e.g. `uri`: checked elsewhere)."""

    min_length: int | None = None
    max_length: int | None = None
    description: str = ""
    format: str | None = None

    def check(self, path: str, v: Any) -> Problem | None:
        if type(v) is not str:
            return ("type", f"{path} must be a string")
        n = len(v)
        if (self.min_length is not None and n < self.min_length) or (
            self.max_length is not None and n > self.max_length
        ):
            return ("format", f"{path} must be {self.min_length}-{self.max_length} characters")
        return None

    def schema(self) -> Schema:
        s: Schema = {"type": "string"}
        if self.min_length is not None:
            s["minLength"] = self.min_length
        if self.max_length is not None:
            s["maxLength"] = self.max_length
        if self.format is not None:
            s["format"] = self.format
        return _described(s, self.description)


@attrs.frozen
class Choice:
    """One of `values` (a string). `message` replaces the default
    `<path> must be one of: a, b` (values in declared order)."""

    values: tuple[str, ...]
    description: str = ""
    message: str | None = None
    default: str | None = None
    _set: frozenset[str] = attrs.field(init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "_set", frozenset(self.values))

    def check(self, path: str, v: Any) -> Problem | None:
        if type(v) is not str:
            return ("type", f"{path} must be a string")
        if v in self._set:
            return None
        return ("enum", self.message or f"{path} must be one of: {', '.join(self.values)}")

    def schema(self) -> Schema:
        s: Schema = {"type": "string", "enum": list(self.values)}
        names = enum_varnames(self.values)
        if names is not None:
            s["x-enum-varnames"] = names
        if self.default is not None:
            s["default"] = self.default
        return _described(s, self.description)


@attrs.frozen
class Pattern:
    """A string matching `regex` as a whole (`format` code otherwise, with `message`).
    The same regex is the schema's `pattern`, anchored."""

    regex: str
    message: str
    description: str = ""
    min_length: int | None = None
    max_length: int | None = None
    _compiled: re.Pattern[str] = attrs.field(init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "_compiled", re.compile(self.regex))

    def check(self, path: str, v: Any) -> Problem | None:
        if type(v) is not str:
            return ("type", f"{path} must be a string")
        return None if self._compiled.fullmatch(v) else ("format", self.message)

    def schema(self) -> Schema:
        s: Schema = {"type": "string", "pattern": f"^(?:{self.regex})$"}
        if self.min_length is not None:
            s["minLength"] = self.min_length
        if self.max_length is not None:
            s["maxLength"] = self.max_length
        return _described(s, self.description)


@attrs.frozen
class Date:
    """A real calendar date `YYYY-MM-DD`, optionally between `lo` and `hi` (`format` code
    with `message`). With `strict_type` a non-string is a `type` problem, else a `format`
    one (the same message)."""

    message: str
    lo: dt.date | None = None
    hi: dt.date | None = None
    description: str = ""
    strict_type: bool = True

    def check(self, path: str, v: Any) -> Problem | None:
        if type(v) is not str:
            if self.strict_type:
                return ("type", f"{path} must be a string")
            return ("format", self.message)
        d = parse_date(v)
        if (
            d is None
            or (self.lo is not None and d < self.lo)
            or (self.hi is not None and d > self.hi)
        ):
            return ("format", self.message)
        return None

    def schema(self) -> Schema:
        s: Schema = {"type": "string", "format": "date"}
        if (
            self.lo is not None
            and self.hi is not None
            and self.lo.year // 100 == self.hi.year // 100
        ):
            century = self.lo.year // 100
            s["pattern"] = f"^{century}[0-9]{{2}}-[0-9]{{2}}-[0-9]{{2}}$"
        return _described(s, self.description)


Field = Integer | Number | Boolean | Text | Choice | Pattern | Date


def nullable(schema: Schema) -> Schema:
    """`schema` that also accepts JSON null (null counts as absent)."""
    if "$ref" in schema or "type" not in schema or "enum" in schema:
        # an enum stays a schema of its own, so generators name its values
        inner = {k: v for k, v in schema.items() if k not in ("description", "default")}
        out: Schema = {"anyOf": [inner, {"type": "null"}]}
        out.update((k, schema[k]) for k in ("description", "default") if k in schema)
        return out
    out = dict(schema)
    out["type"] = [schema["type"], "null"]
    return out


@attrs.frozen
class Obj:
    """A JSON object of declared `fields` (`required` ones must be present and not null;
    any other key is `unknown_field`). Validation collects every problem."""

    fields: Mapping[str, Field]
    required: tuple[str, ...] = ()
    description: str = ""
    # JSON Schema for rules across fields (their checks are the caller's), merged in.
    extra_schema: Mapping[str, Any] = attrs.field(factory=dict)

    def validate(self, prefix: str, body: Mapping[str, Any], details: list[Any],
                 detail: Callable[[str, str, str], Any]) -> dict[str, Any]:  # fmt: skip
        """Append `detail(field, code, message)` for each problem of `body` (fields named
        `prefix` + key); return the valid, non-null values in declaration order."""
        valid: dict[str, Any] = {}
        fields = self.fields
        for key, value in body.items():
            spec = fields.get(key)
            path = prefix + key
            if spec is None:
                details.append(detail(path, "unknown_field", f"{path} is not a recognized field"))
            elif value is not None:
                problem = spec.check(path, value)
                if problem is None:
                    valid[key] = value
                else:
                    details.append(detail(path, *problem))
        for key in self.required:
            if body.get(key) is None:
                path = prefix + key
                details.append(detail(path, "required", f"{path} is required"))
        return {k: valid[k] for k in fields if k in valid}

    def schema(self, overrides: Mapping[str, Schema] | None = None) -> Schema:
        """The closed object schema; optional fields also accept null. `overrides`
        replaces a field's schema (a `$ref` to a component)."""
        overrides = overrides or {}
        properties = {}
        for name, spec in self.fields.items():
            s = overrides.get(name) or spec.schema()
            properties[name] = s if name in self.required else nullable(s)
        out: Schema = {"type": "object", "properties": properties}
        if self.required:
            out["required"] = list(self.required)
        out["additionalProperties"] = False
        out.update(self.extra_schema)
        return _described(out, self.description)


@attrs.frozen
class Query:
    """A query parameter: its text is parsed by `kind` (integers: ASCII digits only, at
    most 18 after leading zeros) and checked by its declaration; a problem answers 400
    with `message` (or the declaration's own)."""

    name: str
    spec: Integer | Choice | Text | Pattern
    description: str = ""
    default: Any = None
    message: str | None = None

    def parse(self, raw: str | None) -> Any:
        """The value, the default when absent, or raises ValueError(message)."""
        if raw is None:
            return self.default
        value: Any = raw
        if isinstance(self.spec, Integer):
            if not (raw.isascii() and raw.isdigit() and len(raw.lstrip("0")) <= 18):
                raise ValueError(self._message(("type", f"{self.name} must be an integer")))
            value = int(raw)
        problem = self.spec.check(self.name, value)
        if problem is not None:
            raise ValueError(self._message(problem))
        return value

    def _message(self, problem: Problem) -> str:
        return self.message or problem[1]

    def parameter(self) -> Schema:
        schema = self.spec.schema()
        schema.pop("description", None)
        if self.default is not None:
            schema["default"] = self.default
        return {"name": self.name, "in": "query", "schema": schema,
                "description": self.description or self.spec.description}  # fmt: skip
