"""The pool as columns (one NumPy array per carrier attribute) and `evaluate`'s fast path.

Why: on a 99,999-carrier pool the per-carrier Python loop (a rule call per carrier, a
`Scored` tuple per passing carrier, a two-pass sort of those tuples) cost 1.7 µs per
carrier, growing with the pool as the objects it touches fall out of the CPU caches.
Here the F01–F12 filter, the six levels, the confidence and the §6 sort key are
computed for all the carriers of a request at once, on int64 arrays in pool order,
and the candidates returned are written straight to their JSON (`render_json`), from
pieces made once per pool, per level combination and per request: no Python object
per candidate (a dict per candidate, then `orjson.dumps`, was most of the time left).

Exactness: every step is the integer rule of DOMAIN.md §4–6 written on arrays (no
float anywhere; `ceil_div` is `(a + b − 1) // b` on non-negative integers). The
columns are built only for pools whose values keep every intermediate result far
inside int64 (`build_columns` returns None otherwise), and `fast_path_fits` checks
the profile side; outside those bounds `evaluate` runs the per-carrier path, whose
results are the same. The tests compare both paths on many profiles.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from itertools import chain
from operator import attrgetter
from typing import Any

import attrs
import numpy as np
import numpy.typing as npt
import orjson

from nexio_lite.verticals.carriers.context import ProfileContext
from nexio_lite.verticals.carriers.facts import NAME_RANK_BITS, CarrierFacts
from nexio_lite.verticals.carriers.ranking import (
    CONFIDENCE,
    FRESH_DAYS,
    LEVEL_INFO,
    POINTS_LEVEL,
    STALE_DAYS,
    TIERS,
    VERIFICATION,
    confidence,
)
from nexio_lite.verticals.carriers.reasoning import BAND_PREFIX, PREMIUM_SUFFIX, appetite_heads
from nexio_lite.verticals.carriers.rules import RULE_CODES
from nexio_lite.verticals.carriers.schema import LINES

Ints = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]
Objects = npt.NDArray[np.object_]

# Bounds that keep every intermediate value inside int64 (see the module docstring):
# market ≤ 2^27 (the API's largest is 105,000,000), rate_index ≤ 2^17 and
# min_premium < 2^38 keep premium < 2^38, so (premium << 24) | name_rank < 2^62.
MAX_MARKET = 1 << 27
MAX_RATE_INDEX = 1 << 17
MAX_MIN_PREMIUM = (1 << 38) - 1
MAX_LIMIT_VALUE = 1 << 40  # requested_limit (the API allows 100,000,000)
MAX_VALUE = (1 << 62) - 1  # any other integer, on either side
NONE = MAX_VALUE  # a null limit: never exceeded; a null turnaround: never reached

# Band position codes; BAND_NAMES[code] is `Scored.band`'s value.
BAND_IN, BAND_BELOW, BAND_ABOVE = 0, 1, 2
BAND_NAMES: tuple[str, ...] = ("in", "below", "above")

# Per combination of six levels (`ranking.level_index`): the §6 sort prefix and the tier.
_ORDER = np.array([info.order for info in LEVEL_INFO], dtype=np.int64)
_TIER = np.array([info.tier for info in LEVEL_INFO], dtype=np.int64)
_POINTS_LEVEL = np.array(POINTS_LEVEL, dtype=np.int64)
_VERIFICATION_BY_BITS = np.array(
    [VERIFICATION[bits.bit_count()] for bits in range(64)], dtype=np.int64
)
# Confidence total (0 … 6) -> index in CONFIDENCE (HIGH, MEDIUM, LOW).
_CONFIDENCE_CODE = np.array(
    [CONFIDENCE.index(confidence(total)) for total in range(7)], dtype=np.int64
)


@attrs.frozen(slots=True, eq=False)
class PoolColumns:
    """The facts of a prepared pool as arrays in pool order (index = `CarrierFacts.index`).

    Nullable limits hold `NONE` for null; `line_points[line]` is −1 where the carrier
    does not write the line or is not active (F01 and F02 at once); `naics_excluded` and
    `naics_target` map a prefix to the (ascending) indices of the carriers listing it."""

    size: int
    line_points: dict[str, npt.NDArray[np.int8]]
    state_bits: Ints
    target_bits: Ints
    surplus: Bools
    rating_rank: Ints
    min_revenue: Ints
    max_revenue: Ints
    band_min: Ints
    band_max: Ints
    min_years: Ints
    max_lr_bp: Ints
    max_claims: Ints
    max_employees: Ints
    max_limit: Ints
    breadth_points: Ints
    financial_level: Ints
    min_premium: Ints
    rate_index: Ints
    placement_base_level: Ints
    turnaround: Ints
    service_level: Ints
    data_ord: Ints
    completeness_points: Ints
    restrict_bits: Ints
    name_rank: Ints
    texts: PoolTexts
    naics_excluded: dict[str, npt.NDArray[np.intp]]
    naics_target: dict[str, npt.NDArray[np.intp]]
    inactive: int

    def early(self, line: str, state_bit: int) -> tuple[npt.NDArray[np.intp], int, int, int]:
        """(indices passing F01–F03 in pool order, F01, F02 and F03 counts)."""
        points = self.line_points[line]
        writers = points >= 0
        kept = np.flatnonzero(writers & ((self.state_bits & state_bit) != 0))
        n_writers = int(np.count_nonzero(writers))
        return kept, self.inactive, self.size - self.inactive - n_writers, n_writers - len(kept)


def _ints(values: Sequence[Any]) -> Ints:
    return np.array(values, dtype=np.int64)


def _objects(values: Sequence[Any]) -> Objects:
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def _prefix_index(lists: Sequence[tuple[str, ...]]) -> dict[str, npt.NDArray[np.intp]]:
    """prefix -> the (ascending) indices of the lists holding it. A pool's lists are
    shared between carriers: each distinct list (by identity) is read once."""
    codes: dict[str, int] = {}  # prefix -> its code
    encoded: dict[int, list[int]] = {}  # id of a list -> the codes of its prefixes
    for prefixes in {id(p): p for p in lists}.values():
        encoded[id(prefixes)] = [codes.setdefault(p, len(codes)) for p in prefixes]
    per_list = list(map(encoded.__getitem__, map(id, lists)))
    flat = np.fromiter(chain.from_iterable(per_list), dtype=np.intp)
    owners = np.repeat(np.arange(len(lists), dtype=np.intp), list(map(len, per_list)))
    order = np.argsort(flat, kind="stable")  # by prefix, then by index
    bounds = np.searchsorted(flat[order], np.arange(len(codes) + 1))
    members = owners[order]
    return {p: members[bounds[c] : bounds[c + 1]] for p, c in codes.items()}


def _line_points_rows(
    line_points: Sequence[dict[str, int]], active: Sequence[bool]
) -> dict[str, npt.NDArray[np.int8]]:
    """line -> per carrier its points, −1 where it does not write the line or is not
    active. A pool's line_points dicts are shared: each distinct one is read once."""
    index = {line: n for n, line in enumerate(LINES)}
    rows: list[list[int]] = [[-1] * len(LINES)]  # row 0: inactive
    code: dict[int, int] = {}
    for points in {id(p): p for p in line_points}.values():
        row = [-1] * len(LINES)
        for line, value in points.items():
            row[index[line]] = value
        code[id(points)] = len(rows)
        rows.append(row)
    table = np.array(rows, dtype=np.int8)
    picked = np.array(list(map(code.__getitem__, map(id, line_points))), dtype=np.intp)
    picked[~np.array(active, dtype=np.bool_)] = 0
    matrix = table[picked]
    return {line: np.ascontiguousarray(matrix[:, n]) for line, n in index.items()}


_INT_FACTS = (
    "state_bits", "target_bits", "rating_rank", "min_revenue", "max_revenue", "band_min",
    "band_max", "min_years", "max_lr_bp", "max_claims", "max_employees", "max_limit",
    "breadth_points", "financial_level", "min_premium", "rate_index", "placement_base_level",
    "turnaround", "service_level", "data_ord", "completeness_points", "restrict_bits",
    "name_rank",
)  # fmt: skip
_NULLABLE_FACTS = frozenset(("max_lr_bp", "max_claims", "max_employees", "turnaround"))
_COLUMN_FACTS = (
    *_INT_FACTS, "active", "surplus", "line_points", "naics_excluded", "naics_target",
    "carrier_id", "name", "middle_clauses", "tail_clauses",
)  # fmt: skip


def build_columns(
    facts: Sequence[CarrierFacts], values: Mapping[str, Sequence[Any]] | None = None
) -> PoolColumns | None:
    """The columns of `facts` (in pool order), or None when a value is outside the
    bounds that keep the fast path exact (the module docstring). `values`, when given,
    holds the same facts as lists (fact name -> values in pool order: `build_pool_facts`
    makes them), read instead of `facts`."""
    size = len(facts)
    if values is None:
        values = {name: list(map(attrgetter(name), facts)) for name in _COLUMN_FACTS}
    try:
        ints = {
            name: _ints(
                [NONE if v is None else v for v in values[name]]
                if name in _NULLABLE_FACTS
                else values[name]
            )
            for name in _INT_FACTS
        }
    except OverflowError:  # a value beyond int64
        return None
    if size and (
        any(int(a.max()) > MAX_VALUE or int(a.min()) < 0 for a in ints.values())
        or int(ints["rate_index"].max()) > MAX_RATE_INDEX
        or int(ints["min_premium"].max()) > MAX_MIN_PREMIUM
    ):
        return None
    active = values["active"]
    return PoolColumns(
        size=size,
        line_points=_line_points_rows(values["line_points"], active),
        surplus=np.array(values["surplus"], dtype=np.bool_),
        texts=build_texts(values),
        naics_excluded=_prefix_index(values["naics_excluded"]),
        naics_target=_prefix_index(values["naics_target"]),
        inactive=size - sum(map(bool, active)),
        **ints,
    )


def fast_path_fits(ctx: ProfileContext) -> bool:
    """True when the profile's values are inside the fast path's bounds (always so for
    a profile the API accepted) and its line is one of the nine."""
    return (
        ctx.line in LINES
        and 0 < ctx.market <= MAX_MARKET
        and 0 < ctx.requested_limit <= MAX_LIMIT_VALUE
        and all(
            v is None or 0 <= v <= MAX_VALUE
            for v in (ctx.revenue, ctx.years, ctx.lr_bp, ctx.claims, ctx.employees)
        )
        and abs(ctx.as_of_ord) <= MAX_VALUE
    )


def _prefix_hits(
    index: dict[str, npt.NDArray[np.intp]], prefixes: frozenset[str], size: int
) -> Bools:
    """Per carrier: lists one of `prefixes` (the profile NAICS starts with it)."""
    hits = np.zeros(size, dtype=np.bool_)
    for prefix in prefixes:
        members = index.get(prefix)
        if members is not None:
            hits[members] = True
    return hits


@attrs.frozen(slots=True, eq=False)
class Ranked:
    """The passing carriers of one request, scored (arrays of equal length, in pool
    order from `score_columns`, in rank order from `rank_columns`)."""

    index: npt.NDArray[np.intp]  # pool index
    levels: Ints  # `ranking.level_index` of the six levels
    band: Ints  # BAND_IN / BAND_BELOW / BAND_ABOVE
    premium: Ints
    suffix: Ints  # index in PREMIUM_SUFFIX: 2 × pricing level + min_premium_applies
    confidence: Ints  # index in CONFIDENCE


def filter_columns(
    cols: PoolColumns, ctx: ProfileContext
) -> tuple[npt.NDArray[np.intp], dict[str, int]]:
    """(pool indices of the carriers passing F01–F12 in pool order, primary_reason_counts
    with all 12 codes in order). The first failing rule counts, as in `first_failure`."""
    kept, f01, f02, f03 = cols.early(ctx.line, ctx.state_bit)
    counts = [f01, f02, f03]
    fails: list[Bools | None] = []
    # F04 … F12, each None when it cannot fail for this profile (as `can_fail` says).
    fails.append(cols.surplus.take(kept) if ctx.admitted_only else None)
    fails.append(cols.rating_rank.take(kept) > ctx.min_rank)
    revenue = ctx.revenue
    fails.append((cols.min_revenue.take(kept) > revenue) | (cols.max_revenue.take(kept) < revenue))
    if ctx.naics is not None and cols.naics_excluded:
        excluded = _prefix_hits(cols.naics_excluded, ctx.naics_prefixes, cols.size).take(kept)
        fails.append(excluded)
    else:
        fails.append(None)
    fails.append(None if ctx.years is None else cols.min_years.take(kept) > ctx.years)
    fails.append(None if ctx.lr_bp is None else cols.max_lr_bp.take(kept) < ctx.lr_bp)
    fails.append(None if ctx.claims is None else cols.max_claims.take(kept) < ctx.claims)
    fails.append(None if ctx.employees is None else cols.max_employees.take(kept) < ctx.employees)
    fails.append(cols.max_limit.take(kept) < ctx.requested_limit)
    remaining = np.ones(len(kept), dtype=np.bool_)
    for failed in fails:
        if failed is None:
            counts.append(0)
            continue
        first = failed & remaining
        counts.append(int(np.count_nonzero(first)))
        remaining &= ~failed
    return kept[remaining], dict(zip(RULE_CODES, counts, strict=True))


def score_columns(cols: PoolColumns, ctx: ProfileContext, passed: npt.NDArray[np.intp]) -> Ranked:
    """Levels, band, premium and confidence of the passing carriers (`passed`, in pool
    order): the values `ranking.score_carrier` gives."""
    revenue = ctx.revenue
    below = cols.band_min.take(passed) > revenue
    above = cols.band_max.take(passed) < revenue
    band = below.astype(np.int64) + 2 * above
    app = cols.line_points[ctx.line].take(passed).astype(np.int64)
    app += (cols.target_bits.take(passed) & ctx.state_bit) != 0
    app += band == BAND_IN
    if ctx.naics is not None and cols.naics_target:
        app += _prefix_hits(cols.naics_target, ctx.naics_prefixes, cols.size).take(passed)
    limit = ctx.requested_limit
    max_limit = cols.max_limit.take(passed)
    cov = cols.breadth_points.take(passed) + (max_limit >= 5 * limit) + (max_limit >= 2 * limit)
    market = ctx.market
    rated = (cols.rate_index.take(passed) * market + 99) // 100
    min_premium = cols.min_premium.take(passed)
    premium = np.maximum(min_premium, rated)
    ratio = (premium * 100 + (market - 1)) // market
    price = 1 + (ratio > 90) + (ratio > 100) + (ratio > 115)
    place = cols.placement_base_level.take(passed)
    if ctx.effective_ord is not None:
        lead = ctx.effective_ord - ctx.as_of_ord
        place = place + ((lead < cols.turnaround.take(passed)) & (place < 4))
    levels = (
        (_POINTS_LEVEL.take(app) - 1) * 1024
        + (_POINTS_LEVEL.take(cov) - 1) * 256
        + (cols.financial_level.take(passed) - 1) * 64
        + (price - 1) * 16
        + (place - 1) * 4
        + (cols.service_level.take(passed) - 1)
    )
    age = ctx.as_of_ord - cols.data_ord.take(passed)
    fresh = (age <= FRESH_DAYS).astype(np.int64) + (age <= STALE_DAYS)
    verification = _VERIFICATION_BY_BITS.take(cols.restrict_bits.take(passed) & ctx.absent_bits)
    conf = _CONFIDENCE_CODE.take(fresh + cols.completeness_points.take(passed) + verification)
    return Ranked(
        index=passed,
        levels=levels,
        band=band,
        premium=premium,
        suffix=2 * price + (min_premium > rated),
        confidence=conf,
    )


def rank_columns(cols: PoolColumns, scored: Ranked) -> Ranked:
    """`scored` (pool order) sorted by the §6 key, as `ranking.rank` sorts: (tier, −fit,
    appetite, financial) is `order`; then premium, then name_rank (name, then
    carrier_id). Two sorts: by the tail (unique per carrier, so any sort is stable),
    then a stable one by `order`."""
    tail = (scored.premium << NAME_RANK_BITS) | cols.name_rank.take(scored.index)
    by_tail = np.argsort(tail)
    order = _ORDER.take(scored.levels).astype(np.int16)  # < 2^14: a radix sort
    perm = by_tail.take(np.argsort(order.take(by_tail), kind="stable"))
    return Ranked(*(getattr(scored, a.name).take(perm) for a in attrs.fields(Ranked)))


def rank_counts(ranked: Ranked) -> tuple[dict[str, int], dict[str, int]]:
    """(tier_counts, confidence_counts), every value listed (zeros included)."""
    tiers = np.bincount(_TIER[ranked.levels], minlength=len(TIERS)).tolist()
    confidences = np.bincount(ranked.confidence, minlength=len(CONFIDENCE)).tolist()
    return dict(zip(TIERS[1:], tiers[1:], strict=True)), dict(
        zip(CONFIDENCE, confidences, strict=True)
    )


def _json_text(text: str) -> bytes:
    """`text` as orjson writes it inside a JSON string, without the quotes. JSON escapes
    character by character, so the pieces of a string escape to the pieces of its text."""
    return orjson.dumps(text)[1:-1]


def _level_texts() -> tuple[bytes, ...]:
    """Per (levels, confidence) at 3 × `ranking.level_index` + confidence code: the JSON
    from the tier's value to the opening quote of the reasoning."""
    return tuple(
        b"".join((
            info.tier_name.encode(), b'","confidence":"', name.encode(), b'","fit_score":',
            str(info.fit_score).encode(), b',"scores":', orjson.dumps(info.scores),
            b',"reasoning":"',
        ))
        for info in LEVEL_INFO
        for name in CONFIDENCE
    )  # fmt: skip


_LEVEL_TEXTS = _objects(_level_texts())


@attrs.frozen(slots=True, eq=False)
class PoolTexts:
    """Per carrier (pool order), the JSON of its parts of a candidate (`render_json`).

    `ids`, distinct per carrier, is a fixed-width bytes array ('S', NUL-padded; every
    text ends with `"`, so NumPy's stripping of trailing NULs gives it back exactly)
    unless one text is much longer than the rest (then bytes objects, which
    `render_json` takes the same way): a request picks its candidates' texts in rank
    order, scattered across the pool, and a NumPy gather of array rows reaches them
    several times faster than bytes objects spread over the heap (`render_json`). The
    clause texts are shared (about 6,500 distinct of each kind at 99,999 carriers): a
    carrier holds the index of its texts, which gathers faster than a pool-sized array
    of references (5 % of render there)."""

    ranks: tuple[bytes, ...]  # `,{"rank":N` for N = 1 … size
    ids: npt.NDArray[Any]  # `,"carrier_id":"…","name":"…","tier":"`
    middles: Objects  # each distinct middle clauses text, escaped
    middle_of: npt.NDArray[np.int32]  # per carrier, its text's index in `middles`
    tails: Objects  # each distinct tail clauses text, escaped, then `"}`
    tail_of: npt.NDArray[np.int32]


# `ids` stays an object array when its fixed width would take more than this many times
# the texts' own bytes (one very long name among short ones).
MAX_ID_PADDING = 3


def _id_texts(texts: list[bytes]) -> npt.NDArray[Any]:
    width = max(map(len, texts), default=1)
    if width * len(texts) > MAX_ID_PADDING * sum(map(len, texts)):
        return _objects(texts)
    return np.array(texts, dtype=f"S{width}")


def _distinct(
    texts: Sequence[str], escape: Callable[[str], bytes]
) -> tuple[Objects, npt.NDArray[np.int32]]:
    """(each distinct text escaped once, in first-seen order; per text its index there)."""
    index: dict[str, int] = {}
    codes = np.fromiter(
        (index.setdefault(t, len(index)) for t in texts), dtype=np.int32, count=len(texts)
    )
    return _objects([escape(t) for t in index]), codes


def build_texts(values: Mapping[str, Sequence[Any]]) -> PoolTexts:
    """The JSON pieces of a pool's candidates, from its facts as columns (fact name ->
    values in pool order); clause texts are shared by many carriers, each distinct one
    is escaped once."""
    dumps = orjson.dumps
    ids = zip(map(dumps, values["carrier_id"]), map(dumps, values["name"]), strict=True)
    middles, middle_of = _distinct(values["middle_clauses"], _json_text)
    tails, tail_of = _distinct(values["tail_clauses"], lambda t: _json_text(t) + b'"}')
    return PoolTexts(
        ranks=tuple(map(b',{"rank":%d'.__mod__, range(1, len(values["carrier_id"]) + 1))),
        ids=_id_texts(list(map(b',"carrier_id":%s,"name":%s,"tier":"'.__mod__, ids))),
        middles=middles,
        middle_of=middle_of,
        tails=tails,
        tail_of=tail_of,
    )


def _premium_texts(premium: Ints, suffix: Ints) -> list[bytes]:
    """`{premium:,}{PREMIUM_SUFFIX[suffix]}` per candidate, each distinct text formatted
    once (a request's candidates share a few dozen premiums: most sit at a minimum)."""
    width = len(PREMIUM_SUFFIX)
    distinct, inverse = np.unique(premium * width + suffix, return_inverse=True)
    texts = _objects(
        [_json_text(f"{key // width:,}{PREMIUM_SUFFIX[key % width]}") for key in distinct.tolist()]
    )
    return texts.take(inverse.reshape(-1)).tolist()  # type: ignore[no-any-return]


# Candidates per block of `render_json` (1,024 and 2,048 measured the same at 99,999
# carriers; 512 and 8,192 10 % slower).
BLOCK = 2048


def render_json(texts: PoolTexts, ctx: ProfileContext, ranked: Ranked, limit: int | None) -> bytes:
    """The JSON (UTF-8, as `orjson.dumps` writes it) of the first `limit` candidates (all
    when None) in the API shape of `evaluate.render_candidates`, key order included:
    `[{"rank":1,"carrier_id":…,"name":…,"tier":…,"confidence":…,"fit_score":…,
    "scores":{…},"reasoning":…},…]`. It is assembled from pieces made per pool, per
    level combination and per request: no dict per candidate, one bytes object (its
    `ids` text) at most.

    Why this layout (measured on the seed profile; 99,999 carriers give 31,325
    candidates and 13.8 MB of JSON, the demo pool 578): rendering cost 550 ns per
    candidate there against 190 on the demo pool, nearly all of it waiting on memory.
    One `b"".join` of all 219,000 pieces went three times over 31,000 bytes objects
    scattered across the heap (sizes, copy, release) with an 80-byte buffer record per
    piece (17.5 MB) in between, and `itemgetter` had touched each once before. Now the
    carriers' own texts come from a NumPy gather of `ids` rows (a tight loop, many
    cache misses in flight at once: the largest gain), the shared clause texts from
    arrays of the distinct ones (a third less than `itemgetter`), every gather with
    `ndarray.take` (its loop is simpler than fancy indexing's: 7 % of render), and the
    pieces are joined `BLOCK` candidates at a time, then the blocks: the id objects and
    buffers of one block are reused by the next (made for a whole request at once, they
    cost hundreds of page faults per evaluation). About 290 ns per candidate."""
    if limit is not None:
        ranked = Ranked(*(getattr(ranked, a.name)[:limit] for a in attrs.fields(Ranked)))
    index, levels = ranked.index, ranked.levels
    n = len(index)
    if not n:
        return b"[]"
    heads = appetite_heads(ctx.state, ctx.line)
    # the reasoning's opening, by 3 × appetite level + band code
    openings = _objects(
        [
            _json_text(heads[level] + BAND_PREFIX[band])
            for level in range(len(heads))
            for band in BAND_NAMES
        ]
    )
    level_texts = _LEVEL_TEXTS.take(3 * levels + ranked.confidence).tolist()
    opening_texts = openings.take(3 * (levels // 1024 + 1) + ranked.band).tolist()
    premium_texts = _premium_texts(ranked.premium, ranked.suffix)
    ranks, ids, middles, tails = texts.ranks, texts.ids, texts.middles, texts.tails
    middle_of, tail_of = texts.middle_of, texts.tail_of
    join = b"".join
    blocks = []
    for start in range(0, n, BLOCK):
        stop = min(start + BLOCK, n)
        picked = index[start:stop]
        pieces: list[bytes] = [b""] * (7 * (stop - start))
        pieces[0::7] = ranks[start:stop]
        pieces[1::7] = ids.take(picked).tolist()
        pieces[2::7] = level_texts[start:stop]
        pieces[3::7] = opening_texts[start:stop]
        pieces[4::7] = middles.take(middle_of.take(picked)).tolist()
        pieces[5::7] = premium_texts[start:stop]
        pieces[6::7] = tails.take(tail_of.take(picked)).tolist()
        if start == 0:
            pieces[0] = b"[" + pieces[0][1:]  # no comma before the first candidate
        if stop == n:
            pieces[-1] += b"]"
        blocks.append(join(pieces))
    return blocks[0] if len(blocks) == 1 else join(blocks)
