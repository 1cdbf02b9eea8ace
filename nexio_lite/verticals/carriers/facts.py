"""Per-carrier static facts and the rule constants of `ci-rules-v1` (DOMAIN.md §4–6).

A `CarrierFacts` holds everything about one carrier that does not depend on the
profile: it is computed once per pool version and then read by the filter, scoring,
ranking and reasoning code. All numbers are integers; state sets are bit masks
(`STATE_BITS`). Each fact is a function of a few carrier fields (`FACT_RULES`):
`build_facts` applies them to one carrier, and `build_pool_facts` to a whole pool a
fact at a time, once per distinct combination of the fields' values (for a
99,999-carrier pool: a few thousand clause texts, not one per carrier): 0.5 s for the
pool `read_stored_pool` gives with its field columns, where carrier by carrier took 1 s.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from functools import partial
from itertools import starmap
from operator import attrgetter, is_, is_not, lt
from typing import Any, TypeVar

import attrs
import numpy as np

from nexio_lite.verticals.carriers.bulk import frozen_instances
from nexio_lite.verticals.carriers.reasoning import (
    am_best_clause,
    format_band,
    middle_clauses,
    placement_clause,
    service_clause,
    tail_clauses,
)
from nexio_lite.verticals.carriers.schema import AM_BEST_SCALE, STATES, Carrier

T = TypeVar("T")

# --- constants (DOMAIN.md §5–6); the trace's `constants` header is built from these ---
LINE_APPETITE_POINTS: dict[str, int] = {"target": 2, "standard": 1, "limited": 0}
BREADTH_POINTS: dict[str, int] = {"broad": 2, "standard": 1, "restricted": 0}
BINDING_POINTS: dict[str, int] = {"instant": 2, "delegated": 1, "submission": 0}
ACCESS_POINTS: dict[str, int] = {"direct": 1, "wholesale": 0}
# (highest FSC numeral that is penalised); FSC null is penalised too.
FSC_PENALTY_MAX = 6
PENALISED_OUTLOOKS: frozenset[str] = frozenset({"negative", "developing"})
# Rating rank: index on the A++ … D scale; anything off the scale ranks below all of it.
RATING_RANK: dict[str, int] = {r: i for i, r in enumerate(AM_BEST_SCALE)}
OFF_SCALE_RANK = 99
# Financial base level: A++/A+ -> 1, A/A- -> 2, B++ -> 3, anything lower -> 4.
FINANCIAL_BASE: dict[str, int] = {"A++": 1, "A+": 1, "A": 2, "A-": 2, "B++": 3}
# Service level by complaint index x100: (upper bound inclusive, level); above all -> L4.
SERVICE_THRESHOLDS: tuple[tuple[int, int], ...] = ((50, 1), (100, 2), (200, 3))
SERVICE_NULL_LEVEL = 3
# Turnaround points: (upper bound inclusive in days, points); above -> 0; null -> 0.
TURNAROUND_POINTS: tuple[tuple[int, int], ...] = ((2, 2), (5, 1))
# lvl(points; a, b, c) thresholds of the points-based dimensions.
POINT_LEVELS: tuple[int, int, int] = (4, 3, 2)
# Completeness: the nullable fields counted, in this order.
COMPLETENESS_FIELDS: tuple[str, ...] = (
    "complaint_index_x100",
    "am_best_fsc",
    "quote_turnaround_days",
    "naic_code",
)

# name_rank occupies the low bits of the ranking tail key (pools of up to 2^24 carriers).
NAME_RANK_BITS = 24

# Bits of the restrictions a missing profile field leaves `unverified` (F07 … F12).
BIT_F07, BIT_F08, BIT_F09, BIT_F10, BIT_F11, BIT_F12 = 1, 2, 4, 8, 16, 32

# One bit per state, in STATES order: a set of states is the OR of its members' bits.
STATE_BITS: dict[str, int] = {state: 1 << i for i, state in enumerate(STATES)}

_ROMAN = {"I": 1, "V": 5, "X": 10, "L": 50, "C": 100}


def state_mask(states: Iterable[str]) -> int:
    """The bit mask of a set of state codes (KeyError for a code that is not a state)."""
    mask = 0
    for state in states:
        mask |= STATE_BITS[state]
    return mask


class Shared:
    """A memo that hands out one instance per key, so that equal values built for many
    carriers (line points, clause strings, null-field tuples, dates) are stored once.

    Guarantee: `get(key, make)` returns `make()`'s value the first time a key is seen and
    that same object afterwards; it never calls `make` twice for one key."""

    __slots__ = ("_memo",)

    def __init__(self) -> None:
        self._memo: dict[Hashable, Any] = {}

    def get(self, key: Hashable, make: Callable[[], T]) -> T:
        try:
            return self._memo[key]  # type: ignore[no-any-return]
        except KeyError:
            value = self._memo[key] = make()
            return value


def roman_to_int(numeral: str) -> int:
    """Value of a standard (subtractive) roman numeral such as "XI" or "IV"."""
    total = 0
    prev = 0
    for ch in reversed(numeral):
        value = _ROMAN[ch]
        if value < prev:
            total -= value
        else:
            total += value
            prev = value
    return total


def lvl(points: int, a: int, b: int, c: int) -> int:
    """DOMAIN.md §5 shorthand: 1 if points >= a, 2 if >= b, 3 if >= c, otherwise 4."""
    if points >= a:
        return 1
    if points >= b:
        return 2
    if points >= c:
        return 3
    return 4


def turnaround_points(days: int | None) -> int:
    """+2 for a quote within 2 days, +1 within 5, 0 otherwise or when unknown."""
    if days is None:
        return 0
    for bound, points in TURNAROUND_POINTS:
        if days <= bound:
            return points
    return 0


def service_level(ci_x100: int | None) -> int:
    """Service level from the complaint index x100 (null -> L3)."""
    if ci_x100 is None:
        return SERVICE_NULL_LEVEL
    for bound, level in SERVICE_THRESHOLDS:
        if ci_x100 <= bound:
            return level
    return 4


def financial_parts(c: Carrier) -> tuple[int, int, int]:
    """(base, fsc_penalty, outlook_penalty) of the financial dimension."""
    return _financial_parts(c.am_best_rating, c.am_best_fsc, c.rating_outlook)


def _financial_parts(rating: str, fsc: str | None, outlook: str | None) -> tuple[int, int, int]:
    base = FINANCIAL_BASE.get(rating, 4)
    fsc_penalty = 1 if fsc is None or roman_to_int(fsc) <= FSC_PENALTY_MAX else 0
    outlook_penalty = 1 if outlook in PENALISED_OUTLOOKS else 0
    return base, fsc_penalty, outlook_penalty


def placement_points(c: Carrier) -> int:
    """Binding authority + turnaround + access points (0 … 5)."""
    return _placement_points(c.binding_authority, c.quote_turnaround_days, c.access)


def _placement_points(binding: str, turnaround: int | None, access: str) -> int:
    return BINDING_POINTS[binding] + turnaround_points(turnaround) + ACCESS_POINTS[access]


def null_fields(c: Carrier) -> tuple[str, ...]:
    """The completeness fields that are null, in COMPLETENESS_FIELDS order."""
    return _null_fields(*(getattr(c, name) is None for name in COMPLETENESS_FIELDS))


def _null_fields(*nulls: bool) -> tuple[str, ...]:
    """The COMPLETENESS_FIELDS whose flag in `nulls` (one per field, in order) is set."""
    return tuple(name for name, null in zip(COMPLETENESS_FIELDS, nulls, strict=True) if null)


def completeness_points(nulls: int) -> int:
    """0 nulls -> 2, 1 -> 1, 2 or more -> 0."""
    return 2 if nulls == 0 else 1 if nulls == 1 else 0


def restriction_bits(c: Carrier) -> int:
    """Bits of F07–F12 restrictions the carrier has (F12 always: every carrier has max_limit)."""
    return _restriction_bits(
        bool(c.naics_excluded),
        c.min_years_in_business > 0,
        c.max_loss_ratio_pct is not None,
        c.max_claims_3yr is not None,
        c.max_employees is not None,
    )


def _restriction_bits(
    excluded: bool, min_years: bool, max_lr: bool, max_claims: bool, max_employees: bool
) -> int:
    """The bits of the restrictions whose flag is set (F12's always is)."""
    bits = BIT_F12
    if excluded:
        bits |= BIT_F07
    if min_years:
        bits |= BIT_F08
    if max_lr:
        bits |= BIT_F09
    if max_claims:
        bits |= BIT_F10
    if max_employees:
        bits |= BIT_F11
    return bits


@attrs.frozen(slots=True)
class CarrierFacts:
    """Profile-independent facts of one carrier, derived from `carrier` alone.

    Guarantees: `financial_level`, `placement_base_level` and `service_level` are the
    DOMAIN.md §5 levels before any profile-dependent adjustment; `name_rank` orders
    carriers by (name, carrier_id) code point; clause strings are the exact §6 texts.
    """

    index: int
    carrier: Carrier
    carrier_id: str
    name: str
    active: bool
    line_points: dict[str, int]  # shared between carriers with the same lines: never mutate
    state_bits: int  # state_mask(carrier.states)
    target_bits: int  # state_mask(carrier.target_states)
    surplus: bool
    rating_rank: int
    naics_excluded: tuple[str, ...]
    naics_target: tuple[str, ...]
    min_revenue: int
    max_revenue: int
    band_min: int
    band_max: int
    min_years: int
    max_lr_bp: int | None
    max_claims: int | None
    max_employees: int | None
    max_limit: int
    breadth_points: int
    financial_level: int
    min_premium: int
    rate_index: int
    placement_points: int
    placement_base_level: int
    turnaround: int | None
    service_level: int
    data_ord: int
    null_fields: tuple[str, ...]
    completeness_points: int
    restrict_bits: int
    name_rank: int
    middle_clauses: str
    tail_clauses: str


# --- deriving the facts ---------------------------------------------------------------------


def _is_active(status: str) -> bool:
    return status == "active"


def _is_surplus(market_type: str) -> bool:
    return market_type == "surplus"


def _rating_rank(rating: str) -> int:
    return RATING_RANK.get(rating, OFF_SCALE_RANK)


def _lr_bp(pct: int | None) -> int | None:
    return None if pct is None else pct * 100


def _breadth_points(breadth: str) -> int:
    return BREADTH_POINTS[breadth]


def _financial_level(rating: str, fsc: str | None, outlook: str | None) -> int:
    return min(4, sum(_financial_parts(rating, fsc, outlook)))


def _placement_base_level(binding: str, turnaround: int | None, access: str) -> int:
    return lvl(_placement_points(binding, turnaround, access), *POINT_LEVELS)


def _completeness_points(*nulls: bool) -> int:
    return completeness_points(sum(nulls))


def _line_points(lines: dict[str, str]) -> dict[str, int]:
    return {line: LINE_APPETITE_POINTS[app] for line, app in lines.items()}


def _data_ord(value: dt.date | str) -> int:
    return _as_date(value).toordinal()


def _middle_clauses(
    band_min: int, band_max: int, rating: str, fsc: str | None, outlook: str | None
) -> str:
    return middle_clauses(format_band(band_min, band_max), am_best_clause(rating, fsc, outlook))


def _tail_clauses(
    binding: str, turnaround: int | None, access: str, market_type: str, ci: int | None
) -> str:
    return tail_clauses(
        placement_clause(binding, turnaround, access, market_type),
        service_clause(service_level(ci), ci),
    )


def _as_date(value: dt.date | str) -> dt.date:
    """Accept a date or its ISO text (pools may carry either)."""
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(value)


_PLACEMENT = ("binding_authority", "quote_turnaround_days", "access")
_RATING = ("am_best_rating", "am_best_fsc", "rating_outlook")
_RESTRICTIONS = ("naics_excluded", "min_years_in_business", "max_loss_ratio_pct",
                 "max_claims_3yr", "max_employees")  # fmt: skip
_NULL = partial(is_, None)  # value -> value is None
_SET = partial(is_not, None)  # value -> value is not None
_POSITIVE = partial(lt, 0)  # value -> value > 0

# Every fact of a carrier but its `index`, `carrier` and `name_rank`: (the fact, the
# carrier fields it is a function of, that function, and None or one view per field,
# which the function is given instead of the field's value). No function (None): the one
# field's value as is. `build_facts` applies them to one carrier, `build_pool_facts` to a
# whole pool, once per distinct combination of the arguments.
FACT_RULES: tuple[
    tuple[str, tuple[str, ...], Callable[..., Any] | None, tuple[Callable[[Any], Any], ...] | None],
    ...,
] = (
    ("carrier_id", ("carrier_id",), None, None),
    ("name", ("name",), None, None),
    ("active", ("status",), _is_active, None),
    ("line_points", ("lines",), _line_points, None),
    ("state_bits", ("states",), state_mask, None),
    ("target_bits", ("target_states",), state_mask, None),
    ("surplus", ("market_type",), _is_surplus, None),
    ("rating_rank", ("am_best_rating",), _rating_rank, None),
    ("naics_excluded", ("naics_excluded",), tuple, None),
    ("naics_target", ("naics_target",), tuple, None),
    ("min_revenue", ("min_revenue",), None, None),
    ("max_revenue", ("max_revenue",), None, None),
    ("band_min", ("band_min",), None, None),
    ("band_max", ("band_max",), None, None),
    ("min_years", ("min_years_in_business",), None, None),
    ("max_lr_bp", ("max_loss_ratio_pct",), _lr_bp, None),
    ("max_claims", ("max_claims_3yr",), None, None),
    ("max_employees", ("max_employees",), None, None),
    ("max_limit", ("max_limit",), None, None),
    ("breadth_points", ("coverage_breadth",), _breadth_points, None),
    ("financial_level", _RATING, _financial_level, None),
    ("min_premium", ("min_premium",), None, None),
    ("rate_index", ("rate_index",), None, None),
    ("placement_points", _PLACEMENT, _placement_points, None),
    ("placement_base_level", _PLACEMENT, _placement_base_level, None),
    ("turnaround", ("quote_turnaround_days",), None, None),
    ("service_level", ("complaint_index_x100",), service_level, None),
    ("data_ord", ("data_as_of",), _data_ord, None),
    ("null_fields", COMPLETENESS_FIELDS, _null_fields, (_NULL,) * 4),
    ("completeness_points", COMPLETENESS_FIELDS, _completeness_points, (_NULL,) * 4),
    ("restrict_bits", _RESTRICTIONS, _restriction_bits, (bool, _POSITIVE, _SET, _SET, _SET)),
    ("middle_clauses", ("band_min", "band_max", *_RATING), _middle_clauses, None),
    ("tail_clauses", (*_PLACEMENT, "market_type", "complaint_index_x100"), _tail_clauses, None),
)


def _derive(memo: dict[Hashable, Any], fact: str, rule: Callable[..., Any], args: Any) -> Any:
    """`rule(*args)`, the one instance per fact and distinct `args` (by type and value) that
    `memo` keeps; unshared when an argument cannot be a key."""
    key = (fact, *[(type(a), tuple(a.items()) if type(a) is dict else a) for a in args])
    try:
        found = memo.get(key, memo)
    except TypeError:  # e.g. a list (a Carrier made by hand)
        return rule(*args)
    if found is memo:
        found = memo[key] = rule(*args)
    return found


def build_facts(
    index: int, c: Carrier, name_rank: int, shared: Shared | None = None
) -> CarrierFacts:
    """Derive the static facts of carrier `c` (its position `index` in the pool).

    With `shared`, values that many carriers have in common are taken from (and added
    to) that memo; the facts are equal either way. `build_pool_facts` gives a pool's."""
    memo = (shared or Shared())._memo
    values: dict[str, Any] = {"index": index, "carrier": c, "name_rank": name_rank}
    for fact, fields, rule, views in FACT_RULES:
        args = [getattr(c, field) for field in fields]
        if views is not None:
            args = [view(arg) for view, arg in zip(views, args, strict=True)]
        values[fact] = args[0] if rule is None else _derive(memo, fact, rule, args)
    return CarrierFacts(**values)


@attrs.frozen(slots=True, eq=False)
class FieldColumn:
    """One field of a pool's carriers, in pool order: `distinct` values, and per carrier
    the position in `distinct` of its value (`codes`). Distinct by identity, at least:
    equal values may be listed more than once."""

    codes: list[int]
    distinct: list[Any]

    def values(self) -> list[Any]:
        """Per carrier, its value."""
        return list(map(self.distinct.__getitem__, self.codes))

    def permuted(self, order: Sequence[int]) -> FieldColumn:
        """The column of the carriers in `order` (positions in this column's order)."""
        return FieldColumn(list(map(self.codes.__getitem__, order)), self.distinct)


FACT_FIELDS = frozenset(field for _, names, _, _ in FACT_RULES for field in names)


def field_columns(carriers: Sequence[Carrier]) -> dict[str, FieldColumn]:
    """The columns of `carriers`' fields that FACT_RULES read, each distinct by identity
    (a pool read by `parse_pool_file` holds one object per distinct value, so a rule then
    runs once per distinct value; `read_stored_pool` gives them with its carriers)."""
    columns = {}
    for field in FACT_FIELDS:
        values = list(map(attrgetter(field), carriers))
        ids = list(map(id, values))
        firsts = dict(zip(ids, values, strict=True))
        position = {key: n for n, key in enumerate(firsts)}
        columns[field] = FieldColumn(list(map(position.__getitem__, ids)), list(firsts.values()))
    return columns


def _compact(column: FieldColumn) -> FieldColumn:
    """The column with each distinct object listed once (not so in a column given by
    `read_stored_pool`, whose values of the fields read together are listed per text)."""
    firsts = {id(v): v for v in reversed(column.distinct)}  # id -> the object, in any order
    if len(firsts) == len(column.distinct):
        return column
    position = {key: n for n, key in enumerate(firsts)}
    remap = [position[id(v)] for v in column.distinct]
    return FieldColumn(list(map(remap.__getitem__, column.codes)), list(firsts.values()))


def _viewed(column: FieldColumn, view: Callable[[Any], Any]) -> FieldColumn:
    """The column of `view(value)` (distinct by value: a view gives bools)."""
    seen: dict[Any, int] = {}
    codes = [seen.setdefault(v, len(seen)) for v in map(view, column.distinct)]
    return FieldColumn(list(map(codes.__getitem__, column.codes)), list(seen))


def _combinations(columns: list[FieldColumn]) -> FieldColumn:
    """The column of the carriers' combinations of the values of `columns` (tuples)."""
    key = np.zeros(len(columns[0].codes), dtype=np.int64)
    span = 1
    for column in columns:
        size = len(column.distinct)
        if span * size >= 1 << 62:  # renumber the combinations so far: 0 … k−1
            key = np.unique(key, return_inverse=True)[1].reshape(-1)
            span = int(key.max()) + 1
        key = key * size + np.array(column.codes, dtype=np.int64)
        span *= size
    _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    combinations = [tuple(c.distinct[c.codes[i]] for c in columns) for i in first.tolist()]
    return FieldColumn(inverse.reshape(-1).tolist(), combinations)


def build_pool_facts(
    carriers: Sequence[Carrier],
    name_ranks: Sequence[int],
    fields: Mapping[str, FieldColumn] | None = None,
) -> tuple[tuple[CarrierFacts, ...], dict[str, list[Any]]]:
    """`tuple(build_facts(i, c, name_ranks[i], shared) for i, c in enumerate(carriers))`
    with one `shared` memo, and the same facts as columns (fact name -> values in pool
    order). `fields`: the carriers' `field_columns` (made here when None).

    Made a fact at a time: each rule runs once per distinct combination of its arguments
    (the distinct objects its fields hold, or their views' values), and the facts are
    made by `frozen_instances`. (A result is shared by the carriers with the same
    arguments, not by all with equal ones: the same, in a pool that `parse_pool_file` or
    `read_stored_pool` read, as they share equal values.)"""
    size = len(carriers)
    if fields is None:
        fields = field_columns(carriers)
    columns: dict[str, list[Any]] = {
        "index": list(range(size)),
        "carrier": list(carriers),
        "name_rank": list(name_ranks),
    }
    arguments: dict[tuple[str, Any], FieldColumn] = {}
    combined: dict[tuple[tuple[str, Any], ...], FieldColumn] = {}
    for fact, names, rule, views in FACT_RULES:
        if rule is None:
            columns[fact] = fields[names[0]].values()
            continue
        args = tuple(zip(names, views or (None,) * len(names), strict=True))
        for name, view in args:
            if (name, view) not in arguments:
                column = _compact(fields[name])
                arguments[name, view] = column if view is None else _viewed(column, view)
        if len(args) == 1:
            column = arguments[args[0]]
            derived = list(map(rule, column.distinct))
        else:
            if args not in combined:
                combined[args] = _combinations([arguments[arg] for arg in args])
            column = combined[args]
            derived = list(starmap(rule, column.distinct))
        columns[fact] = list(map(derived.__getitem__, column.codes))
    facts = tuple(frozen_instances(CarrierFacts, size, columns))
    return facts, columns
