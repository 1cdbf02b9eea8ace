"""The per-evaluation view of a profile (DOMAIN.md §2, §4–5), computed once per call.

`ProfileContext` pre-extracts what the rules read on every carrier: the NAICS
prefixes, the minimum rating rank, the ordinal dates, the bit mask of missing
profile fields that can leave a restriction `unverified`, and the market premium
(which depends on the profile alone).
"""

from __future__ import annotations

import datetime as dt

import attrs

from nexio_lite.verticals.carriers.dimensions import (
    BASE_RATE_CENTS,
    ilf_pct,
    market_premium,
)
from nexio_lite.verticals.carriers.facts import (
    BIT_F07,
    BIT_F08,
    BIT_F09,
    BIT_F10,
    BIT_F11,
    BIT_F12,
    RATING_RANK,
    STATE_BITS,
)
from nexio_lite.verticals.carriers.schema import Profile


@attrs.frozen(slots=True)
class ProfileContext:
    """Profile fields plus derived values; `limit_defaulted` is True when
    requested_limit took its default (it then leaves F12 `unverified` on a pass)."""

    profile: Profile
    line: str
    state: str
    state_bit: int  # STATE_BITS[state]: test it against CarrierFacts.target_bits
    revenue: int
    requested_limit: int
    limit_defaulted: bool
    admitted_only: bool
    min_am_best: str
    min_rank: int
    naics: str | None
    naics_prefixes: frozenset[str]
    years: int | None
    lr_bp: int | None
    claims: int | None
    employees: int | None
    effective_ord: int | None
    as_of: dt.date
    as_of_ord: int
    absent_bits: int
    rate_cents: int
    ilf_pct: int
    market: int


def naics_prefixes(naics: str | None) -> frozenset[str]:
    """Every prefix of the profile's NAICS code (the empty one included), so that
    "carrier prefix q matches p" is "q in prefixes(p)", i.e. p.startswith(q)."""
    if naics is None:
        return frozenset()
    return frozenset(naics[:k] for k in range(len(naics) + 1))


def absent_bits(profile: Profile, limit_defaulted: bool) -> int:
    """Bits of the F07–F12 checks whose profile side is missing."""
    bits = 0
    if profile.naics is None:
        bits |= BIT_F07
    if profile.years_in_business is None:
        bits |= BIT_F08
    if profile.loss_ratio_bp is None:
        bits |= BIT_F09
    if profile.claims_3yr is None:
        bits |= BIT_F10
    if profile.employees is None:
        bits |= BIT_F11
    if limit_defaulted:
        bits |= BIT_F12
    return bits


def make_context(profile: Profile, as_of: dt.date) -> ProfileContext:
    """Build the context of one evaluation of `profile` at date `as_of`."""
    limit_defaulted = "requested_limit" in profile.defaults_applied
    rate = BASE_RATE_CENTS[profile.line]
    ilf = ilf_pct(profile.requested_limit)
    eff = profile.effective_date
    return ProfileContext(
        profile=profile,
        line=profile.line,
        state=profile.state,
        state_bit=STATE_BITS.get(profile.state, 0),
        revenue=profile.revenue,
        requested_limit=profile.requested_limit,
        limit_defaulted=limit_defaulted,
        admitted_only=profile.admitted_only,
        min_am_best=profile.min_am_best,
        min_rank=RATING_RANK[profile.min_am_best],
        naics=profile.naics,
        naics_prefixes=naics_prefixes(profile.naics),
        years=profile.years_in_business,
        lr_bp=profile.loss_ratio_bp,
        claims=profile.claims_3yr,
        employees=profile.employees,
        effective_ord=None if eff is None else eff.toordinal(),
        as_of=as_of,
        as_of_ord=as_of.toordinal(),
        absent_bits=absent_bits(profile, limit_defaulted),
        rate_cents=rate,
        ilf_pct=ilf,
        market=market_premium(profile.revenue, rate, ilf),
    )
