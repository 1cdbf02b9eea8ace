"""Hand-built carriers and profiles for the scoring-pipeline unit tests.

`make_carrier()` with no arguments is a carrier that passes every rule for
`make_profile()` (CA, professional liability, $12M revenue, nothing else) and scores
L1 L2 L1 L1 L2 L1, like car_01205 in DOMAIN.md's check. Keyword arguments override
single fields; `carrier_with_levels` picks fields that give chosen levels.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import attrs

from nexio_lite.verticals.carriers.context import ProfileContext, make_context
from nexio_lite.verticals.carriers.evaluate import Evaluation, evaluate
from nexio_lite.verticals.carriers.facts import CarrierFacts, build_facts
from nexio_lite.verticals.carriers.prepared import PreparedPool, prepare_pool
from nexio_lite.verticals.carriers.ranking import Scored, score_carrier
from nexio_lite.verticals.carriers.rules import FILTER_RULES, rule_outcome
from nexio_lite.verticals.carriers.schema import Carrier, Options, PoolMeta, Profile

AS_OF = dt.date(2025, 6, 30)

_CARRIER: dict[str, Any] = {
    "carrier_id": "car_00001",
    "name": "Testbrook Indemnity Company",
    "naic_code": "10000",
    "segment": "specialty",
    "status": "active",
    "market_type": "admitted",
    "domicile_state": "CA",
    "states": ("CA", "NY"),
    "target_states": ("CA",),
    "lines": {"professional_liability": "target"},
    "naics_target": (),
    "naics_excluded": (),
    "min_revenue": 1_000_000,
    "max_revenue": 500_000_000,
    "band_min": 10_000_000,
    "band_max": 15_000_000,
    "min_years_in_business": 0,
    "max_loss_ratio_pct": None,
    "max_claims_3yr": None,
    "max_employees": None,
    "max_limit": 5_000_000,
    "coverage_breadth": "standard",
    "am_best_rating": "A+",
    "am_best_fsc": "XI",
    "rating_outlook": "stable",
    "min_premium": 7_500,
    "rate_index": 87,
    "binding_authority": "delegated",
    "quote_turnaround_days": 2,
    "access": "wholesale",
    "complaint_index_x100": 13,
    "data_as_of": dt.date(2024, 10, 14),  # 259 days before AS_OF
}


def make_carrier(**overrides: Any) -> Carrier:
    """A valid carrier; see the module docstring for the defaults."""
    return Carrier(**{**_CARRIER, **overrides})


# Fields that give each level (1 … 4) of a dimension for `make_profile()`.
LEVEL_FIELDS: dict[str, dict[int, dict[str, Any]]] = {
    "appetite": {
        1: {},
        2: {"lines": {"professional_liability": "standard"}},
        3: {"lines": {"professional_liability": "limited"}},
        4: {"lines": {"professional_liability": "limited"}, "target_states": ()},
    },
    "coverage": {
        1: {"coverage_breadth": "broad"},
        2: {},
        3: {"coverage_breadth": "restricted"},
        4: {"max_limit": 1_000_000},
    },
    "financial": {
        1: {},
        2: {"am_best_rating": "A"},
        3: {"am_best_rating": "B++"},
        4: {"am_best_rating": "B+"},
    },
    "pricing": {
        1: {},
        2: {"rate_index": 100},
        3: {"rate_index": 110},
        4: {"rate_index": 120},
    },
    "placement": {
        1: {"binding_authority": "instant", "quote_turnaround_days": 0, "access": "direct"},
        2: {},
        3: {"binding_authority": "submission"},
        4: {"binding_authority": "submission", "quote_turnaround_days": 7},
    },
    "service": {
        1: {},
        2: {"complaint_index_x100": 80},
        3: {"complaint_index_x100": 150},
        4: {"complaint_index_x100": 300},
    },
}


def carrier_with_levels(levels: tuple[int, ...], **overrides: Any) -> Carrier:
    """A carrier scoring `levels` (DIMENSIONS order) for `make_profile()`."""
    fields: dict[str, Any] = {}
    for dimension, level in zip(LEVEL_FIELDS, levels, strict=True):
        fields.update(LEVEL_FIELDS[dimension][level])
    fields.update(overrides)
    return make_carrier(**fields)


def make_profile(**fields: Any) -> Profile:
    """A profile with the §2 defaults applied (and listed) for what is not given."""
    values: dict[str, Any] = {
        "entity": "acme-manufacturing",
        "state": "CA",
        "line": "professional_liability",
        "revenue": 12_000_000,
        **fields,
    }
    defaults = []
    for name, default in (
        ("admitted_only", False),
        ("min_am_best", "B+"),
        ("requested_limit", 1_000_000),
    ):
        if name not in values:
            values[name] = default
            defaults.append(name)
    return Profile(**values, defaults_applied=tuple(sorted(defaults)))


def facts(carrier: Carrier) -> CarrierFacts:
    """Static facts of a single carrier (index 0, name rank 0)."""
    return build_facts(0, carrier, 0)


def context(profile: Profile | None = None, as_of: dt.date = AS_OF) -> ProfileContext:
    return make_context(profile or make_profile(), as_of)


def outcome(code_prefix: str, carrier: Carrier, profile: Profile | None = None) -> str:
    """Outcome of the rule whose code starts with `code_prefix` (e.g. "F06")."""
    (rule,) = [r for r in FILTER_RULES if r.code.startswith(code_prefix)]
    return rule_outcome(rule, context(profile), facts(carrier))


def score(carrier: Carrier, profile: Profile | None = None, as_of: dt.date = AS_OF) -> Scored:
    """`score_carrier` of one carrier (which must pass the filter)."""
    return score_carrier(context(profile, as_of), facts(carrier))


def pool_of(*carriers: Carrier, as_of: dt.date = AS_OF) -> PreparedPool:
    """A prepared pool of the given carriers (numbered car_00001… when ids repeat)."""
    ids = [c.carrier_id for c in carriers]
    if len(set(ids)) != len(ids):
        carriers = tuple(
            attrs.evolve(c, carrier_id=f"car_{i:05d}") for i, c in enumerate(carriers, start=1)
        )
    meta = PoolMeta("test:pool", "hand-built", len(carriers), as_of, "0" * 64)
    return prepare_pool(meta, carriers)


def run(*carriers: Carrier, profile: Profile | None = None, **options: Any) -> Evaluation:
    """`evaluate` on a pool of the given carriers."""
    return evaluate(pool_of(*carriers), profile or make_profile(), Options(**options))
