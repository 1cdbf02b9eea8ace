"""A stored pool version read back in a scoring process (`stored.read_stored_pool`): the
carriers `parse_pool_file` gives for the same bytes, read fast when they are in the
canonical form the service stores, and whatever is not gives exactly the full reader's
answer (the same carriers, or the same problems)."""

from __future__ import annotations

import datetime as dt
import json
import zlib
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np
import pytest

from nexio_lite.verticals.carriers import stored
from nexio_lite.verticals.carriers.carriers_io import PoolImportError, parse_pool_file
from nexio_lite.verticals.carriers.facts import FACT_FIELDS
from nexio_lite.verticals.carriers.pool import carrier_to_dict, generate_pool, serialize_jsonl
from nexio_lite.verticals.carriers.prepared import PreparedPool, prepare_pool
from nexio_lite.verticals.carriers.schema import Carrier, PoolMeta
from nexio_lite.verticals.carriers.stored import load_stored_pool, read_stored_pool

Encode = Callable[[bytes], bytes]
ENCODINGS: dict[str, Encode] = {
    "columns": stored.pack_stored_pool,  # as the store keeps a version now
    "jsonl": lambda data: zlib.compress(data, 6),  # as it kept one before (still read)
}


@pytest.fixture(params=list(ENCODINGS))
def blob_of(request: pytest.FixtureRequest) -> Encode:
    """A version's JSONL as the store keeps it, in each form a store may hold."""
    return ENCODINGS[request.param]


@pytest.fixture(scope="module")
def demo() -> list[Carrier]:
    return generate_pool()


@pytest.fixture(scope="module")
def big() -> list[Carrier]:
    return generate_pool(10_000)


@pytest.fixture
def rows(demo: list[Carrier]) -> list[dict[str, Any]]:
    """Six demo records as plain dicts, free to spoil."""
    return [carrier_to_dict(c) for c in demo[:6]]


@pytest.fixture
def fast_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """The full reader is not called: the fast one read the data."""

    def refuse(data: bytes, fmt: str) -> list[Carrier]:
        raise AssertionError("the stored pool was read by parse_pool_file")

    monkeypatch.setattr(stored, "parse_pool_file", refuse)


def canonical(rows: list[dict[str, Any]]) -> bytes:
    """The rows as the service writes them (serialize_record's form)."""
    return "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in rows).encode()


@pytest.mark.usefixtures("fast_only")
@pytest.mark.parametrize("which", ["demo", "big"])
def test_stored_pools_read_as_the_full_reader_reads_them(
    which: str, request: pytest.FixtureRequest, blob_of: Encode
) -> None:
    carriers = request.getfixturevalue(which)
    data = serialize_jsonl(carriers)
    got, fields = read_stored_pool(blob_of(data))
    assert got == parse_pool_file(data, "jsonl") == carriers
    assert all(type(a) is type(b) for c, d in zip(got, carriers, strict=True)
               for a, b in zip(carrier_to_dict(c).values(), carrier_to_dict(d).values(),
                               strict=True))  # fmt: skip
    assert fields is not None
    for field in FACT_FIELDS:
        assert fields[field].values() == [getattr(c, field) for c in got], field
    # repeated values are one object each, as parse_pool_file shares them
    assert len({id(c.states) for c in got}) == len({c.states for c in got})
    assert len({id(c.lines) for c in got}) == len({tuple(c.lines.items()) for c in got})
    assert len({id(s) for c in got for s in c.naics_target}) == len(
        {s for c in got for s in c.naics_target}
    )
    assert load_stored_pool(blob_of(data)) == carriers


@pytest.mark.usefixtures("fast_only")
def test_names_with_escapes_are_read_fast(rows: list[dict[str, Any]], blob_of: Encode) -> None:
    names = ["Société Générale d'Assurance", 'The "Quoted" Mutual', "Back\\slash & Co", "Tab\tCo",
             "Emoji \U0001f600 Re", "Lone \ud800 Surrogate"]  # fmt: skip
    for row, name in zip(rows, names, strict=True):
        row["name"] = name
    data = serialize_jsonl(parse_pool_file(canonical(rows), "jsonl"))
    for escape in (b"\\u00e9", b'\\"', b"\\t"):  # escaped, as stored
        assert escape in data
    assert [c.name for c in load_stored_pool(blob_of(data))] == names


def test_prepared_from_the_fields_is_the_same_pool(big: list[Carrier], blob_of: Encode) -> None:
    carriers, fields = read_stored_pool(blob_of(serialize_jsonl(big)))
    meta = PoolMeta("p", "g", len(big), dt.date(2025, 6, 30), "x")
    assert_same_pool(prepare_pool(meta, carriers, fields), prepare_pool(meta, big))


def assert_same_pool(a: PreparedPool, b: PreparedPool) -> None:
    assert a.facts == b.facts
    assert a.columns is not None
    assert b.columns is not None
    for name in a.columns.__slots__:
        x, y = getattr(a.columns, name), getattr(b.columns, name)
        if isinstance(x, np.ndarray):
            assert x.dtype == y.dtype, name
            assert np.array_equal(x, y), name
        elif isinstance(x, dict):
            assert x.keys() == y.keys(), name
            assert all(np.array_equal(x[k], y[k]) and x[k].dtype == y[k].dtype for k in x), name
        elif name == "texts":  # (PoolTexts compares by identity)
            for n in x.__slots__:
                u, v = getattr(x, n), getattr(y, n)
                same = np.array_equal(u, v) if isinstance(u, np.ndarray) else u == v
                assert same, (name, n)
        else:
            assert x == y, name


# --- anything else: the full reader's answer ---------------------------------------------------

Spoil = Callable[[list[dict[str, Any]]], bytes]


def field(name: str, value: Any) -> Spoil:
    def spoil(rows: list[dict[str, Any]]) -> bytes:
        rows[2][name] = value
        return canonical(rows)

    return spoil


def text(old: str, new: str) -> Spoil:
    """The canonical text with `old` (found in it) replaced once."""

    def spoil(rows: list[dict[str, Any]]) -> bytes:
        data = canonical(rows).decode()
        assert old in data
        return data.replace(old, new, 1).encode()

    return spoil


def rows_where(change: Callable[[list[dict[str, Any]]], None]) -> Spoil:
    def spoil(rows: list[dict[str, Any]]) -> bytes:
        change(rows)
        return canonical(rows)

    return spoil


SPOILED: dict[str, Spoil] = {
    # refused by the full reader
    "state not a state": field("states", ["CA", "XX"]),
    "states unsorted": field("states", ["TX", "CA"]),
    "states repeated": field("states", ["CA", "CA"]),
    "states not a list": field("states", "CA"),
    "states empty list kept": field("target_states", []),
    "target outside states": rows_where(lambda r: r[0].update(states=["CA"], target_states=["NY"])),
    "naics unsorted": field("naics_excluded", ["6211", "5221"]),
    "naics not digits": field("naics_target", ["54", "5a"]),
    "naics a number": field("naics_target", [54]),
    "lines empty": field("lines", {}),
    "lines out of order": field("lines", {"bop": "target", "cyber": "limited"}),
    "lines unknown": field("lines", {"eo": "target"}),
    "lines appetite": field("lines", {"bop": "keen"}),
    "lines appetite a list": field("lines", {"bop": ["target"]}),
    "lines a line twice": text('"lines":{"general_liability":"target"',
                               '"lines":{"general_liability":"limited","general_liability":"target"'),
    "a key twice": text('"status":"active",', '"status":"runoff","status":"active",'),
    "a key missing": rows_where(lambda r: r[1].pop("max_limit")),
    "a key unknown": rows_where(lambda r: r[1].update(colour="blue")),
    "keys in another order": rows_where(lambda r: r.__setitem__(1, dict(reversed(r[1].items())))),
    "integer a float": field("max_limit", 1_000_000.0),
    "integer a bool": field("min_years_in_business", True),
    "integer a string": field("max_claims_3yr", "3"),
    "integer negative": field("complaint_index_x100", -1),
    "integer null": field("rate_index", None),
    "enum unknown": field("segment", "global"),
    "enum lower case": field("domicile_state", "ca"),
    "fsc unknown": field("am_best_fsc", "XVI"),
    "name blank": field("name", "  "),
    "name empty": field("name", ""),
    "naic_code short": field("naic_code", "1234"),
    "naic_code empty": field("naic_code", ""),
    "carrier_id long": field("carrier_id", "car_000001"),
    "date invalid": field("data_as_of", "2025-02-30"),
    "date short": field("data_as_of", "2025-6-30"),
    "band order": rows_where(lambda r: r[0].update(band_min=70, band_max=60)),
    "band below min_revenue": rows_where(lambda r: r[0].update(min_revenue=10**8)),
    "fsc off scale": rows_where(lambda r: r[0].update(am_best_rating="E", am_best_fsc="VII")),
    "outlook of NR": rows_where(lambda r: r[0].update(am_best_rating="NR", am_best_fsc=None,
                                                       rating_outlook="stable")),
    "carrier_id repeated": rows_where(lambda r: r[3].update(carrier_id=r[1]["carrier_id"])),
    "name repeated": rows_where(lambda r: r[4].update(name=r[0]["name"])),
    "name repeated, escaped": lambda rows: text('"name":"Xcme', '"name":"\\u0041cme')(
        [*rows[:4], {**rows[4], "name": "Xcme Mutual"}, {**rows[5], "name": "Acme Mutual"}]
    ),
    "invalid JSON": text('"max_limit":', '"max_limit"::'),
    "NaN": text('"max_limit":', '"max_limit":NaN,"x":'),
    "not an object": lambda rows: canonical(rows) + b"[1, 2]\n",
    "invalid UTF-8": lambda rows: canonical(rows) + b'{"name": "\xff"}\n',
    "empty": lambda rows: b"",
    "blank lines only": lambda rows: b"\n \n",
    "control character": text('"name":"', '"name":"\x01'),
    # accepted by the full reader, in another form than the service writes
    "spaces": lambda rows: "".join(json.dumps(r) + "\n" for r in rows).encode(),
    "a blank line": lambda rows: canonical(rows[:2]) + b"\n  \r\n" + canonical(rows[2:]),
    "no final newline": lambda rows: canonical(rows)[:-1],
    "CRLF": lambda rows: canonical(rows).replace(b"\n", b"\r\n"),
    "a BOM": lambda rows: b"\xef\xbb\xbf" + canonical(rows),
    "not ASCII": lambda rows: canonical(rows).replace(b"Company", "Compañy".encode()),
    "an escaped enum": text('"status":"active"', '"status":"acti\\u0076e"'),
    "an escaped state": text('"states":["', '"states":["\\u0041'),
    "an integer beyond 64 bits": field("max_limit", 2**70),
    "an integer beyond 64 bits in a rule": field("max_revenue", 2**70),
    "a repeated list": rows_where(lambda r: r[1].update(states=list(r[0]["states"]))),
    "a null fsc": field("am_best_fsc", None),
    "sorted unlike the store": rows_where(lambda r: r.reverse()),
    "one record": lambda rows: canonical(rows[:1]),
}  # fmt: skip


def outcome(read: Callable[[], list[Carrier]]) -> Any:
    try:
        return read()
    except PoolImportError as exc:
        return ("PoolImportError", [str(p) for p in exc.problems], exc.total)


@pytest.mark.parametrize("name", list(SPOILED))
def test_anything_else_gets_the_full_readers_answer(
    rows: list[dict[str, Any]], name: str, blob_of: Encode
) -> None:
    data = SPOILED[name](rows)
    expected = outcome(lambda: parse_pool_file(data, "jsonl"))
    got = outcome(lambda: load_stored_pool(blob_of(data)))
    assert got == expected
    if isinstance(got, list):
        carriers, fields = read_stored_pool(blob_of(data))
        if fields is not None:  # read fast: the fields describe the carriers
            for key in FACT_FIELDS:
                assert fields[key].values() == [getattr(c, key) for c in carriers], key


def test_a_blob_that_is_not_a_zlib_stream_raises_as_before(demo: list[Carrier]) -> None:
    blob = zlib.compress(serialize_jsonl(demo[:20]), 6)
    for bad in (b"not zlib", blob[:-7], blob[: len(blob) // 2]):
        with pytest.raises(zlib.error):
            zlib.decompress(bad)
        with pytest.raises(zlib.error):
            load_stored_pool(bad)
    assert load_stored_pool(blob + b"trailing") == demo[:20]  # zlib.decompress ignores it too


# --- the packed form ----------------------------------------------------------------------------


def payload_of(blob: bytes) -> bytes:
    assert blob.startswith(stored.COLUMNS_MAGIC)
    return zlib.decompress(blob[len(stored.COLUMNS_MAGIC) :])


def packed(payload: bytes) -> bytes:
    return stored.COLUMNS_MAGIC + zlib.compress(payload)


def test_canonical_jsonl_is_packed_and_anything_else_kept_as_it_is(
    demo: list[Carrier], rows: list[dict[str, Any]]
) -> None:
    data = serialize_jsonl(demo)
    size, layout = stored._layout(payload_of(stored.pack_stored_pool(data)))
    assert size == len(demo)
    assert stored._jsonl(layout) == data  # the texts give back the very bytes
    for name in ("spaces", "a blank line", "no final newline", "invalid UTF-8", "empty"):
        data = SPOILED[name](rows)
        assert zlib.decompress(stored.pack_stored_pool(data)) == data, name


@pytest.mark.parametrize("name", [n for n in SPOILED if n not in ("empty", "blank lines only")])
def test_a_spoiled_pool_packed_gives_back_its_jsonl(rows: list[dict[str, Any]], name: str) -> None:
    """What the full reader gets for a packed pool it must judge: the JSONL that was packed
    (so its problems name the same lines)."""
    data = SPOILED[name](rows)
    blob = stored.pack_stored_pool(data)
    if blob.startswith(stored.COLUMNS_MAGIC):
        assert stored._jsonl(stored._layout(payload_of(blob))[1]) == data


def test_packed_texts_out_of_their_form_go_to_the_full_reader(demo: list[Carrier]) -> None:
    payload = payload_of(stored.pack_stored_pool(serialize_jsonl(demo[:50])))
    spoils = [
        (b'"status":"active"', b'"status" :"active'),  # a distinct text
        (b"\ncar_00002\n", b"\ncar_0000\x01\n"),  # a column of texts
        (b'"segment":"', b'"segment\xc3\xa9"'),  # not ASCII
    ]
    for old, new in spoils:
        assert old in payload
        assert len(old) == len(new)
        spoiled = payload.replace(old, new, 1)
        data = stored._jsonl(stored._layout(spoiled)[1])
        got = outcome(partial(load_stored_pool, packed(spoiled)))
        assert got == outcome(partial(parse_pool_file, data, "jsonl"))
        assert got[0] == "PoolImportError"


def test_a_damaged_packed_blob_is_refused(demo: list[Carrier]) -> None:
    payload = payload_of(stored.pack_stored_pool(serialize_jsonl(demo[:50])))
    head, _, body = payload.partition(b"\n")
    parts = json.loads(head)["parts"]
    numbers_at = len(head) + 1 + sum(n + 50 * w for n, w in parts[:4]) + parts[4][0]
    for damaged in (
        payload[:-1],  # cut short
        payload + b"\0",  # more than laid out
        b"{}\n" + body,
        b"[1]\n" + body,
        head.replace(b'"records":50', b'"records":51') + b"\n" + body,
        head.replace(b'"records":50', b'"records":0') + b"\n" + body,
        head.replace(b"0]", b"2]", 1) + b"\n" + body,  # a distinct column numbered
        payload[:numbers_at] + b"\xff\xff" + payload[numbers_at + 2 :],  # beyond its texts
        b"no header",
    ):
        with pytest.raises(PoolImportError, match="damaged"):
            load_stored_pool(packed(damaged))
    with pytest.raises(zlib.error):
        load_stored_pool(stored.COLUMNS_MAGIC + b"not zlib")
