"""Pool files: reading (with full validation against DOMAIN.md §3) and writing.

A pool file is `.jsonl` (one carrier object per line, the canonical form), `.json` (one
array of carrier objects) or `.csv` (a header row with the §3 columns; lists joined with
`|`; `lines` as `line:appetite|…`; an empty cell is null, or an empty list for the four
list columns). `parse_pool_file` returns every carrier or raises `PoolImportError` with
every problem found, each with its 1-based line in the file: nothing partial is returned.
For a `.json` array the line of a record is the line where its object starts. A CSV
header that is separated by semicolons, tabs or `|` gets one problem saying so rather
than one per missing column. `PoolImportError.report` words the problems for a person:
at most `REPORT_LIMIT` of them, then how many more there are.

The carriers of one file share their repeated values: every field but carrier_id, name
and naic_code holds, across the file, one object per distinct value (one "active", one
tuple per distinct state list, …), so a 99,999-carrier pool's records take about 80 MB
(they took about 560 MB when every record held its own copies).
Those values are immutable, except `lines` dicts, which callers must not modify.

The rules are also given as tables for readers of many records at once: `COLUMN_CHECKS`
(each field's check over many values) and `CROSS_FIELD_RULES`. A scoring process reads
the store's own canonical JSONL with them (`stored.read_stored_pool`), and with
`parse_pool_file` whenever it has a doubt.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import chain, repeat
from operator import lt
from typing import Any

import attrs

from nexio_lite.verticals.carriers.gcpause import gc_paused
from nexio_lite.verticals.carriers.pool import carrier_to_dict, serialize_jsonl, serialize_record
from nexio_lite.verticals.carriers.schema import (
    AM_BEST_OFF_SCALE,
    AM_BEST_SCALE,
    LINES,
    STATES,
    Carrier,
)

FORMATS: tuple[str, ...] = ("csv", "json", "jsonl")

# --- problems --------------------------------------------------------------------------------


@attrs.frozen(slots=True)
class PoolProblem:
    """One thing wrong with a pool file: where (1-based line, None if unknown) and what."""

    line: int | None
    message: str

    def __str__(self) -> str:
        return self.message if self.line is None else f"line {self.line}: {self.message}"


# A file's problems kept in memory (the rest are only counted), and shown to a person.
KEPT_PROBLEMS = 1_000
REPORT_LIMIT = 50


class PoolImportError(ValueError):
    """A pool file (or record) that cannot be imported.

    `problems` lists the problems found, in file order: every one, up to `KEPT_PROBLEMS`
    for a whole file; `total` counts them all (at least `len(problems)`). `str(err)` is
    the first one, on one line (e.g. "line 7: max_revenue must be an integer").
    """

    def __init__(self, problems: Sequence[PoolProblem], total: int | None = None) -> None:
        if not problems:
            raise ValueError("PoolImportError needs at least one problem")
        self.problems: list[PoolProblem] = list(problems)
        self.total: int = max(total or 0, len(self.problems))
        super().__init__(str(self.problems[0]))

    def report(self, source: str, limit: int = REPORT_LIMIT) -> str:
        """The problems of the file `source` for a person. One problem: one line,
        `pool.csv: line 7: max_revenue must be an integer; nothing was imported`.
        Several: a first line with their count, then one indented line each, at most
        `limit`, then `… and N more problems`."""
        if self.total == 1:
            return f"{source}: {self.problems[0]}; nothing was imported"
        shown = self.problems[:limit]
        lines = [f"{source}: {self.total:,} problems, nothing was imported:"]
        lines += [f"  {p}" for p in shown]
        if self.total > len(shown):
            lines.append(f"  … and {self.total - len(shown):,} more problems")
        return "\n".join(lines)


# --- field checks (DOMAIN.md §3) ---------------------------------------------------------------

KEYS: tuple[str, ...] = tuple(a.name for a in Carrier.__attrs_attrs__)
_KEY_SET = frozenset(KEYS)

SEGMENTS = ("national", "regional", "specialty", "program", "es")
STATUSES = ("active", "runoff")
MARKET_TYPES = ("admitted", "surplus")
APPETITES = ("target", "standard", "limited")
BREADTHS = ("broad", "standard", "restricted")
RATINGS = AM_BEST_SCALE + AM_BEST_OFF_SCALE
OUTLOOKS = ("stable", "positive", "negative", "developing")
BINDINGS = ("instant", "delegated", "submission")
ACCESSES = ("direct", "wholesale")
FSC_NUMERALS = (
    "I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X", "XI", "XII", "XIII", "XIV", "XV",
)  # fmt: skip

_STATE_SET = frozenset(STATES)
_LINE_INDEX = {line: n for n, line in enumerate(LINES)}
_CARRIER_ID = re.compile(r"car_[0-9]{5}")
_NAIC_CODE = re.compile(r"[0-9]{5}")
_NAICS = re.compile(r"[0-9]{2,6}")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


class _Invalid(Exception):
    """A field check failed; the message names the field."""


Check = Callable[[str, Any], Any]  # (field, value) -> converted value, or raise _Invalid


def _string(field: str, v: Any) -> str:
    if not isinstance(v, str):
        raise _Invalid(f"{field} must be a string")
    return v


def _non_empty_string(field: str, v: Any) -> str:
    if not _string(field, v).strip():
        raise _Invalid(f"{field} must not be empty")
    return v


def _pattern(regex: re.Pattern[str], rule: str) -> Check:
    def check(field: str, v: Any) -> str:
        if not regex.fullmatch(_string(field, v)):
            raise _Invalid(f"{field} must be {rule}")
        return v

    return check


def _enum(values: Sequence[str]) -> Check:
    """A check that returns the one shared instance of the allowed value it is given."""
    allowed = {value: value for value in values}
    listing = ", ".join(values)

    def check(field: str, v: Any) -> str:
        if type(v) is str and v in allowed:  # the common case, first
            return allowed[v]
        _string(field, v)
        raise _Invalid(f"{field} must be one of: {listing}")

    return check


def _integer(field: str, v: Any) -> int:
    """A JSON integer >= 0 (bool is not an integer, nor is 1.0)."""
    if type(v) is not int:
        raise _Invalid(f"{field} must be an integer")
    if v < 0:
        raise _Invalid(f"{field} must not be negative")
    return v


def _string_list(field: str, v: Any) -> list[str]:
    if not isinstance(v, list) or not all(isinstance(s, str) for s in v):
        raise _Invalid(f"{field} must be a list of strings")
    return v


def _strictly_sorted(field: str, items: list[str]) -> None:
    if len(set(items)) != len(items) or items != sorted(items):
        raise _Invalid(f"{field} must be sorted, without duplicates")


def _all_states(v: list[Any]) -> bool:
    try:
        return _STATE_SET.issuperset(v)
    except TypeError:  # an unhashable element
        return False


def _state_list(field: str, v: Any) -> tuple[str, ...]:
    if not (isinstance(v, list) and _all_states(v)):  # else find what is wrong
        for s in _string_list(field, v):
            if s not in _STATE_SET:
                raise _Invalid(f"{field} holds {s!r}, not an uppercase state code")
    _strictly_sorted(field, v)
    return tuple(v)


def _naics_list(field: str, v: Any) -> tuple[str, ...]:
    for s in _string_list(field, v):
        if not _NAICS.fullmatch(s):
            raise _Invalid(f"{field} holds {s!r}, not a 2-6 digit NAICS prefix")
    _strictly_sorted(field, v)
    return tuple(v)


def _lines(field: str, v: Any) -> dict[str, str]:
    if not isinstance(v, dict):
        raise _Invalid(f"{field} must be an object of line: appetite")
    if not v:
        raise _Invalid(f"{field} must name at least one line")
    for line, appetite in v.items():
        if line not in _LINE_INDEX:
            raise _Invalid(f"{field} has {line!r}, not a line id ({', '.join(LINES)})")
        if appetite not in APPETITES:
            raise _Invalid(f"{field}.{line} must be one of: {', '.join(APPETITES)}")
    order = [_LINE_INDEX[line] for line in v]
    if order != sorted(order):
        raise _Invalid(f"{field} must list its lines in canonical line order")
    return dict(v)


def _date(field: str, v: Any) -> dt.date:
    if isinstance(v, str) and _DATE.fullmatch(v):
        try:
            return dt.date.fromisoformat(v)
        except ValueError:
            pass
    raise _Invalid(f"{field} must be a valid date YYYY-MM-DD")


# The check of each field, in §3 order; a null value never reaches a check.
FIELD_CHECKS: dict[str, Check] = {
    "carrier_id": _pattern(_CARRIER_ID, "'car_' followed by 5 digits"),
    "name": _non_empty_string,
    "naic_code": _pattern(_NAIC_CODE, "5 digits or null"),
    "segment": _enum(SEGMENTS),
    "status": _enum(STATUSES),
    "market_type": _enum(MARKET_TYPES),
    "domicile_state": _enum(STATES),
    "states": _state_list,
    "target_states": _state_list,
    "lines": _lines,
    "naics_target": _naics_list,
    "naics_excluded": _naics_list,
    "min_revenue": _integer,
    "max_revenue": _integer,
    "band_min": _integer,
    "band_max": _integer,
    "min_years_in_business": _integer,
    "max_loss_ratio_pct": _integer,
    "max_claims_3yr": _integer,
    "max_employees": _integer,
    "max_limit": _integer,
    "coverage_breadth": _enum(BREADTHS),
    "am_best_rating": _enum(RATINGS),
    "am_best_fsc": _enum(FSC_NUMERALS),
    "rating_outlook": _enum(OUTLOOKS),
    "min_premium": _integer,
    "rate_index": _integer,
    "binding_authority": _enum(BINDINGS),
    "quote_turnaround_days": _integer,
    "access": _enum(ACCESSES),
    "complaint_index_x100": _integer,
    "data_as_of": _date,
}

# The fields that may be null (DOMAIN.md §3 "|null").
NULLABLE = frozenset(
    (
        "naic_code",
        "max_loss_ratio_pct",
        "max_claims_3yr",
        "max_employees",
        "am_best_fsc",
        "rating_outlook",
        "quote_turnaround_days",
        "complaint_index_x100",
    )
)


# --- the same checks, of many values at once ---------------------------------------------------

ColumnCheck = Callable[[str, Sequence[Any]], list[Any]]


def _each(check: Check) -> ColumnCheck:
    """`[check(field, v) for v in values]`: the check of each value, in order."""

    def check_all(field: str, values: Sequence[Any]) -> list[Any]:
        return [check(field, v) for v in values]

    return check_all


def _strings(values: Sequence[Any]) -> bool:
    return all(map(isinstance, values, repeat(str)))


def _ascending(items: list[Any], lengths: list[int]) -> bool:
    """Whether each of the runs of `items` (consecutive, of `lengths`) strictly ascends."""
    rises = list(map(lt, items, items[1:]))  # rises[i]: items[i] < items[i + 1]
    end = 0
    for length in lengths:  # the pair that straddles two runs is no rise to make
        end += length
        if 0 < end <= len(rises):
            rises[end - 1] = True
    return all(rises)


def _pattern_column(check: Check, regex: re.Pattern[str]) -> ColumnCheck:
    def check_all(field: str, values: Sequence[Any]) -> list[Any]:
        if _strings(values) and all(map(regex.fullmatch, values)):
            return list(values)
        return _each(check)(field, values)  # raises for the first one that fails

    return check_all


def _names(field: str, values: Sequence[Any]) -> list[Any]:
    if _strings(values) and all(map(str.strip, values)):
        return list(values)
    return _each(_non_empty_string)(field, values)


def _state_lists(field: str, values: Sequence[Any]) -> list[Any]:
    if all(map(isinstance, values, repeat(list))):
        flat = list(chain.from_iterable(values))
        if _all_states(flat) and _ascending(flat, list(map(len, values))):
            return list(map(tuple, values))
    return _each(_state_list)(field, values)


def _naics_lists(field: str, values: Sequence[Any]) -> list[Any]:
    if all(map(isinstance, values, repeat(list))):
        flat = list(chain.from_iterable(values))
        if (
            _strings(flat)
            and all(map(_NAICS.fullmatch, flat))
            and _ascending(flat, list(map(len, values)))
        ):
            return list(map(tuple, values))
    return _each(_naics_list)(field, values)


def _lines_column(field: str, values: Sequence[Any]) -> list[Any]:
    if all(map(isinstance, values, repeat(dict))) and all(values):  # dicts, none empty
        lines = list(chain.from_iterable(values))
        try:
            known = _LINE_INDEX.keys() >= set(lines) and _APPETITE_SET.issuperset(
                chain.from_iterable(map(dict.values, values))
            )
        except TypeError:  # an unhashable appetite
            known = False
        if known and _ascending(list(map(_LINE_INDEX.__getitem__, lines)), list(map(len, values))):
            return list(map(dict, values))
    return _each(_lines)(field, values)


_APPETITE_SET = frozenset(APPETITES)

# Per field, its check applied to many values: what `_each(FIELD_CHECKS[field])` returns
# or raises, in fewer Python steps where values are many and mostly distinct (a field
# whose values are few is checked value by value).
COLUMN_CHECKS: dict[str, ColumnCheck] = {
    field: _each(check) for field, check in FIELD_CHECKS.items()
} | {
    "carrier_id": _pattern_column(FIELD_CHECKS["carrier_id"], _CARRIER_ID),
    "name": _names,
    "naic_code": _pattern_column(FIELD_CHECKS["naic_code"], _NAIC_CODE),
    "states": _state_lists,
    "target_states": _state_lists,
    "lines": _lines_column,
    "naics_target": _naics_lists,
    "naics_excluded": _naics_lists,
}


_CHECKS = tuple(FIELD_CHECKS.items())
_ABSENT = object()
# The fields whose values `_share` shares: all but the unique carrier_id, name and
# naic_code, and the enumerations, whose checks (`_enum`) return shared strings already.
_SHARED_FIELDS = (
    "states", "target_states", "lines", "naics_target", "naics_excluded", "min_revenue",
    "max_revenue", "band_min", "band_max", "min_years_in_business", "max_loss_ratio_pct",
    "max_claims_3yr", "max_employees", "max_limit", "min_premium", "rate_index",
    "quote_turnaround_days", "complaint_index_x100", "data_as_of",
)  # fmt: skip


def _share(values: dict[str, Any], memo: dict[Any, Any]) -> dict[str, Any]:
    """`values` with each repeated field value replaced by the first equal value that
    `memo` has seen for that field (small integers are shared by Python already); the
    strings inside a tuple or dict kept this way are shared too."""
    for key in _SHARED_FIELDS:
        v = values[key]
        kind = type(v)
        if v is None or (kind is int and v <= 256):
            continue
        found: Any = memo.get((key, *v.items()) if kind is dict else (key, v))
        if found is None:  # keep this value, with its strings shared, under a key made of it
            if kind is tuple:
                found = tuple([memo.setdefault(s, s) for s in v])
            elif kind is dict:
                found = {memo.setdefault(k, k): memo.setdefault(s, s) for k, s in v.items()}
            else:
                found = v
            memo[(key, *found.items()) if kind is dict else (key, found)] = found
        values[key] = found
    return values


def _subset_rule(states: tuple[str, ...], target_states: tuple[str, ...]) -> list[str]:
    if not set(target_states) <= set(states):
        return ["target_states must be a subset of states"]
    return []


def _band_rule(min_revenue: int, band_min: int, band_max: int, max_revenue: int) -> list[str]:
    problems: list[str] = []
    if band_min < min_revenue:
        problems.append("band_min must be at least min_revenue")
    if band_max <= band_min:
        problems.append("band_max must be greater than band_min")
    if max_revenue < band_max:
        problems.append("max_revenue must be at least band_max")
    return problems


def _fsc_rule(am_best_rating: str, am_best_fsc: str | None) -> list[str]:
    if am_best_rating in AM_BEST_OFF_SCALE and am_best_fsc is not None:
        return [f"am_best_fsc must be null when am_best_rating is {am_best_rating}"]
    return []


def _outlook_rule(am_best_rating: str, rating_outlook: str | None) -> list[str]:
    if am_best_rating == "NR" and rating_outlook is not None:
        return ["rating_outlook must be null when am_best_rating is NR"]
    return []


# The rules between fields, in the order their problems are listed: (the fields a rule
# reads, the rule), which gets their checked values and returns its problems. A rule
# depends on nothing else, so a reader may check it once per distinct combination of
# its fields (`stored` does).
CROSS_FIELD_RULES: tuple[tuple[tuple[str, ...], Callable[..., list[str]]], ...] = (
    (("states", "target_states"), _subset_rule),
    (("min_revenue", "band_min", "band_max", "max_revenue"), _band_rule),
    (("am_best_rating", "am_best_fsc"), _fsc_rule),
    (("am_best_rating", "rating_outlook"), _outlook_rule),
)


def _cross_field_problems(v: dict[str, Any]) -> list[str]:
    """Rules between fields, checked only where every field involved is itself valid."""
    problems: list[str] = []
    for needed, fields, rule in _CROSS_RULES:
        if v.keys() >= needed:
            problems += rule(*[v[k] for k in fields])
    return problems


_CROSS_RULES = tuple((frozenset(fields), fields, rule) for fields, rule in CROSS_FIELD_RULES)


def _record_problems(d: Any) -> tuple[dict[str, Any], list[str]]:
    """Checked and converted field values, and every problem of one record (§3 order)."""
    if not isinstance(d, dict):
        return {}, ["a carrier record must be a JSON object"]
    problems: list[str] = []
    if d.keys() != _KEY_SET:
        problems += [f"{k} is required" for k in KEYS if k not in d]
        problems += [f"{k} is not a recognized field" for k in d if k not in _KEY_SET]
    values: dict[str, Any] = {}
    for key, check in _CHECKS:
        raw = d.get(key, _ABSENT)
        if raw is None:
            if key in NULLABLE:
                values[key] = None
            else:
                problems.append(f"{key} must not be null")
        elif raw is not _ABSENT:
            try:
                values[key] = check(key, raw)
            except _Invalid as exc:
                problems.append(str(exc))
    problems += _cross_field_problems(values)
    return values, problems


def carrier_from_dict(d: dict[str, Any], line: int | None = None) -> Carrier:
    """The Carrier of one record, validated field by field against DOMAIN.md §3.

    Exactly the 32 keys; JSON types (an integer is a JSON integer, never a bool or 1.0);
    every domain and cross-field rule. Raises PoolImportError listing every problem of the
    record, each tagged with `line` (None: no line prefix).
    """
    values, problems = _record_problems(d)
    if problems:
        raise PoolImportError([PoolProblem(line, p) for p in problems])
    return Carrier(**values)


# --- reading ------------------------------------------------------------------------------------


def format_from_filename(name: str) -> str:
    """ "csv", "json" or "jsonl" from the file name's extension (any case); else ValueError."""
    suffix = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if suffix not in FORMATS:
        raise ValueError(f"pool file {name!r} must end in .csv, .json or .jsonl")
    return suffix


Progress = Callable[[int], None]  # called with the number of records read so far
PROGRESS_EVERY = 1_000  # records between two calls of a `Progress`


def parse_pool_file(data: bytes, fmt: str, progress: Progress | None = None) -> list[Carrier]:
    """Every carrier of a pool file, in file order, or PoolImportError with every problem.

    `fmt` is "jsonl", "json" or "csv". UTF-8 (a leading BOM is ignored). Besides each
    record's own rules, carrier_id and name must be unique across the file, and the file
    must hold at least one carrier. Nothing partial is ever returned. `progress`, when
    given, is called with the number of records read every `PROGRESS_EVERY` records and
    once at the end.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown pool file format {fmt!r}: one of {', '.join(FORMATS)}")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise PoolImportError([PoolProblem(line, "the file is not valid UTF-8")]) from None
    records = {"jsonl": _jsonl_records, "json": _json_records, "csv": _csv_records}[fmt](text)
    with gc_paused():  # many small objects, no cycles: see gcpause
        return _validate_records(records, progress)


# A record as read: its line, its fields (None if unreadable) and problems found while reading.
_Record = tuple[int, Any, list[str]]


def _validate_records(records: Iterable[_Record], progress: Progress | None) -> list[Carrier]:
    carriers: list[Carrier] = []
    problems: list[PoolProblem] = []
    total = 0  # problems found, kept or not
    first_seen: dict[tuple[str, str], tuple[int, int]] = {}  # (key, value) -> (index, line)
    shared: dict[Any, Any] = {}  # (field, value) -> the one instance of that value
    count = 0
    for line, d, read_problems in records:
        count += 1
        if progress is not None and count % PROGRESS_EVERY == 0:
            progress(count)
        values, record_problems = _record_problems(d) if d is not None else ({}, [])
        record_problems = read_problems + record_problems
        for key in ("carrier_id", "name"):
            if key in values:
                index, seen_line = first_seen.setdefault((key, values[key]), (count, line))
                if index != count:
                    record_problems.append(
                        f"{key} {values[key]!r} is already used on line {seen_line}"
                    )
        if record_problems:
            total += len(record_problems)
            room = KEPT_PROBLEMS - len(problems)
            problems += [PoolProblem(line, p) for p in record_problems[:room]]
        elif not total:
            carriers.append(Carrier(**_share(values, shared)))
    if progress is not None:
        progress(count)
    if not count and not total:
        problems.append(PoolProblem(1, "the file holds no carriers"))
        total = 1
    if total:
        raise PoolImportError(problems, total)
    return carriers


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An object hook that refuses a key given twice (json would keep the last silently)."""
    d = dict(pairs)
    if len(d) != len(pairs):
        seen: set[str] = set()
        for k, _ in pairs:
            if k in seen:
                raise ValueError(f"key {k!r} appears twice in one object")
            seen.add(k)
    return d


_DECODER = json.JSONDecoder(object_pairs_hook=_unique_keys, parse_constant=_reject_constant)
_JSON_WS = re.compile(r"[ \t\n\r]*")


def _skip_ws(text: str, pos: int) -> int:
    """The first position at or after `pos` that is not JSON whitespace."""
    match = _JSON_WS.match(text, pos)
    return match.end() if match else pos


def _json_error(exc: ValueError) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"invalid JSON: {exc.msg} (column {exc.colno})"
    return f"invalid JSON: {exc}"


def _jsonl_lines(text: str) -> Iterator[str]:
    """`text.split("\\n")`, one piece at a time (a big file's lines are never all held)."""
    start, end = 0, len(text)
    while start <= end:
        stop = text.find("\n", start)
        if stop < 0:
            stop = end
        yield text[start:stop]
        start = stop + 1


def _jsonl_records(text: str) -> Iterator[_Record]:
    """One record per non-blank line; lines are split on "\\n" only."""
    for n, raw in enumerate(_jsonl_lines(text), start=1):
        if not raw.strip(" \t\r"):
            continue
        try:
            yield n, _DECODER.decode(raw), []
        except ValueError as exc:
            yield n, None, [_json_error(exc)]


def _json_records(text: str) -> Iterator[_Record]:
    """The elements of one top-level array, each with the line where it starts."""
    pos = _skip_ws(text, 0)
    if not text.startswith("[", pos):
        yield text.count("\n", 0, pos) + 1, None, ["a .json pool file must hold one JSON array"]
        return
    line, counted = 1, 0
    pos = _skip_ws(text, pos + 1)
    if text.startswith("]", pos):
        pos += 1
    else:
        while True:
            line += text.count("\n", counted, pos)
            counted = pos
            try:
                obj, pos = _DECODER.raw_decode(text, pos)
            except ValueError as exc:
                yield _error_line(exc, line), None, [_json_error(exc)]
                return
            yield line, obj, []
            pos = _skip_ws(text, pos)
            if text.startswith(",", pos):
                pos = _skip_ws(text, pos + 1)
            elif text.startswith("]", pos):
                pos += 1
                break
            else:
                line += text.count("\n", counted, pos)
                yield line, None, ["invalid JSON: expected ',' or ']' after an array element"]
                return
    end = _skip_ws(text, pos)
    if end != len(text):
        yield text.count("\n", 0, end) + 1, None, ["invalid JSON: extra data after the array"]


def _error_line(exc: ValueError, fallback: int) -> int:
    return exc.lineno if isinstance(exc, json.JSONDecodeError) else fallback


_INT_COLUMNS = frozenset(
    (
        "min_revenue",
        "max_revenue",
        "band_min",
        "band_max",
        "min_years_in_business",
        "max_loss_ratio_pct",
        "max_claims_3yr",
        "max_employees",
        "max_limit",
        "min_premium",
        "rate_index",
        "quote_turnaround_days",
        "complaint_index_x100",
    )
)
_LIST_COLUMNS = frozenset(("states", "target_states", "naics_target", "naics_excluded"))
_CSV_INT = re.compile(r"-?[0-9]+")


def _csv_records(text: str) -> Iterator[_Record]:
    """Rows after the header, as record dicts, each with the line where the row starts."""
    hint = _delimiter_hint(text[: text.find("\n")] if "\n" in text else text)
    if hint is not None:
        yield 1, None, [hint]
        return
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, None)
        if header is None:
            return
        header_problems = _csv_header_problems(header)
        if header_problems:
            yield 1, None, header_problems
            return
        start = reader.line_num + 1
        for row in reader:
            if row:
                yield start, *_csv_row(header, row)
            start = reader.line_num + 1
    except csv.Error as exc:
        yield reader.line_num, None, [f"invalid CSV: {exc}"]


# Column separators a spreadsheet may have used instead of commas, as a person says them.
OTHER_DELIMITERS: tuple[tuple[str, str], ...] = (
    (";", "semicolons"),
    ("\t", "tabs"),
    ("|", "'|' characters"),
)


def _known_columns(header_line: str, delimiter: str) -> int:
    cells = (cell.strip().strip('"') for cell in header_line.split(delimiter))
    return len(_KEY_SET.intersection(cells))


def _delimiter_hint(header_line: str) -> str | None:
    """One problem for a header whose columns are separated by something other than
    commas (more column names are found that way than between commas), else None."""
    by_comma = _known_columns(header_line, ",")
    for delimiter, name in OTHER_DELIMITERS:
        found = _known_columns(header_line, delimiter)
        if found > by_comma and found >= 2:
            return (
                f"the header's columns are separated by {name}, not commas: save the file "
                "as comma-separated CSV (lists inside a cell stay joined with '|')"
            )
    return None


def _csv_header_problems(header: list[str]) -> list[str]:
    problems = [f"column {k} is missing from the header" for k in KEYS if k not in header]
    problems += [f"column {k!r} is not a recognized field" for k in header if k not in _KEY_SET]
    problems += [f"column {k} appears twice" for k in KEYS if header.count(k) > 1]
    return problems


def _csv_row(header: list[str], row: list[str]) -> tuple[Any, list[str]]:
    if len(row) != len(header):
        return None, [f"the row has {len(row)} cells, the header {len(header)}"]
    d: dict[str, Any] = {}
    problems: list[str] = []
    for key, cell in zip(header, row, strict=True):
        if key in _LIST_COLUMNS:
            d[key] = cell.split("|") if cell else []
        elif key == "lines":
            d[key] = _csv_lines(cell, problems)
        elif cell == "":
            d[key] = None
        elif key in _INT_COLUMNS and _CSV_INT.fullmatch(cell):
            d[key] = int(cell)
        else:
            d[key] = cell
    return d, problems


def _csv_lines(cell: str, problems: list[str]) -> dict[str, str]:
    """`line:appetite|…` as a dict in cell order; a repeated line is a problem."""
    lines: dict[str, str] = {}
    for item in cell.split("|") if cell else []:
        line, _, appetite = item.partition(":")
        if line in lines:
            problems.append(f"lines names {line!r} twice")
        lines[line] = appetite
    return lines


# --- writing ------------------------------------------------------------------------------------


def write_jsonl(carriers: Iterable[Carrier]) -> bytes:
    """The canonical JSONL file (the bytes whose SHA-256 is the pool's `sha256`)."""
    return serialize_jsonl(carriers)


def write_json(carriers: Iterable[Carrier]) -> bytes:
    """One JSON array, one record per line (record k, 1-based, starts on line k + 1)."""
    records = [serialize_record(c) for c in carriers]
    if not records:
        return b"[]\n"
    return ("[\n" + ",\n".join(records) + "\n]\n").encode("ascii")


def write_csv(carriers: Iterable[Carrier]) -> bytes:
    """A CSV file with the §3 columns in order; parse_pool_file(…, "csv") reads it back."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(KEYS)
    for c in carriers:
        writer.writerow([_csv_cell(v) for v in carrier_to_dict(c).values()])
    return out.getvalue().encode("utf-8")


def _csv_cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, list):
        return "|".join(v)
    if isinstance(v, dict):
        return "|".join(f"{line}:{appetite}" for line, appetite in v.items())
    return str(v)
