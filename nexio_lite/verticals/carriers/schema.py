"""Records and constants of the commercial-insurance vertical (DOMAIN.md §1–3).

These are the shared vocabulary of the pipeline: the pool module builds `Carrier`
records, the profile module builds `Profile` records, and the scoring module reads both.
Everything here is immutable and free of I/O.
"""

from __future__ import annotations

import datetime as dt

import attrs

RULES_VERSION = "ci-rules-v1"
VERTICAL_ID = "commercial_insurance"

LINES: tuple[str, ...] = (
    "general_liability",
    "professional_liability",
    "directors_officers",
    "cyber",
    "workers_comp",
    "commercial_auto",
    "property",
    "bop",
    "umbrella",
)

DIMENSIONS: tuple[str, ...] = (
    "appetite",
    "coverage",
    "financial",
    "pricing",
    "placement",
    "service",
)

STATES: tuple[str, ...] = (
    "AK", "AL", "AR", "AZ", "CA", "CO", "CT", "DC", "DE", "FL", "GA", "HI", "IA",
    "ID", "IL", "IN", "KS", "KY", "LA", "MA", "MD", "ME", "MI", "MN", "MO", "MS",
    "MT", "NC", "ND", "NE", "NH", "NJ", "NM", "NV", "NY", "OH", "OK", "OR", "PA",
    "RI", "SC", "SD", "TN", "TX", "UT", "VA", "VT", "WA", "WI", "WV", "WY",
)  # fmt: skip

# Best first. E, F, S and NR are valid carrier ratings but not on this scale.
AM_BEST_SCALE: tuple[str, ...] = (
    "A++", "A+", "A", "A-", "B++", "B+", "B", "B-", "C++", "C+", "C", "C-", "D",
)  # fmt: skip
AM_BEST_OFF_SCALE: tuple[str, ...] = ("E", "F", "S", "NR")

NAICS_SECTORS: frozenset[str] = frozenset(
    ("11", "21", "22", "23", "31", "32", "33", "42", "44", "45", "48", "49",
     "51", "52", "53", "54", "55", "56", "61", "62", "71", "72", "81", "92")
)  # fmt: skip

DEFAULT_REQUESTED_LIMIT = 1_000_000
DEFAULT_MIN_AM_BEST = "B+"


@attrs.frozen(slots=True)
class Carrier:
    """One pool record, keys in DOMAIN.md §3 order (the order is also the hash order)."""

    carrier_id: str
    name: str
    naic_code: str | None
    segment: str
    status: str
    market_type: str
    domicile_state: str
    states: tuple[str, ...]
    target_states: tuple[str, ...]
    lines: dict[str, str]  # line -> appetite, keys in canonical line order
    naics_target: tuple[str, ...]
    naics_excluded: tuple[str, ...]
    min_revenue: int
    max_revenue: int
    band_min: int
    band_max: int
    min_years_in_business: int
    max_loss_ratio_pct: int | None
    max_claims_3yr: int | None
    max_employees: int | None
    max_limit: int
    coverage_breadth: str
    am_best_rating: str
    am_best_fsc: str | None
    rating_outlook: str | None
    min_premium: int
    rate_index: int
    binding_authority: str
    quote_turnaround_days: int | None
    access: str
    complaint_index_x100: int | None
    data_as_of: dt.date


@attrs.frozen(slots=True)
class Profile:
    """A validated entity profile (DOMAIN.md §2), defaults applied.

    `loss_ratio_bp` is the loss ratio in basis points (0.45 -> 4500), computed from the
    JSON literal's decimal text.
    `defaults_applied` lists, sorted, the fields that took their default.
    """

    entity: str
    state: str
    line: str
    revenue: int
    naics: str | None = None
    employees: int | None = None
    years_in_business: int | None = None
    loss_ratio_bp: int | None = None
    claims_3yr: int | None = None
    requested_limit: int = DEFAULT_REQUESTED_LIMIT
    effective_date: dt.date | None = None
    admitted_only: bool = False
    min_am_best: str = DEFAULT_MIN_AM_BEST
    defaults_applied: tuple[str, ...] = ()


@attrs.frozen(slots=True)
class Options:
    """`options` of a request: `as_of` overrides the pool's date, `limit` cuts candidates."""

    as_of: dt.date | None = None
    limit: int | None = None


@attrs.frozen(slots=True)
class PoolMeta:
    """Pool metadata (DOMAIN.md §3): what the trace's `pool` header shows."""

    pool_id: str
    generator: str
    size: int
    as_of: dt.date
    sha256: str
