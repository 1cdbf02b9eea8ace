"""The twelve eligibility rules F01–F12 (DOMAIN.md §4), shared by `evaluate` and the trace.

Each `FilterRule` has a `fails` predicate, the bit that makes it `unverified` when the
profile side is missing and the carrier has a restriction, the `inputs` shown in the
trace (both sides of the comparison), and `can_fail`, a profile-only test that is
False only when `fails` is False for every carrier (so evaluate may skip the rule).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs

from nexio_lite.verticals.carriers.context import ProfileContext
from nexio_lite.verticals.carriers.facts import (
    BIT_F07,
    BIT_F08,
    BIT_F09,
    BIT_F10,
    BIT_F11,
    BIT_F12,
    STATE_BITS,
    CarrierFacts,
)
from nexio_lite.verticals.carriers.schema import Carrier

PASS, UNVERIFIED, FAIL = "pass", "unverified", "fail"


def carrier_inactive(f: CarrierFacts) -> bool:
    """F01: status is not active."""
    return not f.active


def line_not_written(line: str, f: CarrierFacts) -> bool:
    """F02: the line is not a key of the carrier's lines."""
    return line not in f.line_points


def state_not_available(state: str, f: CarrierFacts) -> bool:
    """F03: the state is not in the carrier's states."""
    return not f.state_bits & STATE_BITS.get(state, 0)


def _above(value: int | None, limit: int | None) -> bool:
    """value > limit when both are known; a missing side never fails."""
    return value is not None and limit is not None and value > limit


def _f04(ctx: ProfileContext, f: CarrierFacts) -> bool:
    return ctx.admitted_only and f.surplus


def _f05(ctx: ProfileContext, f: CarrierFacts) -> bool:
    return f.rating_rank > ctx.min_rank


def _f06(ctx: ProfileContext, f: CarrierFacts) -> bool:
    return ctx.revenue < f.min_revenue or ctx.revenue > f.max_revenue


def _f07(ctx: ProfileContext, f: CarrierFacts) -> bool:
    return ctx.naics is not None and not ctx.naics_prefixes.isdisjoint(f.naics_excluded)


def _f08(ctx: ProfileContext, f: CarrierFacts) -> bool:
    return ctx.years is not None and ctx.years < f.min_years


def _f09(ctx: ProfileContext, f: CarrierFacts) -> bool:
    return _above(ctx.lr_bp, f.max_lr_bp)


def _f10(ctx: ProfileContext, f: CarrierFacts) -> bool:
    return _above(ctx.claims, f.max_claims)


def _f11(ctx: ProfileContext, f: CarrierFacts) -> bool:
    return _above(ctx.employees, f.max_employees)


def _f12(ctx: ProfileContext, f: CarrierFacts) -> bool:
    return ctx.requested_limit > f.max_limit


def _always(_ctx: ProfileContext) -> bool:
    return True


@attrs.frozen(slots=True)
class FilterRule:
    """One eligibility rule; see the module docstring for the guarantees."""

    code: str
    fails: Callable[[ProfileContext, CarrierFacts], bool]
    inputs: Callable[[ProfileContext, CarrierFacts], dict[str, Any]]
    unverified_bit: int = 0
    can_fail: Callable[[ProfileContext], bool] = _always


def _c(f: CarrierFacts) -> Carrier:
    return f.carrier


FILTER_RULES: tuple[FilterRule, ...] = (
    FilterRule(
        "F01_CARRIER_NOT_ACTIVE",
        lambda ctx, f: carrier_inactive(f),
        lambda ctx, f: {"status": _c(f).status},
    ),
    FilterRule(
        "F02_LINE_NOT_WRITTEN",
        lambda ctx, f: line_not_written(ctx.line, f),
        lambda ctx, f: {"line": ctx.line, "lines": list(_c(f).lines)},
    ),
    FilterRule(
        "F03_STATE_NOT_AVAILABLE",
        lambda ctx, f: state_not_available(ctx.state, f),
        lambda ctx, f: {"state": ctx.state, "states": list(_c(f).states)},
    ),
    FilterRule(
        "F04_NOT_ADMITTED",
        _f04,
        lambda ctx, f: {"admitted_only": ctx.admitted_only, "market_type": _c(f).market_type},
        can_fail=lambda ctx: ctx.admitted_only,
    ),
    FilterRule(
        "F05_RATING_BELOW_MINIMUM",
        _f05,
        lambda ctx, f: {"am_best_rating": _c(f).am_best_rating, "min_am_best": ctx.min_am_best},
    ),
    FilterRule(
        "F06_REVENUE_OUT_OF_RANGE",
        _f06,
        lambda ctx, f: {
            "revenue": ctx.revenue,
            "min_revenue": f.min_revenue,
            "max_revenue": f.max_revenue,
        },
    ),
    FilterRule(
        "F07_CLASS_EXCLUDED",
        _f07,
        lambda ctx, f: {"naics": ctx.naics, "naics_excluded": list(f.naics_excluded)},
        BIT_F07,
        lambda ctx: ctx.naics is not None,
    ),
    FilterRule(
        "F08_YEARS_IN_BUSINESS_BELOW_MIN",
        _f08,
        lambda ctx, f: {"years_in_business": ctx.years, "min_years_in_business": f.min_years},
        BIT_F08,
        lambda ctx: ctx.years is not None,
    ),
    FilterRule(
        "F09_LOSS_RATIO_ABOVE_MAX",
        _f09,
        lambda ctx, f: {"loss_ratio_bp": ctx.lr_bp, "max_loss_ratio_pct": _c(f).max_loss_ratio_pct},
        BIT_F09,
        lambda ctx: ctx.lr_bp is not None,
    ),
    FilterRule(
        "F10_CLAIMS_ABOVE_MAX",
        _f10,
        lambda ctx, f: {"claims_3yr": ctx.claims, "max_claims_3yr": f.max_claims},
        BIT_F10,
        lambda ctx: ctx.claims is not None,
    ),
    FilterRule(
        "F11_EMPLOYEES_ABOVE_MAX",
        _f11,
        lambda ctx, f: {"employees": ctx.employees, "max_employees": f.max_employees},
        BIT_F11,
        lambda ctx: ctx.employees is not None,
    ),
    FilterRule(
        "F12_LIMIT_ABOVE_MAX",
        _f12,
        lambda ctx, f: {
            "requested_limit": ctx.requested_limit,
            "requested_limit_defaulted": ctx.limit_defaulted,
            "max_limit": f.max_limit,
        },
        BIT_F12,
    ),
)
RULE_CODES: tuple[str, ...] = tuple(rule.code for rule in FILTER_RULES)
# F01–F03 are resolved by the pool's (line, state) index; the rest run per carrier.
INDEXED_RULES = 3


def rule_outcome(rule: FilterRule, ctx: ProfileContext, f: CarrierFacts) -> str:
    """`fail` if the rule fails, else `unverified` if the profile lacks the field while
    the carrier has a restriction on it, else `pass`."""
    if rule.fails(ctx, f):
        return FAIL
    if ctx.absent_bits & f.restrict_bits & rule.unverified_bit:
        return UNVERIFIED
    return PASS


def checked_rules(ctx: ProfileContext) -> tuple[tuple[int, FilterRule], ...]:
    """(index, rule) of the per-carrier rules (F04–F12) that can fail for this profile."""
    return tuple(
        (i, rule)
        for i, rule in enumerate(FILTER_RULES)
        if i >= INDEXED_RULES and rule.can_fail(ctx)
    )


def first_failure(
    ctx: ProfileContext, f: CarrierFacts, rules: tuple[tuple[int, FilterRule], ...]
) -> int:
    """Index of the first failing rule among `rules`, or -1 when all pass."""
    for i, rule in rules:
        if rule.fails(ctx, f):
            return i
    return -1
