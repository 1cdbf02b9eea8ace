"""Per-carrier static facts and the rule constants of `ci-rules-v1` (DOMAIN.md §4–6).

A `CarrierFacts` holds everything about one carrier that does not depend on the
profile: it is computed once per pool version by `build_facts` and then read by the
filter, scoring, ranking and reasoning code. All numbers are integers; state sets are
bit masks (`STATE_BITS`). A `Shared` memo hands the facts of a whole pool one instance
of each repeated value (clauses, line points, dates), so a 99,999-carrier pool holds
each such value once instead of once per carrier.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Hashable, Iterable
from typing import Any, TypeVar

import attrs

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
    base = FINANCIAL_BASE.get(c.am_best_rating, 4)
    fsc = c.am_best_fsc
    fsc_penalty = 1 if fsc is None or roman_to_int(fsc) <= FSC_PENALTY_MAX else 0
    outlook_penalty = 1 if c.rating_outlook in PENALISED_OUTLOOKS else 0
    return base, fsc_penalty, outlook_penalty


def placement_points(c: Carrier) -> int:
    """Binding authority + turnaround + access points (0 … 5)."""
    return (
        BINDING_POINTS[c.binding_authority]
        + turnaround_points(c.quote_turnaround_days)
        + ACCESS_POINTS[c.access]
    )


def null_fields(c: Carrier) -> tuple[str, ...]:
    """The completeness fields that are null, in COMPLETENESS_FIELDS order."""
    return tuple(name for name in COMPLETENESS_FIELDS if getattr(c, name) is None)


def completeness_points(nulls: int) -> int:
    """0 nulls -> 2, 1 -> 1, 2 or more -> 0."""
    return 2 if nulls == 0 else 1 if nulls == 1 else 0


def restriction_bits(c: Carrier) -> int:
    """Bits of F07–F12 restrictions the carrier has (F12 always: every carrier has max_limit)."""
    bits = BIT_F12
    if c.naics_excluded:
        bits |= BIT_F07
    if c.min_years_in_business > 0:
        bits |= BIT_F08
    if c.max_loss_ratio_pct is not None:
        bits |= BIT_F09
    if c.max_claims_3yr is not None:
        bits |= BIT_F10
    if c.max_employees is not None:
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


def build_facts(
    index: int, c: Carrier, name_rank: int, shared: Shared | None = None
) -> CarrierFacts:
    """Derive the static facts of carrier `c` (its position `index` in the pool).

    With `shared`, values that many carriers have in common are taken from (and added
    to) that memo; the facts are equal either way. (The memo is read directly here,
    `Shared.get` without its closures: this runs once per carrier of a pool.)"""
    memo = (shared or Shared())._memo
    base, fsc_penalty, outlook_penalty = financial_parts(c)
    points = placement_points(c)
    ci = c.complaint_index_x100
    lr_pct = c.max_loss_ratio_pct
    turnaround = c.quote_turnaround_days
    null_key = ("nulls", ci is None, c.am_best_fsc is None, turnaround is None,
                c.naic_code is None)  # COMPLETENESS_FIELDS order  # fmt: skip
    nulls = memo.get(null_key)
    if nulls is None:
        nulls = memo[null_key] = null_fields(c)
    lines_key = ("lines", *c.lines.items())
    line_points = memo.get(lines_key)
    if line_points is None:
        line_points = memo[lines_key] = _line_points(c)
    states_key = ("states", c.states)
    state_bits = memo.get(states_key)
    if state_bits is None:
        state_bits = memo[states_key] = state_mask(c.states)
    target_key = ("states", c.target_states)
    target_bits = memo.get(target_key)
    if target_bits is None:
        target_bits = memo[target_key] = state_mask(c.target_states)
    if lr_pct is None:
        max_lr_bp = None
    else:
        max_lr_bp = memo.get(("lr_bp", lr_pct))
        if max_lr_bp is None:
            max_lr_bp = memo["lr_bp", lr_pct] = lr_pct * 100
    date_key = ("date", c.data_as_of)
    data_ord = memo.get(date_key)
    if data_ord is None:
        data_ord = memo[date_key] = _as_date(c.data_as_of).toordinal()
    middle_key = ("middle", c.band_min, c.band_max, c.am_best_rating, c.am_best_fsc,
                  c.rating_outlook)  # fmt: skip
    middle = memo.get(middle_key)
    if middle is None:
        middle = memo[middle_key] = middle_clauses(
            format_band(c.band_min, c.band_max),
            am_best_clause(c.am_best_rating, c.am_best_fsc, c.rating_outlook),
        )
    tail_key = ("tail", c.binding_authority, turnaround, c.access, c.market_type, ci)
    tail = memo.get(tail_key)
    if tail is None:
        tail = memo[tail_key] = tail_clauses(
            placement_clause(c.binding_authority, turnaround, c.access, c.market_type),
            service_clause(service_level(ci), ci),
        )
    return CarrierFacts(
        index=index,
        carrier=c,
        carrier_id=c.carrier_id,
        name=c.name,
        active=c.status == "active",
        line_points=line_points,
        state_bits=state_bits,
        target_bits=target_bits,
        surplus=c.market_type == "surplus",
        rating_rank=RATING_RANK.get(c.am_best_rating, OFF_SCALE_RANK),
        naics_excluded=tuple(c.naics_excluded),
        naics_target=tuple(c.naics_target),
        min_revenue=c.min_revenue,
        max_revenue=c.max_revenue,
        band_min=c.band_min,
        band_max=c.band_max,
        min_years=c.min_years_in_business,
        max_lr_bp=max_lr_bp,
        max_claims=c.max_claims_3yr,
        max_employees=c.max_employees,
        max_limit=c.max_limit,
        breadth_points=BREADTH_POINTS[c.coverage_breadth],
        financial_level=min(4, base + fsc_penalty + outlook_penalty),
        min_premium=c.min_premium,
        rate_index=c.rate_index,
        placement_points=points,
        placement_base_level=lvl(points, *POINT_LEVELS),
        turnaround=turnaround,
        service_level=service_level(ci),
        data_ord=data_ord,
        null_fields=nulls,
        completeness_points=completeness_points(len(nulls)),
        restrict_bits=restriction_bits(c),
        name_rank=name_rank,
        middle_clauses=middle,
        tail_clauses=tail,
    )


def _line_points(c: Carrier) -> dict[str, int]:
    return {line: LINE_APPETITE_POINTS[app] for line, app in c.lines.items()}


def _as_date(value: dt.date | str) -> dt.date:
    """Accept a date or its ISO text (pools may carry either)."""
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(value)
