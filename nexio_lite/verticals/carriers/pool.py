"""The deterministic synthetic carrier pool `nexio-pool-v1` (DOMAIN.md §9).

`generate_pool(n)` builds carriers 1 … n; every value is a pure function of the carrier's
index (and, for names, of the names of the carriers before it), so a larger `n` continues
the same sequence and the first 1847 carriers are always the demo pool. This module does
no I/O: it returns records and bytes; the CLI and the store write them.
"""

from __future__ import annotations

import bisect
import datetime as dt
import hashlib
import itertools
import json
from collections.abc import Iterable, Sequence
from typing import Any, Generic, TypeVar

from nexio_lite.verticals.carriers.schema import LINES, STATES, Carrier, PoolMeta

T = TypeVar("T")
_from_bytes = int.from_bytes
_bisect_right = bisect.bisect_right

# CPython's built-in SHA-256 hashes these one-block messages about 1.6x faster than the
# OpenSSL one behind hashlib (no per-call EVP set-up); the digests are identical.
try:
    from _sha256 import sha256 as _sha256  # type: ignore[import-not-found]  # CPython <= 3.11
except ImportError:  # pragma: no cover
    try:
        from _sha2 import sha256 as _sha256  # type: ignore[import-not-found,no-redef]  # CPython >= 3.12
    except ImportError:
        _sha256 = hashlib.sha256  # type: ignore[assignment]

GENERATOR = "nexio-pool-v1"
DEMO_POOL_ID = "carriers:all"
DEMO_AS_OF = dt.date(2025, 6, 30)
DEMO_SIZE = 1847
MAX_SIZE = 99_999  # carrier_id is "car_" + 5 digits (DOMAIN.md §3)

# --- tables of DOMAIN.md §9 -------------------------------------------------------------

SEGMENT_WEIGHTS: tuple[tuple[str, int], ...] = (
    ("national", 9),
    ("regional", 38),
    ("specialty", 15),
    ("program", 10),
    ("es", 22),
)

_DOMICILE_WEIGHT: dict[str, int] = {
    **dict.fromkeys(("CA", "TX", "NY", "IL", "PA"), 6),
    **dict.fromkeys(("FL", "OH"), 5),
    **dict.fromkeys(("WI", "IA", "MI", "NJ", "MA"), 4),
    **dict.fromkeys(
        ("IN", "MO", "MN", "GA", "NC", "VA", "CT", "AZ", "CO", "WA", "TN"),
        3,
    ),
    **dict.fromkeys(
        ("OK", "NE", "KS", "LA", "MD", "SC", "AL", "KY", "OR", "UT", "NH", "DE"),
        2,
    ),
}
DOMICILE_WEIGHTS: tuple[tuple[str, int], ...] = tuple(
    (s, _DOMICILE_WEIGHT.get(s, 1)) for s in STATES
)

DIVISIONS: dict[str, tuple[str, ...]] = {
    "NE": ("CT", "MA", "ME", "NH", "RI", "VT"),
    "MA": ("NJ", "NY", "PA"),
    "ENC": ("IL", "IN", "MI", "OH", "WI"),
    "WNC": ("IA", "KS", "MN", "MO", "ND", "NE", "SD"),
    "SA": ("DC", "DE", "FL", "GA", "MD", "NC", "SC", "VA", "WV"),
    "ESC": ("AL", "KY", "MS", "TN"),
    "WSC": ("AR", "LA", "OK", "TX"),
    "MTN": ("AZ", "CO", "ID", "MT", "NM", "NV", "UT", "WY"),
    "PAC": ("AK", "CA", "HI", "OR", "WA"),
}
DIVISION_OF: dict[str, str] = {s: d for d, members in DIVISIONS.items() for s in members}
_NEIGHBOURS: frozenset[frozenset[str]] = frozenset(
    frozenset(pair)
    for pair in (
        ("NE", "MA"),
        ("MA", "ENC"),
        ("MA", "SA"),
        ("ENC", "WNC"),
        ("ENC", "ESC"),
        ("ENC", "SA"),
        ("WNC", "WSC"),
        ("WNC", "MTN"),
        ("SA", "ESC"),
        ("ESC", "WSC"),
        ("WSC", "MTN"),
        ("MTN", "PAC"),
    )
)

TARGET_STATE_EXTRAS: tuple[str, ...] = ("CA", "TX", "FL", "NY", "IL", "PA", "NJ", "GA", "OH", "NC")

# Per segment: P% for each line in canonical order, and the core lines in the order written.
LINE_PCT: dict[str, tuple[int, ...]] = {
    "national": (95, 60, 50, 55, 85, 85, 95, 80, 90),
    "regional": (90, 15, 5, 15, 60, 70, 90, 85, 70),
    "specialty": (40, 90, 75, 70, 5, 5, 15, 10, 35),
    "program": (85, 70, 20, 60, 55, 20, 30, 90, 10),
    "es": (85, 60, 45, 45, 3, 25, 70, 5, 60),
}
CORE_LINES: dict[str, tuple[str, ...]] = {
    "national": ("general_liability", "property", "workers_comp"),
    "regional": ("bop", "property", "general_liability"),
    "specialty": ("professional_liability", "directors_officers", "cyber"),
    "program": ("bop", "general_liability", "professional_liability"),
    "es": ("general_liability", "property", "professional_liability"),
}

LADDER: tuple[int, ...] = (
    0, 250_000, 500_000, 1_000_000, 2_500_000, 5_000_000, 10_000_000, 15_000_000,
    25_000_000, 50_000_000, 100_000_000, 250_000_000, 500_000_000, 1_000_000_000,
    2_500_000_000, 10_000_000_000,
)  # fmt: skip
REVENUE_RANGES: dict[str, tuple[int, int, int, int]] = {
    "national": (0, 2, 12, 15),
    "regional": (0, 1, 7, 10),
    "specialty": (0, 3, 10, 14),
    "program": (0, 0, 5, 8),
    "es": (0, 4, 10, 15),
}

RATING_WEIGHTS: dict[str, tuple[tuple[str, int], ...]] = {
    "national": (("A++", 12), ("A+", 45), ("A", 33), ("A-", 8), ("B++", 2)),
    "regional": (
        ("A+", 6),
        ("A", 30),
        ("A-", 35),
        ("B++", 15),
        ("B+", 6),
        ("B", 3),
        ("B-", 1),
        ("C++", 1),
        ("NR", 3),
    ),
    "specialty": (("A++", 3), ("A+", 22), ("A", 40), ("A-", 27), ("B++", 6), ("NR", 2)),
    "program": (("A+", 10), ("A", 35), ("A-", 40), ("B++", 10), ("B+", 3), ("NR", 2)),
    "es": (
        ("A++", 2),
        ("A+", 20),
        ("A", 35),
        ("A-", 28),
        ("B++", 8),
        ("B+", 3),
        ("B", 1),
        ("E", 1),
        ("NR", 2),
    ),
}
FSC_RANGE: dict[str, tuple[int, int]] = {
    "national": (12, 15),
    "regional": (4, 10),
    "specialty": (8, 13),
    "program": (7, 11),
    "es": (7, 15),
}
_NO_FSC_RATINGS = frozenset(("NR", "E", "F", "S"))
_LOW_FSC_RATINGS = frozenset(("B+", "B", "B-", "C++"))
OUTLOOK_WEIGHTS: tuple[tuple[str, int], ...] = (
    ("stable", 80),
    ("positive", 8),
    ("negative", 9),
    ("developing", 3),
)
ROMAN: tuple[str, ...] = (
    "I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X", "XI", "XII", "XIII", "XIV", "XV",
)  # fmt: skip

LIMITS: tuple[int, ...] = (
    1_000_000,
    2_000_000,
    3_000_000,
    5_000_000,
    10_000_000,
    15_000_000,
    25_000_000,
)
LIMIT_INDEX_RANGE: dict[str, tuple[int, int]] = {
    "national": (3, 6),
    "regional": (0, 3),
    "specialty": (2, 5),
    "program": (0, 2),
    "es": (1, 6),
}
MIN_PREMIUMS: dict[str, tuple[int, ...]] = {
    "national": (750, 1000, 1500, 2500, 5000),
    "regional": (500, 750, 1000, 1500, 2500),
    "specialty": (1500, 2500, 5000, 7500, 10000),
    "program": (250, 500, 750, 1000),
    "es": (1000, 2500, 5000, 7500, 10000, 15000),
}
RATE_INDEX_RANGE: dict[str, tuple[int, int]] = {
    "national": (85, 110),
    "regional": (82, 112),
    "specialty": (82, 115),
    "program": (80, 105),
    "es": (90, 125),
}
BREADTH_WEIGHTS: dict[str, tuple[int, int, int]] = {
    "national": (40, 50, 10),
    "regional": (20, 65, 15),
    "specialty": (45, 45, 10),
    "program": (15, 70, 15),
    "es": (20, 40, 40),
}
BINDING_WEIGHTS: dict[str, tuple[int, int, int]] = {
    "national": (30, 10, 60),
    "regional": (15, 5, 80),
    "specialty": (25, 15, 60),
    "program": (80, 20, 0),
    "es": (5, 55, 40),
}
TURNAROUND_RANGE: dict[str, tuple[int, int]] = {
    "instant": (0, 1),
    "delegated": (1, 3),
    "submission": (2, 7),
}
DIRECT_ACCESS_PCT: dict[str, int] = {
    "national": 70,
    "regional": 75,
    "specialty": 55,
    "program": 60,
    "es": 15,
}

MIN_YEARS_WEIGHTS: dict[str, tuple[tuple[int, int], ...]] = {
    "surplus": ((0, 85), (1, 10), (3, 5)),
    "admitted": ((0, 55), (1, 15), (2, 10), (3, 20)),
}
MAX_LR_WEIGHTS: dict[str, tuple[tuple[int | None, int], ...]] = {
    "surplus": ((None, 45), (75, 15), (85, 15), (100, 25)),
    "admitted": ((None, 25), (50, 10), (60, 20), (65, 15), (70, 15), (75, 10), (85, 5)),
}
MAX_CLAIMS_WEIGHTS: dict[str, tuple[tuple[int | None, int], ...]] = {
    "surplus": ((None, 60), (5, 20), (10, 20)),
    "admitted": ((None, 40), (1, 5), (2, 15), (3, 20), (5, 15), (10, 5)),
}

EXCL: tuple[str, ...] = (
    "2111", "2121", "236117", "238160", "238910", "325920", "332994", "4841", "5221", "5231",
    "524210", "531110", "541110", "5413", "561612", "5613", "6211", "6231", "713110", "722410",
)  # fmt: skip
TARGET: tuple[str, ...] = (
    "5415", "5416", "5412", "5418", "6212", "6213", "4451", "7225", "8121", "5617",
    "2382", "3323", "3327", "4238", "5311", "5191", "5182", "8111", "4411", "6244",
)  # fmt: skip

CI_BUCKETS: tuple[tuple[tuple[int, int], int], ...] = (
    ((10, 50), 20),
    ((51, 100), 45),
    ((101, 200), 25),
    ((201, 400), 10),
)
AGE_BUCKETS: tuple[tuple[tuple[int, int], int], ...] = (
    ((0, 180), 70),
    ((181, 365), 20),
    ((366, 900), 10),
)

W1: tuple[str, ...] = (
    "Amber", "Aster", "Birch", "Bramble", "Cobalt", "Copper", "Cinder", "Dapple", "Ember", "Fable",
    "Flint", "Garnet", "Gossamer", "Heather", "Indigo", "Jasper", "Juniper", "Kestrel", "Lantern",
    "Linden", "Marble", "Nimbus", "Onyx", "Opal", "Pebble", "Quill", "Quartz", "Rowan", "Saffron",
    "Sorrel", "Tamarack", "Thistle", "Tundra", "Umber", "Velvet", "Wren", "Yarrow", "Zinnia",
    "Alder", "Basalt",
)  # fmt: skip
W2: tuple[str, ...] = (
    "brook", "crest", "dale", "ford", "gate", "glen", "hollow", "mere", "moor", "reach", "shore",
    "spire", "stead", "vale", "wick", "haven", "mark", "ridge", "bridge", "bank",
)  # fmt: skip
KINDS: dict[str, tuple[str, ...]] = {
    "admitted": (
        "Mutual Insurance Company",
        "Casualty Company",
        "Indemnity Company",
        "Insurance Company",
        "Assurance Company",
        "Fire & Casualty Company",
        "Property & Casualty Insurance Company",
        "General Insurance Company",
    ),
    "surplus": (
        "Specialty Insurance Company",
        "Surplus Lines Insurance Company",
        "Excess Insurance Company",
        "Specialty Underwriters Insurance Company",
    ),
}

# Distinct step-22 names per market type (6400 admitted, 3200 surplus).
NAME_CAPACITY: dict[str, int] = {
    market_type: len({f"{w1}{w2} {kind}" for w1 in W1 for w2 in W2 for kind in kinds})
    for market_type, kinds in KINDS.items()
}

# Keys of a carrier record, in DOMAIN.md §3 order (also the hash order).
CARRIER_KEYS: tuple[str, ...] = tuple(a.name for a in Carrier.__attrs_attrs__)


# --- primitives ---------------------------------------------------------------------------


class _Weighted(Generic[T]):
    """A `pick` table: values with integer weights, walked in the order given."""

    __slots__ = ("cumulative", "total", "values")

    def __init__(self, table: Iterable[tuple[T, int]]) -> None:
        entries = tuple(table)
        self.values: tuple[T, ...] = tuple(v for v, _ in entries)
        self.cumulative: tuple[int, ...] = tuple(itertools.accumulate(w for _, w in entries))
        self.total: int = self.cumulative[-1]


class _Draws:
    """The §9 primitives H, U, randint, pick and hash-order for one carrier index `i`.

    Field names are passed as ASCII bytes (b"rating"), as they are hashed.
    """

    __slots__ = ("_prefix",)

    def __init__(self, i: int) -> None:
        self._prefix = f"{GENERATOR}|{i}|".encode()

    # Each method hashes inline (no call to `h`): this is the generator's hot path.

    def h(self, f: bytes) -> int:
        """H(i, f): the first 8 bytes of the digest as an unsigned big-endian integer."""
        return _from_bytes(_sha256(self._prefix + f).digest()[:8], "big")

    def u(self, f: bytes, n: int) -> int:
        """U(i, f, n) = H mod n."""
        return _from_bytes(_sha256(self._prefix + f).digest()[:8], "big") % n

    def randint(self, f: bytes, lo: int, hi: int) -> int:
        """lo + H mod (hi - lo + 1): an integer in lo … hi inclusive."""
        return lo + _from_bytes(_sha256(self._prefix + f).digest()[:8], "big") % (hi - lo + 1)

    def pick(self, f: bytes, table: _Weighted[T]) -> T:
        """Weighted choice: r = H mod Σw, then the first entry with r < w (subtracting w).

        "First entry whose running weight sum exceeds r" is the same walk, done by bisection.
        """
        r = _from_bytes(_sha256(self._prefix + f).digest()[:8], "big") % table.total
        return table.values[_bisect_right(table.cumulative, r)]

    def hash_order(self, f: bytes, items: Iterable[str]) -> list[str]:
        """`items` sorted ascending by H(i, f + "|" + item).

        Sorts by the whole digest, whose first 8 bytes read big-endian are H: the same
        order, with a 2**-64-rare tie in H broken by the remaining bytes.
        """
        p = self._prefix + f + b"|"
        return sorted(items, key=lambda s: _sha256(p + s.encode()).digest())


# The pick tables above, ready for `_Draws.pick`.
_SEGMENT = _Weighted(SEGMENT_WEIGHTS)
_DOMICILE = _Weighted(DOMICILE_WEIGHTS)
_RATING = {segment: _Weighted(t) for segment, t in RATING_WEIGHTS.items()}
_OUTLOOK = _Weighted(OUTLOOK_WEIGHTS)
_BREADTH = {
    segment: _Weighted(zip(("broad", "standard", "restricted"), w, strict=True))
    for segment, w in BREADTH_WEIGHTS.items()
}
_BINDING = {
    segment: _Weighted(zip(("instant", "delegated", "submission"), w, strict=True))
    for segment, w in BINDING_WEIGHTS.items()
}
_MIN_YEARS = {market_type: _Weighted(t) for market_type, t in MIN_YEARS_WEIGHTS.items()}
_MAX_LR = {market_type: _Weighted(t) for market_type, t in MAX_LR_WEIGHTS.items()}
_MAX_CLAIMS = {market_type: _Weighted(t) for market_type, t in MAX_CLAIMS_WEIGHTS.items()}
_CI_BUCKETS = _Weighted(CI_BUCKETS)
_AGE_BUCKETS = _Weighted(AGE_BUCKETS)


def _division_distance(a: str, b: str) -> int:
    """0 for the same Census division, 1 for neighbours, 2 otherwise."""
    if a == b:
        return 0
    return 1 if frozenset((a, b)) in _NEIGHBOURS else 2


# For each division: the states at distance 0, 1 and 2 from it, alphabetical.
_STATES_BY_DISTANCE: dict[str, tuple[tuple[str, ...], ...]] = {
    div: tuple(
        tuple(s for s in STATES if _division_distance(div, DIVISION_OF[s]) == d) for d in (0, 1, 2)
    )
    for div in DIVISIONS
}


def _roman(n: int) -> str:
    """Standard (subtractive) roman numeral for 1 … 15."""
    return ROMAN[n - 1]


# --- steps --------------------------------------------------------------------------------


def _states(r: _Draws, segment: str, home: str) -> tuple[str, ...]:
    """Step 4: the sorted states where the carrier writes (always includes `home`)."""
    if segment in ("national", "es"):
        return STATES
    if segment == "regional":
        k = r.randint(b"n_states", 1, 14)
        # Sorting by (distance, H) is taking whole distance groups in turn, each in
        # hash-order; only the groups that are reached need hashing.
        chosen: list[str] = []
        for group in _STATES_BY_DISTANCE[DIVISION_OF[home]]:
            if len(chosen) >= k - 1:
                break
            others_here = [s for s in group if s != home]
            chosen.extend(r.hash_order(b"state", others_here)[: k - 1 - len(chosen)])
    else:
        lo = 25 if segment == "program" else 15
        k = r.randint(b"n_states", lo, 51)
        others = [s for s in STATES if s != home]
        chosen = others if k == 51 else r.hash_order(b"state", others)[: k - 1]
    return tuple(sorted([home, *chosen]))


def _target_states(r: _Draws, home: str, states: tuple[str, ...]) -> tuple[str, ...]:
    """Step 5: home-division states the carrier writes, plus up to m big states."""
    in_states = set(states)
    target = [s for s in DIVISIONS[DIVISION_OF[home]] if s in in_states]
    m = r.randint(b"n_target_extra", 0, 6)
    if m:
        extras = [s for s in TARGET_STATE_EXTRAS if s in in_states and s not in target]
        target.extend(r.hash_order(b"tstate", extras)[:m])
    return tuple(sorted(target))


# Per segment, for each line in canonical order: (line, field "line|<line>",
# field "lineapp|<line>", P%, target threshold t).
_LINE_PLAN: dict[str, tuple[tuple[str, bytes, bytes, int, int], ...]] = {
    segment: tuple(
        (
            line,
            f"line|{line}".encode(),
            f"lineapp|{line}".encode(),
            pct,
            60 if line in CORE_LINES[segment] else 30,
        )
        for line, pct in zip(LINES, LINE_PCT[segment], strict=True)
    )
    for segment in LINE_PCT
}


def _lines(r: _Draws, segment: str) -> dict[str, str]:
    """Step 6: line -> appetite in canonical line order; never empty."""
    lines: dict[str, str] = {}
    for line, written_f, appetite_f, pct, t in _LINE_PLAN[segment]:
        if r.u(written_f, 100) < pct:
            u = r.u(appetite_f, 100)
            lines[line] = "target" if u < t else "standard" if u < 88 else "limited"
    if not lines:
        lines[CORE_LINES[segment][0]] = "target"
    return lines


def _revenue(r: _Draws, segment: str) -> tuple[int, int, int, int]:
    """Step 7: (min_revenue, max_revenue, band_min, band_max)."""
    a, b, c, d = REVENUE_RANGES[segment]
    mi = r.randint(b"rev_min", a, b)
    ma = r.randint(b"rev_max", c, d)
    bj = r.randint(b"band_lo", max(mi, 1), ma - 1)
    bw = r.randint(b"band_w", 1, 3)
    return LADDER[mi], LADDER[ma], LADDER[bj], LADDER[min(bj + bw, ma)]


def _rating(r: _Draws, segment: str) -> tuple[str, str | None, str | None]:
    """Step 8: (am_best_rating, am_best_fsc, rating_outlook)."""
    rating = r.pick(b"rating", _RATING[segment])
    fsc: str | None = None
    if rating not in _NO_FSC_RATINGS:
        lo, hi = FSC_RANGE[segment]
        if rating in _LOW_FSC_RATINGS:
            lo, hi = max(1, lo - 3), max(lo, hi - 4)
        n = r.randint(b"fsc", lo, hi)
        fsc = None if r.u(b"fsc_null", 100) < 2 else _roman(n)
    outlook = None if rating == "NR" else r.pick(b"outlook", _OUTLOOK)
    return rating, fsc, outlook


def _placement(r: _Draws, segment: str) -> tuple[str, int | None, str]:
    """Steps 13–15: (binding_authority, quote_turnaround_days, access)."""
    binding = r.pick(b"binding", _BINDING[segment])
    tat: int | None = r.randint(b"tat", *TURNAROUND_RANGE[binding])
    if r.u(b"tat_null", 100) < 3:
        tat = None
    access = "direct" if r.u(b"access", 100) < DIRECT_ACCESS_PCT[segment] else "wholesale"
    return binding, tat, access


def _max_employees(r: _Draws, segment: str) -> int | None:
    """Step 16, last part."""
    if segment == "program":
        return (50, 100, 250, 500)[r.u(b"max_emp", 4)]
    if segment == "regional":
        if r.u(b"max_emp_null", 100) < 50:
            return None
        return (250, 500, 1000)[r.u(b"max_emp", 3)]
    if r.u(b"max_emp_null", 100) < 90:
        return None
    return (500, 1000)[r.u(b"max_emp", 2)]


def _naics_lists(r: _Draws, market_type: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Steps 17–18: (naics_target, naics_excluded), each sorted."""
    n_excl = r.randint(b"n_excl", 0, 6 if market_type == "admitted" else 3)
    excluded = sorted(r.hash_order(b"excl", EXCL)[:n_excl]) if n_excl else []
    n_target = r.randint(b"n_target_naics", 0, 5)
    target = sorted(r.hash_order(b"tnaics", TARGET)[:n_target]) if n_target else []
    return tuple(target), tuple(excluded)


def _complaint_index(r: _Draws, market_type: str) -> int | None:
    """Step 19: NAIC complaint index × 100, or None."""
    if (market_type == "surplus" and r.u(b"ci_null", 100) < 15) or r.u(b"ci_null2", 100) < 3:
        return None
    lo, hi = r.pick(b"ci_bucket", _CI_BUCKETS)
    return r.randint(b"ci", lo, hi)


def _data_as_of(r: _Draws) -> dt.date:
    """Step 20: the demo as_of minus an age in days."""
    lo, hi = r.pick(b"age_bucket", _AGE_BUCKETS)
    return DEMO_AS_OF - dt.timedelta(days=r.randint(b"age", lo, hi))


def _naic_code(r: _Draws, i: int) -> str | None:
    """Step 21: a synthetic (never real) 5-digit NAIC code, or None."""
    if r.u(b"naic_null", 100) < 5:
        return None
    return f"{10000 + (i * 7919) % 89990:05d}"


def _candidate_name(r: _Draws, market_type: str, suffix: bytes) -> str:
    """W1 + W2 + " " + KIND drawn with the fields "name1", "name2", "kind" + `suffix`."""
    kinds = KINDS[market_type]
    return (
        W1[r.u(b"name1" + suffix, len(W1))]
        + W2[r.u(b"name2" + suffix, len(W2))]
        + " "
        + kinds[r.u(b"kind" + suffix, len(kinds))]
    )


class _NameBook:
    """The names given so far, per market type (step 22 retries until a name is free).

    Step 22 has only NAME_CAPACITY[market_type] distinct names (6400 admitted, 3200
    surplus), so from about carrier 8200 on its retry loop would never end. Once every name
    of a market type is taken, and only then, a carrier gets its first candidate name
    followed by " No. {i}", which is unique (no step-22 name holds a digit). Every pool
    for which §9 terminates, including the demo pool, is therefore exactly §9.
    """

    __slots__ = ("_taken", "_used")

    def __init__(self) -> None:
        self._used: set[str] = set()
        self._taken: dict[str, int] = dict.fromkeys(KINDS, 0)

    def take(self, r: _Draws, i: int, market_type: str) -> str:
        """A name not given before to carrier `i`; remembers it."""
        if self._taken[market_type] >= NAME_CAPACITY[market_type]:
            name = f"{_candidate_name(r, market_type, b'')} No. {i}"
        else:
            name = _candidate_name(r, market_type, b"")
            k = 0
            while name in self._used:
                k += 1
                name = _candidate_name(r, market_type, b"|%d" % k)
            self._taken[market_type] += 1
        self._used.add(name)
        return name


def _carrier(i: int, names: _NameBook) -> Carrier:
    """Carrier number `i` (1-based); its name is taken from `names`."""
    r = _Draws(i)
    segment = r.pick(b"archetype", _SEGMENT)
    market_type = "surplus" if segment == "es" else "admitted"
    status = "runoff" if r.u(b"status", 100) < 2 else "active"
    home = r.pick(b"domicile", _DOMICILE)
    states = _states(r, segment, home)
    target_states = _target_states(r, home, states)
    lines = _lines(r, segment)
    min_rev, max_rev, band_min, band_max = _revenue(r, segment)
    rating, fsc, outlook = _rating(r, segment)
    max_limit = LIMITS[r.randint(b"max_limit", *LIMIT_INDEX_RANGE[segment])]
    premiums = MIN_PREMIUMS[segment]
    min_premium = premiums[r.u(b"min_premium", len(premiums))]
    rate_index = r.randint(b"rate_index", *RATE_INDEX_RANGE[segment])
    breadth = r.pick(b"breadth", _BREADTH[segment])
    binding, tat, access = _placement(r, segment)
    min_years = r.pick(b"min_years", _MIN_YEARS[market_type])
    max_lr = r.pick(b"max_lr", _MAX_LR[market_type])
    max_claims = r.pick(b"max_claims", _MAX_CLAIMS[market_type])
    max_employees = _max_employees(r, segment)
    naics_target, naics_excluded = _naics_lists(r, market_type)
    complaint = _complaint_index(r, market_type)
    data_as_of = _data_as_of(r)
    naic_code = _naic_code(r, i)
    name = names.take(r, i, market_type)
    return Carrier(
        carrier_id=f"car_{i:05d}",
        name=name,
        naic_code=naic_code,
        segment=segment,
        status=status,
        market_type=market_type,
        domicile_state=home,
        states=states,
        target_states=target_states,
        lines=lines,
        naics_target=naics_target,
        naics_excluded=naics_excluded,
        min_revenue=min_rev,
        max_revenue=max_rev,
        band_min=band_min,
        band_max=band_max,
        min_years_in_business=min_years,
        max_loss_ratio_pct=max_lr,
        max_claims_3yr=max_claims,
        max_employees=max_employees,
        max_limit=max_limit,
        coverage_breadth=breadth,
        am_best_rating=rating,
        am_best_fsc=fsc,
        rating_outlook=outlook,
        min_premium=min_premium,
        rate_index=rate_index,
        binding_authority=binding,
        quote_turnaround_days=tat,
        access=access,
        complaint_index_x100=complaint,
        data_as_of=data_as_of,
    )


# --- public API -----------------------------------------------------------------------------


def generate_pool(size: int = DEMO_SIZE) -> list[Carrier]:
    """Carriers 1 … `size` of `nexio-pool-v1`, in index order.

    Deterministic; `generate_pool(n)[:m] == generate_pool(m)` for every m ≤ n, so the first
    1847 carriers of any larger pool are the demo pool. Raises ValueError unless
    1 <= size <= MAX_SIZE (99,999: `carrier_id` is `car_` + 5 digits). From 89,990 on the
    synthetic NAIC codes repeat (§9 step 21); past about 8,200 carriers names need the
    fallback of `_NameBook`.
    """
    if size < 1:
        raise ValueError("size must be at least 1")
    if not 1 <= size <= MAX_SIZE:
        raise ValueError(f"size must be between 1 and {MAX_SIZE}")
    names = _NameBook()
    return [_carrier(i, names) for i in range(1, size + 1)]


def carrier_to_dict(c: Carrier) -> dict[str, Any]:
    """The record as plain JSON values, keys in §3 order.

    Tuples become lists, `lines` a dict in canonical line order, `data_as_of` "YYYY-MM-DD".
    """
    return {
        "carrier_id": c.carrier_id,
        "name": c.name,
        "naic_code": c.naic_code,
        "segment": c.segment,
        "status": c.status,
        "market_type": c.market_type,
        "domicile_state": c.domicile_state,
        "states": list(c.states),
        "target_states": list(c.target_states),
        "lines": {line: c.lines[line] for line in LINES if line in c.lines},
        "naics_target": list(c.naics_target),
        "naics_excluded": list(c.naics_excluded),
        "min_revenue": c.min_revenue,
        "max_revenue": c.max_revenue,
        "band_min": c.band_min,
        "band_max": c.band_max,
        "min_years_in_business": c.min_years_in_business,
        "max_loss_ratio_pct": c.max_loss_ratio_pct,
        "max_claims_3yr": c.max_claims_3yr,
        "max_employees": c.max_employees,
        "max_limit": c.max_limit,
        "coverage_breadth": c.coverage_breadth,
        "am_best_rating": c.am_best_rating,
        "am_best_fsc": c.am_best_fsc,
        "rating_outlook": c.rating_outlook,
        "min_premium": c.min_premium,
        "rate_index": c.rate_index,
        "binding_authority": c.binding_authority,
        "quote_turnaround_days": c.quote_turnaround_days,
        "access": c.access,
        "complaint_index_x100": c.complaint_index_x100,
        "data_as_of": c.data_as_of.isoformat(),
    }


# What `json.dumps(value, separators=(",", ":"), ensure_ascii=True)` uses, made once:
# `json.dumps` builds a new encoder per call whenever an option is not the default.
_RECORD_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=True)


def serialize_record(c: Carrier) -> str:
    """One carrier as its canonical JSONL line, without the trailing newline."""
    return _RECORD_ENCODER.encode(carrier_to_dict(c))


def serialize_jsonl(carriers: Iterable[Carrier]) -> bytes:
    """The canonical JSONL file (the bytes that are hashed, DOMAIN.md §9).

    Keys in §3 order, compact separators, ASCII-only with `\\uXXXX` escapes, no HTML
    escaping, and "\\n" after every record (so an empty pool is b"").
    """
    return "".join(serialize_record(c) + "\n" for c in carriers).encode("ascii")


def pool_sha256(carriers: Iterable[Carrier]) -> str:
    """Lower-case hex SHA-256 of `serialize_jsonl(carriers)`."""
    return hashlib.sha256(serialize_jsonl(carriers)).hexdigest()


def demo_pool_meta(carriers: Sequence[Carrier]) -> PoolMeta:
    """The metadata of a generated pool: `carriers:all`, `nexio-pool-v1`, as_of 2025-06-30."""
    return PoolMeta(
        pool_id=DEMO_POOL_ID,
        generator=GENERATOR,
        size=len(carriers),
        as_of=DEMO_AS_OF,
        sha256=pool_sha256(carriers),
    )
