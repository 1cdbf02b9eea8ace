"""A stored pool version read back in a scoring process: `read_stored_pool`.

What is stored: the canonical JSONL that `Admin.add_pool` made (`serialize_jsonl` of
carriers the service had validated or generated: the §3 keys in order, compact, ASCII,
a newline after each record), taken apart into columns by `pack_stored_pool` (versions
stored before that: the JSONL itself, zlib-compressed). A scoring process reads a version before
its first job; `parse_pool_file` took 3.6 s for 99,999 carriers, nearly all of it per
record and per field (a JSON object hook, a Python call per field check, the sharing of
repeated values): right for a file a person gives, but that same work again, record by
record, for data that has passed it.

`read_stored_pool` returns what `parse_pool_file(data, "jsonl")` returns for the same
bytes (equal carriers, in file order, sharing repeated values) and checks them by the
same rules, batched:

- each line is read by its canonical shape (`_LINE`, one regular expression: the 32
  keys in order, each value a JSON token of the kind its field takes, nothing else on
  the line) into 16 texts (`_PARTS`: a field's value, or the `"key":value,…` text of a
  run of fields); the texts of the parts whose values repeat are numbered, the same
  number for the same text;
- then each field's check runs once per distinct text (`carriers_io.COLUMN_CHECKS`,
  on the decoded values of all the distinct texts at once): a pool repeats its
  enumerations, state lists, lines, amounts and dates over and over. carrier_id, name
  and naic_code, all distinct, are checked a column at a time by the same rules; each
  rule between fields (`CROSS_FIELD_RULES`) runs once per distinct combination of its
  fields' texts; carrier_id and name must have as many distinct values as there are
  records;
- on anything else (a line of another shape, a value a check or rule refuses, a
  repeated key inside `lines`, a cut zlib stream) the whole file goes to
  `parse_pool_file`, which raises PoolImportError with every problem and its line, or
  (for valid data in another form) returns the carriers; a warning is logged, as a
  stored version never needs it.

So the result is the same in every case; only the time differs. The numbering also
gives `prepare_pool` the carriers' fields as `FieldColumn`s, so that it derives each
fact once per distinct value without looking for them again.
"""

from __future__ import annotations

import re
import sys
import zlib
from array import array
from collections import defaultdict
from collections.abc import Iterator
from itertools import chain, count, repeat, starmap
from operator import and_, eq, itemgetter, mul
from typing import Any

import orjson

from nexio_lite.logs import get_logger
from nexio_lite.verticals.carriers.bulk import frozen_instances
from nexio_lite.verticals.carriers.carriers_io import (
    _DECODER,
    _INT_COLUMNS,
    _LIST_COLUMNS,
    COLUMN_CHECKS,
    CROSS_FIELD_RULES,
    KEYS,
    NULLABLE,
    PoolImportError,
    PoolProblem,
    _Invalid,
    parse_pool_file,
)
from nexio_lite.verticals.carriers.facts import FieldColumn
from nexio_lite.verticals.carriers.gcpause import gc_paused
from nexio_lite.verticals.carriers.schema import Carrier

log = get_logger("nexio_lite.pool")

# --- the canonical line --------------------------------------------------------------------
# Each field's value as a regex, in the form `serialize_record` writes it. No class admits
# a control character (so no newline: a match is one line; JSON never has them raw in a
# string), a backslash (no escapes: `serialize_record` writes none but in a name, whose
# regex takes any escape for the decoder to judge) or a space between tokens. The
# quantifiers are possessive: a line that does not match fails fast.
_STRING = rb'"[^"\\\x00-\x1f]*+"'
_NAME_TEXT = rb'(?:[^"\\\x00-\x1f]++|\\[^\x00-\x1f])*+'  # inside the quotes
_INTEGER = rb"(?:0|[1-9][0-9]*+)"
_LIST = rb"\[[^\]\\\x00-\x1f ]*+\]"
_OBJECT = rb"\{[^}\\\x00-\x1f ]*+\}"


def _value(key: str) -> bytes:
    if key in _LIST_COLUMNS:
        return _LIST
    if key == "lines":
        return _OBJECT
    value = _INTEGER if key in _INT_COLUMNS else _STRING
    return b"(?:%s|null)" % value if key in NULLABLE else value


# The line is read as parts, each one regex group: a single field's value (its text in
# the file), or the `"key":value,…` text of a run of fields with few distinct values
# together (a pool has 499 distinct segment…domicile_state texts, for example), so that
# a record is 16 texts, 13 of them repeated from other records.
_PARTS: tuple[tuple[str, ...], ...] = (
    ("carrier_id",), ("name",), ("naic_code",),
    ("segment", "status", "market_type", "domicile_state"),
    ("states",), ("target_states",), ("lines",), ("naics_target",), ("naics_excluded",),
    ("min_revenue", "max_revenue", "band_min", "band_max", "min_years_in_business"),
    ("max_loss_ratio_pct", "max_claims_3yr", "max_employees", "max_limit"),
    ("coverage_breadth", "am_best_rating", "am_best_fsc", "rating_outlook"),
    ("min_premium", "rate_index"),
    ("binding_authority", "quote_turnaround_days", "access"),
    ("complaint_index_x100",), ("data_as_of",),
)  # fmt: skip
assert tuple(key for part in _PARTS for key in part) == KEYS


def _text(fields: tuple[str, ...]) -> bytes:
    """The regex of a part's text (no group of its own)."""
    if fields == ("carrier_id",):
        return _STRING[1:-1]  # the text inside the quotes
    if fields == ("name",):
        return _NAME_TEXT
    if len(fields) == 1:
        return _value(fields[0])
    return b",".join(b'"%s":%s' % (key.encode(), _value(key)) for key in fields)


def _wrap(fields: tuple[str, ...]) -> bytes:
    """The part in the line around its text (`%s`): `_wrap(f) % text` is the line's bytes."""
    if fields in (("carrier_id",), ("name",)):
        return b'"%s":"%%s"' % fields[0].encode()
    if len(fields) == 1:
        return b'"%s":%%s' % fields[0].encode()
    return b"%s"


_WRAPS = tuple(map(_wrap, _PARTS))
_LINE = re.compile(
    rb"^\{"
    + b",".join(wrap % b"(%s)" % _text(fields) for wrap, fields in zip(_WRAPS, _PARTS, strict=True))
    + rb"\}\n",
    re.MULTILINE,
)
# One part's texts, each alone, and a column of them joined by newlines (no text holds one).
_TEXTS = tuple(re.compile(_text(fields)) for fields in _PARTS)
_COLUMNS = tuple(re.compile(rb"(?:%s)(?:\n(?:%s))*+" % (t, t)) for t in map(_text, _PARTS))

_PART_OF = {key: n for n, part in enumerate(_PARTS) for key in part}
# The parts whose values are (nearly) all distinct: kept as texts and decoded and checked
# record by record; the others once per distinct text. (No rule between fields reads them.)
_UNIQUE = frozenset(_PART_OF[key] for key in ("carrier_id", "name", "naic_code"))
assert not _UNIQUE.intersection(_PART_OF[key] for fields, _ in CROSS_FIELD_RULES for key in fields)

PIECE = 1 << 13  # compressed bytes inflated at a time (about 90 KB of JSONL, ~90 lines)


class _Doubt(Exception):
    """The fast reader does not vouch for the data: the full validator decides."""


def load_stored_pool(blob: bytes) -> list[Carrier]:
    """The carriers of a stored pool version, from `blob`: its canonical JSONL,
    zlib-compressed, as the store keeps it.

    Equal to `parse_pool_file(zlib.decompress(blob), "jsonl")`, which it calls when it
    does not vouch for the data (the module docstring): PoolImportError when it is not a
    valid pool, zlib.error when it is not a zlib stream."""
    return read_stored_pool(blob)[0]


def read_stored_pool(blob: bytes) -> tuple[list[Carrier], dict[str, FieldColumn] | None]:
    """`load_stored_pool(blob)`, and the carriers' `field_columns` for `prepare_pool`
    when it read them (None when `parse_pool_file` did)."""
    if blob.startswith(COLUMNS_MAGIC):
        size, layout = _layout(zlib.decompress(memoryview(blob)[len(COLUMNS_MAGIC) :]))
        try:
            with gc_paused():
                return _Reader().read_columns(size, layout)
        except _Doubt as exc:
            log.warning("stored_pool_read_in_full", reason=str(exc))
        return parse_pool_file(_jsonl(layout), "jsonl"), None
    try:
        with gc_paused():  # many small objects, no cycles: see gcpause
            return _Reader().read(blob)
    except _Doubt as exc:
        log.warning("stored_pool_read_in_full", reason=str(exc))
    return parse_pool_file(zlib.decompress(blob), "jsonl"), None


# --- the stored form: the parts' texts as columns -------------------------------------------
COLUMNS_MAGIC = b"nexio-pool-columns/1\n"
# Per part of `_PARTS`: its texts joined by newlines, and (a part not in _UNIQUE, whose
# texts are its distinct texts) each record's number of its text, little-endian.
Layout = list[tuple[bytes, "array[int] | None"]]


def pack_stored_pool(jsonl: bytes) -> bytes:
    """The blob the store keeps for a pool version whose canonical JSONL is `jsonl`.

    Its lines' parts as columns, zlib-compressed after COLUMNS_MAGIC: a header line
    (`{"records": N, "parts": [[text bytes, number width], ...]}`), then per part its texts
    joined by newlines and, for a part whose texts repeat, a 2- or 4-byte number per
    record. Reading it skips the line regex and the numbering of 1.3 million texts
    (`_add`: 1 s of the 2.1 s a 99,999-carrier pool took to read); the texts are checked
    by the same regexes, per distinct text or a column at a time, and everything after
    is the same (`_Reader.read_columns`). JSONL that is not in the canonical form (never
    what `Admin.add_pool` writes) is kept as it is, zlib-compressed."""
    reader = _Reader()
    try:
        for piece in _pieces(jsonl):
            reader._add(piece)
    except _Doubt:
        reader.columns[0] = []
    if not reader.columns[0]:
        return zlib.compress(jsonl, 6)
    return COLUMNS_MAGIC + zlib.compress(reader.packed(), 6)


def _pieces(data: bytes, size: int = 1 << 20) -> Iterator[bytes]:
    """`data` about `size` bytes at a time, in whole lines; _Doubt unless it ends with a
    newline."""
    if not data.endswith(b"\n"):
        raise _Doubt("the data does not end with a newline")
    start = 0
    while start < len(data):
        end = data.find(b"\n", start + size) + 1 or len(data)
        yield data[start:end]
        start = end


def _layout(payload: bytes) -> tuple[int, Layout]:
    """The record count and the columns of a packed pool (`_Reader.packed`); a
    PoolImportError when the payload is not laid out so (nothing can be read from it)."""
    broken = PoolImportError([PoolProblem(None, "the stored pool's columns are damaged")])
    end = payload.find(b"\n")
    try:
        head = orjson.loads(payload[:end]) if end > 0 else {}
        size, parts = head["records"], head["parts"]
        widths = [width for _, width in parts]
        if not (
            type(size) is int
            and size > 0
            and all(type(n) is int and n >= 0 for part in parts for n in part)
            and [n not in _UNIQUE for n in range(len(_PARTS))] == [w in (2, 4) for w in widths]
            and all(w == 0 for n, w in enumerate(widths) if n in _UNIQUE)
        ):
            raise broken
    except (orjson.JSONDecodeError, TypeError, KeyError, ValueError):
        raise broken from None
    view = memoryview(payload)
    at = end + 1
    layout: Layout = []
    for length, width in parts:
        texts = bytes(view[at : at + length])
        at += length
        numbers = None
        if width:
            numbers = array("H" if width == 2 else "I")
            if len(view[at : at + size * width]) != size * width:
                raise broken
            numbers.frombytes(view[at : at + size * width])  # (array(code, view) takes ints)
            at += size * width
            if sys.byteorder == "big":
                numbers.byteswap()
            if max(numbers) > texts.count(b"\n"):
                raise broken
        elif texts.count(b"\n") != size - 1:
            raise broken
        layout.append((texts, numbers))
    if at != len(payload):
        raise broken
    return size, layout


def _jsonl(layout: Layout) -> bytes:
    """The JSONL whose lines' parts `layout` holds (for the full reader)."""
    columns = []
    for wrap, (texts, numbers) in zip(_WRAPS, layout, strict=True):
        wrapped = list(map(wrap.__mod__, texts.split(b"\n")))
        columns.append(wrapped if numbers is None else list(map(wrapped.__getitem__, numbers)))
    return b"".join(map(b"{%s}\n".__mod__, map(b",".join, zip(*columns, strict=True))))


def _batches(blob: bytes) -> Iterator[bytes]:
    """The JSONL in `blob`, whole lines at a time (a batch's objects then stay in the CPU
    caches while they are read); _Doubt unless it ends with a newline."""
    inflate = zlib.decompressobj()
    view = memoryview(blob)
    rest = b""
    try:
        for start in range(0, len(blob), PIECE):
            data = rest + inflate.decompress(view[start : start + PIECE])
            end = data.rfind(b"\n") + 1
            rest = data[end:]
            if end:
                yield data[:end] if rest else data
            if inflate.eof:  # (zlib.decompress ignores what follows the stream too)
                break
        rest += inflate.flush()
    except zlib.error:
        raise _Doubt("the blob is not a zlib stream") from None
    if not inflate.eof:
        raise _Doubt("the zlib stream is cut short")
    if rest:
        raise _Doubt("the data does not end with a newline")


class _Strings(dict[bytes, str]):
    """bytes -> the one str of those (ASCII) bytes."""

    def __missing__(self, text: bytes) -> str:
        value = self[text] = text.decode("ascii")
        return value


class _Reader:
    """Reads the lines batch by batch, then checks the values and makes the carriers."""

    def __init__(self) -> None:
        # Per part, per record: its text as in the file (as str, for a part in _UNIQUE), or
        # else the number of its distinct text in `distinct` (numbered as they appear).
        self.columns: list[list[Any]] = [[] for _ in _PARTS]
        self.distinct: list[dict[bytes, int]] = [defaultdict(count().__next__) for _ in _PARTS]
        self.strings = _Strings()  # one instance per string inside a list or lines
        self.fresh = False  # whether a list field's strings were not all made by `strings`

    def read(self, blob: bytes) -> tuple[list[Carrier], dict[str, FieldColumn]]:
        for data in _batches(blob):
            self._add(data)
        return self._finish()

    def read_columns(
        self, size: int, layout: Layout
    ) -> tuple[list[Carrier], dict[str, FieldColumn]]:
        """`read` of the same records packed (`_layout` of `packed`): each text checked by
        the regex of its part, a part's distinct texts one by one (and distinct), the
        texts of a part in _UNIQUE a column at a time."""
        for n, (texts, numbers) in enumerate(layout):
            if not texts.isascii():
                raise _Doubt("the data is not ASCII")
            if numbers is None:
                if not _COLUMNS[n].fullmatch(texts):
                    raise _Doubt("a line is not in the canonical form")
                self.columns[n] = texts.decode("ascii").split("\n")
                continue
            distinct = texts.split(b"\n")
            if not all(map(_TEXTS[n].fullmatch, distinct)):
                raise _Doubt("a line is not in the canonical form")
            self.distinct[n] = dict(zip(distinct, count()))
            if len(self.distinct[n]) != len(distinct):
                raise _Doubt("a part's distinct texts repeat")
            self.columns[n] = numbers.tolist()
        assert all(len(column) == size for column in self.columns)
        return self._finish()

    def packed(self) -> bytes:
        """The records read so far, laid out as `pack_stored_pool` describes."""
        size = len(self.columns[0])
        head: list[list[int]] = []
        body: list[bytes] = []
        for n, column in enumerate(self.columns):
            if n in _UNIQUE:
                texts, numbers = "\n".join(column).encode("ascii"), b""
            else:
                texts = b"\n".join(self.distinct[n])
                kept = array("H" if len(self.distinct[n]) <= 1 << 16 else "I", column)
                if sys.byteorder == "big":
                    kept.byteswap()
                numbers = kept.tobytes()
            head.append([len(texts), len(numbers) // size])
            body += (texts, numbers)
        return orjson.dumps({"records": size, "parts": head}) + b"\n" + b"".join(body)

    def _finish(self) -> tuple[list[Carrier], dict[str, FieldColumn]]:
        """The carriers and their field columns from the texts and numbers kept."""
        size = len(self.columns[0])
        if not size:
            raise _Doubt("no records")
        # per field: its checked value per number of its part's distinct text
        values: dict[str, list[Any]] = {}
        for n, fields in enumerate(_PARTS):
            if n not in _UNIQUE:
                values |= self._distinct(fields, list(self.distinct[n]))
        for fields, rule in CROSS_FIELD_RULES:
            parts = sorted({_PART_OF[key] for key in fields})
            at = [parts.index(_PART_OF[key]) for key in fields]
            combinations = set(zip(*[self.columns[n] for n in parts], strict=True))
            arguments = [map(values[key].__getitem__, map(itemgetter(i), combinations))
                         for key, i in zip(fields, at, strict=True)]  # fmt: skip
            if any(starmap(rule, zip(*arguments, strict=True))):
                raise _Doubt(f"a record breaks a rule between fields ({rule.__name__})")
        columns: dict[str, FieldColumn] = {}
        for n, fields in enumerate(_PARTS):
            if n in _UNIQUE:
                key = fields[0]
                columns[key] = FieldColumn(list(range(size)), self._unique(key, self.columns[n]))
            else:
                for key in fields:
                    columns[key] = FieldColumn(self.columns[n], values[key])
            self.columns[n] = []
        carriers = {key: column.values() for key, column in columns.items()}
        for key in ("carrier_id", "name"):
            if len(set(carriers[key])) != size:
                raise _Doubt(f"{key} is not unique")
        return frozen_instances(Carrier, size, carriers), columns

    def _add(self, data: bytes) -> None:
        """Keep the records of `data` (whole lines) as texts or numbers."""
        if not data.isascii():
            raise _Doubt("the data is not ASCII")
        matches = _LINE.findall(data)
        if len(matches) != data.count(b"\n"):  # each match is one line (`_LINE`)
            raise _Doubt("a line is not in the canonical form")
        for n, texts in enumerate(zip(*matches, strict=True)):
            if n in _UNIQUE:  # (decoded now: the bytes are not kept past the batch)
                self.columns[n] += map(bytes.decode, texts, repeat("ascii"))
            else:
                self.columns[n] += map(self.distinct[n].__getitem__, texts)

    def _distinct(self, fields: tuple[str, ...], texts: list[bytes]) -> dict[str, list[Any]]:
        """Per field of a part, the checked value (what `_record_problems` makes of it)
        in each of the part's distinct `texts`. Equal values are one instance, as are
        the strings inside tuples and dicts (as `_share` shares them)."""
        try:
            if len(fields) > 1:
                objects = list(map(orjson.loads, map(b"{%s}".__mod__, texts)))
                decoded = {key: list(map(itemgetter(key), objects)) for key in fields}
            elif fields[0] in _LIST_COLUMNS:
                self.fresh = False
                decoded = {fields[0]: self._string_lists(texts)}
            else:
                decoded = {fields[0]: list(map(orjson.loads, texts))}
        except orjson.JSONDecodeError:
            raise _Doubt(f"{fields} is not JSON") from None
        if fields == ("lines",) and list(map(bytes.count, texts, repeat(b'":'))) != list(
            map(len, decoded["lines"])
        ):
            # orjson keeps the last of a repeated key, which the full reader refuses. With
            # no whitespace or backslash in the text, `":` follows each key (and may be in
            # a value): as many as the dict's keys means that no key was repeated.
            raise _Doubt("lines names a line twice")
        return {key: self._checked(key, decoded[key]) for key in fields}

    def _string_lists(self, texts: list[bytes]) -> list[Any]:
        """The JSON values of lists' texts: lists of the reader's strings for those in the
        canonical form (`["…","…"]`: between the outer quotes, no quote but those of the
        `","` separators), else as orjson reads them."""
        items = [text[2:-2].split(b'","') for text in texts]
        canonical = list(
            map(
                and_,
                map(
                    eq, map(bytes.count, texts, repeat(b'"')), map(mul, map(len, items), repeat(2))
                ),
                map(
                    and_,
                    map(bytes.startswith, texts, repeat(b'["')),
                    map(bytes.endswith, texts, repeat(b'"]')),
                ),
            )
        )
        values = list(map(list, map(map, repeat(self.strings.__getitem__), items)))
        if not all(canonical):
            for i in [i for i, ok in enumerate(canonical) if not ok]:
                values[i] = orjson.loads(texts[i])
                self.fresh = self.fresh or bool(values[i])  # its strings are not the reader's
        return values

    def _checked(self, key: str, decoded: list[Any]) -> list[Any]:
        """The checked values of field `key`, one per value in `decoded`, equal ones shared;
        None stays None (only a nullable field's regex admits null)."""
        if key in _LIST_COLUMNS or key == "lines":
            distinct = decoded  # (their texts were distinct)
        else:  # by value: they are all str (or all int) or None, so equal means the same
            distinct = list(dict.fromkeys(decoded))
        present = [v for v in distinct if v is not None]
        try:
            checked = COLUMN_CHECKS[key](key, present)
        except _Invalid as exc:
            raise _Doubt(str(exc)) from None
        if key in _LIST_COLUMNS:
            if self.fresh:
                checked = self._share(checked)
        elif key == "lines":
            keys = self._share(checked)
            appetites = self._share(list(map(dict.values, checked)))
            checked = list(map(dict, map(zip, keys, appetites)))
        found = dict(zip(map(id, present), checked, strict=True))
        found[id(None)] = None
        if distinct is decoded:
            return list(map(found.__getitem__, map(id, decoded)))
        first = {v: found[id(v)] for v in distinct}  # equal values: the first's result
        return list(map(first.__getitem__, decoded))

    def _share(self, items: list[Any]) -> list[tuple[str, ...]]:
        """Per value of `items` (an iterable of strings each), its strings as a tuple of
        the one instance of each string that the reader keeps."""
        strings = self.strings
        for s in set(chain.from_iterable(items)).difference(strings.values()):
            strings[s.encode("ascii")] = s
        shared = {s: s for s in strings.values()}
        return list(map(tuple, map(map, repeat(shared.__getitem__), items)))

    def _unique(self, key: str, texts: list[str]) -> list[Any]:
        """The checked values of field `key`, a part in _UNIQUE, from its texts."""
        values: list[Any] = texts
        if key == "naic_code":
            values = [None if t == "null" else t[1:-1] for t in texts]
        if key == "name" and any(map(str.__contains__, texts, repeat("\\"))):
            try:  # a name with escapes, decoded as the full reader decodes it
                values = [_DECODER.decode(f'"{v}"') if "\\" in v else v for v in values]
            except ValueError:
                raise _Doubt("a name is not a JSON string") from None
        try:
            COLUMN_CHECKS[key](key, [v for v in values if v is not None])
        except _Invalid as exc:
            raise _Doubt(str(exc)) from None
        return values
