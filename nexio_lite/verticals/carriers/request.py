"""From raw HTTP body to a validated evaluation request (API.md §3–4, DOMAIN.md §2).

Three steps, each with a guarantee:

- `parse_json_body` (`nexio_lite.validation`, shared by every job type) turns bytes into a
  JSON value or raises `BodyError`; it never raises anything else. Non-integer number
  literals arrive as `Decimal` (their decimal text kept), integer literals as `int`.
- `validate_request` checks the envelope and the profile, collecting *every* problem into one
  list of `Detail`s sorted by `(field, code)`, or returns a `ValidatedRequest`.
- `parse_profile` / `load_request` rebuild the records from the stored normalized request.

The stored form (`ValidatedRequest.normalized`) is plain JSON: the request as sent, keys in a
canonical order, `null`s and empty `options` dropped, and `profile.loss_ratio`, when it was a
non-integer literal, stored as its decimal *text* (a JSON string such as `"0.10000"`) so that
re-reading it never goes through binary float. Defaults are not written into it: they are
re-applied (and reported in `defaults_applied`) by `parse_profile`.

This runs on every submit: plain dict loops, precompiled whole-string patterns, no models.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import attrs

from nexio_lite.fields import (
    Boolean,
    Choice,
    Date,
    Integer,
    Number,
    Obj,
    Pattern,
    Text,
    decimal_parts,
)
from nexio_lite.validation import NOT_AN_OBJECT_MESSAGE as NOT_AN_OBJECT_MESSAGE
from nexio_lite.validation import WEBHOOK_URL as WEBHOOK_URL
from nexio_lite.validation import BodyError as BodyError
from nexio_lite.validation import Detail as Detail
from nexio_lite.validation import error_message as error_message
from nexio_lite.validation import parse_json_body as parse_json_body
from nexio_lite.verticals.carriers.schema import (
    AM_BEST_SCALE,
    DEFAULT_MIN_AM_BEST,
    DEFAULT_REQUESTED_LIMIT,
    LINES,
    NAICS_SECTORS,
    STATES,
    Options,
    Profile,
)

# Profile fields in DOMAIN.md §2 table order (also the order of stored and rendered profiles).
PROFILE_FIELDS: tuple[str, ...] = (
    "entity",
    "state",
    "line",
    "revenue",
    "naics",
    "employees",
    "years_in_business",
    "loss_ratio",
    "claims_3yr",
    "requested_limit",
    "effective_date",
    "admitted_only",
    "min_am_best",
)
REQUIRED_PROFILE_FIELDS: tuple[str, ...] = ("entity", "state", "line", "revenue")
ENVELOPE_FIELDS: frozenset[str] = frozenset({"profile", "pool", "webhook_url", "options"})

POOL_MAX_CHARS = 128
LIMIT_MIN, LIMIT_MAX = 1, 10_000


_EFFECTIVE_MIN = dt.date(2000, 1, 1)
_EFFECTIVE_MAX = dt.date(2099, 12, 31)
_LOSS_RATIO_MAX = 10


@attrs.frozen
class ValidatedRequest:
    """A request that passed every field check (the pool id is not yet looked up and the
    webhook URL not yet vetted). `normalized` is the JSON-ready form to store (module doc)."""

    profile: Profile
    pool: str
    webhook_url: str | None
    options: Options
    normalized: dict[str, Any]


# ---------------------------------------------------------------- declarations
# What each field accepts, said once: the validators below and the OpenAPI document
# (api/openapi_schemas.py) both read these.

_SECTORS = "|".join(sorted(NAICS_SECTORS))

PROFILE = Obj(
    {
        "entity": Pattern(
            r"[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?",
            "profile.entity must be 1-64 lowercase letters, digits or hyphens, "
            "not starting or ending with a hyphen",
            "Lowercase slug, 1-64 characters.",
            min_length=1,
            max_length=64,
        ),
        "state": Choice(
            STATES,
            "USPS code of one of the 50 states or DC, uppercase.",
            "profile.state must be a two-letter uppercase USPS code for one of the 50 states or DC",
        ),
        "line": Choice(tuple(sorted(LINES)), "Line of business."),
        "revenue": Integer(1, 10_000_000_000, "Annual revenue, USD.", int64=True),
        "naics": Pattern(
            f"(?:{_SECTORS})[0-9]{{0,4}}",
            "profile.naics must be a 2-6 digit NAICS code starting with a valid sector",
            "2-6 digit NAICS code whose first two digits are a valid sector.",
        ),
        "employees": Integer(0, 1_000_000),
        "years_in_business": Integer(0, 300),
        "loss_ratio": Number(
            0,
            _LOSS_RATIO_MAX,
            4,
            "3-year incurred / earned premium (0.45 = 45%), at most 4 decimal places; must "
            "be 0 when claims_3yr is 0.",
        ),
        "claims_3yr": Integer(0, 10_000),
        "requested_limit": Integer(
            100_000,
            100_000_000,
            f"Per-claim limit, USD; {DEFAULT_REQUESTED_LIMIT} when absent (reported as defaulted).",
        ),
        "effective_date": Date(
            "profile.effective_date must be a valid date YYYY-MM-DD between 2000-01-01 and "
            "2099-12-31",
            _EFFECTIVE_MIN,
            _EFFECTIVE_MAX,
            "A real date between 2000-01-01 and 2099-12-31.",
        ),
        "admitted_only": Boolean("Default false."),
        "min_am_best": Choice(
            AM_BEST_SCALE, f"Lowest acceptable AM Best rating; default {DEFAULT_MIN_AM_BEST}."
        ),
    },
    REQUIRED_PROFILE_FIELDS,
    "The entity to evaluate. Integers are JSON integers (`1.0` and `true` are refused); "
    "an optional field sent as null counts as absent.",
    # The one rule across fields (`conflict`, checked in _validate_profile below).
    extra_schema={
        "if": {"properties": {"claims_3yr": {"const": 0}}, "required": ["claims_3yr"]},
        "then": {"properties": {"loss_ratio": {"anyOf": [{"const": 0}, {"type": "null"}]}}},
    },
)
assert tuple(PROFILE.fields) == PROFILE_FIELDS

OPTIONS = Obj(
    {
        "as_of": Date(
            "options.as_of must be a valid date YYYY-MM-DD",
            description="Evaluate as of this date (YYYY-MM-DD) instead of the pool's.",
            strict_type=False,
        ),
        "limit": Integer(LIMIT_MIN, LIMIT_MAX, "Cut `candidates` to the first N."),
    }
)
POOL = Text(1, POOL_MAX_CHARS, "Pool id, e.g. `carriers:all`.")


def _validate_profile(profile: dict[str, Any], details: list[Detail]) -> dict[str, Any]:
    """Append the profile's problems to `details`; return its valid, non-null fields in
    table order (values as sent)."""
    valid = PROFILE.validate("profile.", profile, details, Detail)
    if valid.get("claims_3yr") == 0 and valid.get("loss_ratio", 0) > 0:
        details.append(_CONFLICT)
    return valid


_CONFLICT = Detail(
    "profile.loss_ratio", "conflict", "profile.loss_ratio must be 0 when profile.claims_3yr is 0"
)


# ---------------------------------------------------------------- envelope checks


def _validate_pool(pool: Any, details: list[Detail]) -> None:
    if pool is None:
        details.append(Detail("pool", "required", "pool is required"))
    else:
        problem = POOL.check("pool", pool)
        if problem is not None:
            details.append(Detail("pool", *problem))


def _validate_options(options: Any, details: list[Detail]) -> dict[str, Any]:
    """Append the problems of `options`; return its valid non-null keys (as_of, limit)."""
    if options is None:
        return {}
    if type(options) is not dict:
        details.append(Detail("options", "type", "options must be an object"))
        return {}
    return OPTIONS.validate("options.", options, details, Detail)


def _sort_key(detail: Detail) -> tuple[str, str]:
    return (detail.field, detail.code)


def validate_request(body: object) -> ValidatedRequest | list[Detail]:
    """Validate a parsed `POST /api/v1/jobs` body (API.md §4 table, then DOMAIN.md §2).

    Guarantees: returns either a `ValidatedRequest` or a non-empty list of every problem
    found, sorted by `(field, code)`, each field with at most one problem plus, for
    `profile.loss_ratio`, possibly `conflict`. A known key sent as `null` counts as absent;
    unknown keys are reported whatever their value. `webhook_url` is only type-checked and
    `pool` is not looked up. Raises `BodyError` when `body` is not a JSON object.
    """
    if type(body) is not dict:
        raise BodyError(NOT_AN_OBJECT_MESSAGE)
    details: list[Detail] = []
    for key in body:
        if key not in ENVELOPE_FIELDS:
            details.append(Detail(key, "unknown_field", f"{key} is not a recognized field"))

    profile = body.get("profile")
    clean_profile: dict[str, Any] = {}
    if profile is None:
        details.append(Detail("profile", "required", "profile is required"))
    elif type(profile) is not dict:
        details.append(Detail("profile", "type", "profile must be an object"))
    else:
        clean_profile = _validate_profile(profile, details)

    pool = body.get("pool")
    _validate_pool(pool, details)
    webhook_url = body.get("webhook_url")
    if webhook_url is not None:
        problem = WEBHOOK_URL.check("webhook_url", webhook_url)
        if problem is not None:
            details.append(Detail("webhook_url", *problem))
    clean_options = _validate_options(body.get("options"), details)

    if details:
        details.sort(key=_sort_key)
        return details
    return _build(clean_profile, pool, webhook_url, clean_options)  # type: ignore[arg-type]


def _build(
    profile: dict[str, Any], pool: str, webhook_url: str | None, options: dict[str, Any]
) -> ValidatedRequest:
    stored_profile = dict(profile)
    loss_ratio = stored_profile.get("loss_ratio")
    if type(loss_ratio) is Decimal:
        stored_profile["loss_ratio"] = str(loss_ratio)
    normalized: dict[str, Any] = {"profile": stored_profile, "pool": pool}
    if webhook_url is not None:
        normalized["webhook_url"] = webhook_url
    if options:
        normalized["options"] = options
    return ValidatedRequest(
        profile=parse_profile(profile),
        pool=pool,
        webhook_url=webhook_url,
        options=parse_options(options),
        normalized=normalized,
    )


# ---------------------------------------------------------------- records from valid data


def _round_half_up_bp(value: int | Decimal | str | float) -> int:
    """round_half_up(value × 10000), exactly (Decimal digits, never binary float).

    Accepts the wire form (`int`, `Decimal`), the stored form (decimal text) and, for
    callers that re-read stored JSON without `parse_float=Decimal`, a `float` (its shortest
    repr, which is the original text for any value with at most 4 decimals).
    """
    if type(value) is int:
        return value * 10_000
    if type(value) is float:
        value = repr(value)
    sign, coefficient, exponent = decimal_parts(Decimal(value))
    shift = exponent + 4
    if not coefficient:
        magnitude = 0
    elif shift >= 0:
        magnitude = int(coefficient) * 10**shift
    else:
        padded = coefficient.rjust(1 - shift, "0")
        magnitude = int(padded[:shift]) + (padded[shift] >= "5")
    return -magnitude if sign else magnitude


def parse_profile(d: Mapping[str, Any]) -> Profile:
    """Build a `Profile` from an already valid profile mapping (wire or stored form).

    Guarantees: `requested_limit`, `admitted_only` and `min_am_best` take their defaults when
    absent or null, and `defaults_applied` lists (sorted) those that did; `loss_ratio_bp` is
    round_half_up(loss_ratio × 10000); `effective_date` is a `date`. The input is not
    re-validated: pass only what `validate_request` accepted (or stored).
    """
    defaults: list[str] = []
    admitted_only = d.get("admitted_only")
    if admitted_only is None:
        admitted_only = False
        defaults.append("admitted_only")
    min_am_best = d.get("min_am_best")
    if min_am_best is None:
        min_am_best = DEFAULT_MIN_AM_BEST
        defaults.append("min_am_best")
    requested_limit = d.get("requested_limit")
    if requested_limit is None:
        requested_limit = DEFAULT_REQUESTED_LIMIT
        defaults.append("requested_limit")
    loss_ratio = d.get("loss_ratio")
    effective_date = d.get("effective_date")
    return Profile(
        entity=d["entity"],
        state=d["state"],
        line=d["line"],
        revenue=d["revenue"],
        naics=d.get("naics"),
        employees=d.get("employees"),
        years_in_business=d.get("years_in_business"),
        loss_ratio_bp=None if loss_ratio is None else _round_half_up_bp(loss_ratio),
        claims_3yr=d.get("claims_3yr"),
        requested_limit=requested_limit,
        effective_date=None if effective_date is None else dt.date.fromisoformat(effective_date),
        admitted_only=admitted_only,
        min_am_best=min_am_best,
        defaults_applied=tuple(defaults),
    )


_NO_OPTIONS = Options()


def parse_options(d: Mapping[str, Any] | None) -> Options:
    """Build `Options` from valid (wire or stored) options; absent or null keys stay None."""
    if not d:
        return _NO_OPTIONS
    as_of = d.get("as_of")
    return Options(
        as_of=None if as_of is None else dt.date.fromisoformat(as_of),
        limit=d.get("limit"),
    )


def load_request(normalized: Mapping[str, Any]) -> ValidatedRequest:
    """Rebuild the `ValidatedRequest` from its stored `normalized` form (e.g. in a worker).
    Gives the same `profile` and `options` as the original validation did."""
    webhook_url = normalized.get("webhook_url")
    options = normalized.get("options") or {}
    return ValidatedRequest(
        profile=parse_profile(normalized["profile"]),
        pool=normalized["pool"],
        webhook_url=webhook_url,
        options=parse_options(options),
        normalized=dict(normalized),
    )


def profile_to_dict(p: Profile) -> dict[str, Any]:
    """The normalized profile for the audit trace: all 13 DOMAIN.md §2 fields in table
    order, defaults applied, absent ones null; `loss_ratio` a JSON number equal to
    `loss_ratio_bp / 10000` (always a float, e.g. 0.45, 0.0), `effective_date` YYYY-MM-DD.
    `defaults_applied` is not included: the trace carries it beside the profile."""
    return {
        "entity": p.entity,
        "state": p.state,
        "line": p.line,
        "revenue": p.revenue,
        "naics": p.naics,
        "employees": p.employees,
        "years_in_business": p.years_in_business,
        "loss_ratio": None if p.loss_ratio_bp is None else p.loss_ratio_bp / 10_000,
        "claims_3yr": p.claims_3yr,
        "requested_limit": p.requested_limit,
        "effective_date": None if p.effective_date is None else p.effective_date.isoformat(),
        "admitted_only": p.admitted_only,
        "min_am_best": p.min_am_best,
    }
