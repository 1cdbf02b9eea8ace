"""The trace in a broker's words: one plain sentence per rule, dimension, tier and
ranking decision, made from the values of a DOMAIN.md §8 carrier entry.

Pure string work over plain JSON data (no I/O), used by `tracedata` in the scoring
process. Every number shown comes from the entry itself, and every threshold from the
rule constants the pipeline uses, so the words cannot drift from the rules.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from nexio_lite.verticals.carriers.dimensions import LIMIT_MULTIPLES, PRICING_RATIO_LEVELS
from nexio_lite.verticals.carriers.facts import (
    ACCESS_POINTS,
    BINDING_POINTS,
    BREADTH_POINTS,
    LINE_APPETITE_POINTS,
    POINT_LEVELS,
    SERVICE_NULL_LEVEL,
    SERVICE_THRESHOLDS,
    turnaround_points,
)
from nexio_lite.verticals.carriers.ranking import LEVEL_LABELS, MAX_RAW, TIER_RULES, TIERS
from nexio_lite.verticals.carriers.reasoning import format_complaint_index
from nexio_lite.verticals.carriers.schema import AM_BEST_OFF_SCALE

# What each filter rule checks, as a broker would say it (DOMAIN.md §4).
RULE_TITLES: dict[str, str] = {
    "F01_CARRIER_NOT_ACTIVE": "Carrier not active (in run-off)",
    "F02_LINE_NOT_WRITTEN": "Does not write this line of business",
    "F03_STATE_NOT_AVAILABLE": "Not available in the client's state",
    "F04_NOT_ADMITTED": "Surplus lines carrier, admitted only requested",
    "F05_RATING_BELOW_MINIMUM": "AM Best rating below the minimum",
    "F06_REVENUE_OUT_OF_RANGE": "Revenue outside the carrier's range",
    "F07_CLASS_EXCLUDED": "Business class (NAICS) excluded",
    "F08_YEARS_IN_BUSINESS_BELOW_MIN": "Too few years in business",
    "F09_LOSS_RATIO_ABOVE_MAX": "Loss ratio above the carrier's maximum",
    "F10_CLAIMS_ABOVE_MAX": "Too many claims in the last 3 years",
    "F11_EMPLOYEES_ABOVE_MAX": "Too many employees",
    "F12_LIMIT_ABOVE_MAX": "Requested limit above the carrier's maximum",
}

DIMENSION_TITLES: dict[str, str] = {
    "appetite": "Appetite",
    "coverage": "Coverage",
    "financial": "Financial strength",
    "pricing": "Pricing",
    "placement": "Placement speed",
    "service": "Service",
}

ORDERING = (
    "Carriers are ranked by tier first (every STRONG_FIT above every GOOD_FIT, then "
    "POSSIBLE_FIT, then WEAK_FIT), then by fit score, highest first; carriers with the "
    "same tier and fit go by the better appetite level, then the better financial level, "
    "then the lower estimated premium, then by name and, last, carrier id."
)

MONEY_KEYS = frozenset(
    {
        "revenue",
        "min_revenue",
        "max_revenue",
        "requested_limit",
        "max_limit",
        "market",
        "rated",
        "premium",
        "min_premium",
    }
)


def money(amount: int) -> str:
    return f"${amount:,}"


def plural(count: int, one: str, many: str | None = None) -> str:
    return f"{count:,} {one if count == 1 else (many or one + 's')}"


def value_text(key: str, value: Any) -> str:
    """One input of a rule as text: money with a dollar sign, lists joined, null as
    'not given'."""
    if value is None:
        return "not given"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int) and key in MONEY_KEYS:
        return money(value)
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) if value else "none"
    return str(value)


def inputs_text(inputs: Mapping[str, Any]) -> list[tuple[str, str]]:
    """A rule's inputs as (name, value text) pairs, in the trace's order."""
    return [(key.replace("_", " "), value_text(key, value)) for key, value in inputs.items()]


def _level_rule(points: int, level: str) -> str:
    """Why `points` give `level` under lvl(p; 4, 3, 2)."""
    l1, l2, l3 = POINT_LEVELS
    if level == "L1":
        return f"{plural(points, 'point')}; {l1} or more give L1"
    if level == "L2":
        return f"{plural(points, 'point')}; {l2} give L2 (L1 needs {l1})"
    if level == "L3":
        return f"{plural(points, 'point')}; {l3} give L3 (L2 needs {l2})"
    return f"{plural(points, 'point')}; under {l3} give L4"


def _signed(points: int) -> str:
    return f"+{points}"


def appetite(parts: Mapping[str, Any], points: int, level: str) -> str:
    line = parts["line_appetite"]
    said = [f"{line} appetite for the line {_signed(LINE_APPETITE_POINTS[line])}"]
    said.append("a target state +1" if parts["target_state"] else "not a target state +0")
    naics = parts["naics_target"]
    if naics is not None:
        said.append("a target class +1" if naics else "not a target class +0")
    band = parts["band"]
    said.append(
        "revenue in its preferred band +1"
        if band == "in"
        else f"revenue {band} its preferred band +0"
    )
    return f"{', '.join(said)}: {_level_rule(points, level)}."


def coverage(parts: Mapping[str, Any], points: int, level: str) -> str:
    requested, offered = parts["requested_limit"], parts["max_limit"]
    limit_points = parts["limit_points"]
    (five, _), (two, _) = LIMIT_MULTIPLES
    if limit_points == 2:
        limit = f"max limit {money(offered)} is at least {five}× the {money(requested)} asked"
    elif limit_points == 1:
        limit = f"max limit {money(offered)} is at least {two}× the {money(requested)} asked"
    else:
        limit = f"max limit {money(offered)} is under {two}× the {money(requested)} asked"
    breadth = parts["breadth"]
    return (
        f"{limit} {_signed(limit_points)}, {breadth} coverage "
        f"{_signed(BREADTH_POINTS[breadth])}: {_level_rule(points, level)}."
    )


def financial(parts: Mapping[str, Any], level: str) -> str:
    rating, fsc, outlook = parts["rating"], parts["fsc"], parts["outlook"]
    said = [f"AM Best {rating} gives {LEVEL_LABELS[parts['base']]}"]
    if parts["fsc_penalty"]:
        size = "size class unknown" if fsc is None else f"size class {fsc}, VI or below"
        said.append(f"{size}: one level worse")
    else:
        said.append(f"size class {fsc}: no change")
    if parts["outlook_penalty"]:
        said.append(f"{outlook} outlook: one level worse")
    return f"{'; '.join(said)}; so {level} (L4 at worst)."


def pricing(parts: Mapping[str, Any], level: str) -> str:
    ratio, premium, market = parts["ratio_pct"], parts["premium"], parts["market"]
    p1, p2, p3 = PRICING_RATIO_LEVELS
    bounds = {
        "L1": f"{p1}% or less gives L1",
        "L2": f"{p2}% or less gives L2",
        "L3": f"{p3}% or less gives L3",
        "L4": f"above {p3}% gives L4",
    }
    minimum = ", the carrier's minimum premium" if parts["min_premium_applies"] else ""
    return (
        f"estimated premium {money(premium)}{minimum} is {ratio}% of the market premium "
        f"{money(market)}: {bounds.get(level, level)}."
    )


def placement(parts: Mapping[str, Any], points: int, level: str) -> str:
    binding, access = parts["binding_authority"], parts["access"]
    days = parts["quote_turnaround_days"]
    said = [f"{binding} binding {_signed(BINDING_POINTS[binding])}"]
    quote = "quote time unknown" if days is None else f"{plural(days, 'day')} to quote"
    said.append(f"{quote} {_signed(turnaround_points(days))}")
    said.append(f"{access} access {_signed(ACCESS_POINTS[access])}")
    text = f"{', '.join(said)}: {_level_rule(points, parts['base_level'])}"
    if parts["lead_time_penalty"]:
        lead = parts["lead_days"]
        text += (
            f"; the effective date is {plural(lead, 'day')} away, sooner than a quote can "
            f"come: one level worse, {level}"
        )
    return text + "."


def service(parts: Mapping[str, Any], level: str) -> str:
    ci = parts["complaint_index_x100"]
    if ci is None:
        return f"no NAIC complaint index on file: {LEVEL_LABELS[SERVICE_NULL_LEVEL]}."
    index = format_complaint_index(ci)
    for bound, bound_level in SERVICE_THRESHOLDS:
        if ci <= bound:
            return (
                f"NAIC complaint index {index}: {format_complaint_index(bound)} or less gives "
                f"{LEVEL_LABELS[bound_level]}."
            )
    top = format_complaint_index(SERVICE_THRESHOLDS[-1][0])
    return f"NAIC complaint index {index}: above {top} gives {level}."


def dimension_rule(name: str, entry: Mapping[str, Any]) -> str:
    """The rule that chose one dimension's level, in words."""
    level, points, parts = entry["level"], entry["points"], entry["parts"]
    if name == "appetite":
        return appetite(parts, points, level)
    if name == "coverage":
        return coverage(parts, points, level)
    if name == "financial":
        return financial(parts, level)
    if name == "pricing":
        return pricing(parts, level)
    if name == "placement":
        return placement(parts, points, level)
    return service(parts, level)


def tier_rule(tier: Mapping[str, Any], fit: Mapping[str, Any], appetite_level: str) -> str:
    """Why the carrier got its tier (the first §6 tier rule that matched)."""
    rule, n4, score = tier["rule"], tier["n4"], fit["score"]
    for code, _index, worst, max_n4, min_fit in TIER_RULES:
        if code == rule:
            needs = [f"appetite {LEVEL_LABELS[worst]} or better"]
            if max_n4 is not None:
                needs.append(
                    "no dimension at L4" if max_n4 == 0 else f"at most {max_n4} dimension at L4"
                )
            needs.append(f"fit {min_fit} or more")
            return (
                f"{rule} {tier['value']} needs {', '.join(needs)}: appetite {appetite_level}, "
                f"{plural(n4, 'dimension')} at L4, fit {score}."
            )
    return f"{rule} {TIERS[4]}: none of the better tiers' rules matched (fit {score})."


def fit_text(fit: Mapping[str, Any]) -> str:
    return f"{fit['score']} ({fit['raw']} of {MAX_RAW} weighted points)"


def confidence_text(confidence: Mapping[str, Any]) -> str:
    points = confidence["points"]
    total = sum(points.values())
    unverified = len(confidence["unverified"])
    nulls = len(confidence["null_fields"])
    record = "a complete record" if not nulls else f"{plural(nulls, 'field')} missing"
    return (
        f"{confidence['value']}, {total} of 6: data {plural(confidence['age_days'], 'day')} old "
        f"+{points['freshness']}, {record} +{points['completeness']}, "
        f"{plural(unverified, 'check')} unverified +{points['verification']}."
    )


# The §6 sort key, field by field: (name, the value's words, better when lower?)
def decided_by(above: Mapping[str, Any], below: Mapping[str, Any]) -> str:
    """Which step of the ordering put `above` right before `below`, in words."""
    a_tier, b_tier = above["tier"]["value"], below["tier"]["value"]
    if a_tier != b_tier:
        return f"a better tier than #{below['rank']} ({a_tier} against {b_tier})"
    a_fit, b_fit = above["fit"]["score"], below["fit"]["score"]
    if a_fit != b_fit:
        return f"a higher fit than #{below['rank']} ({a_fit} against {b_fit})"
    for dimension in ("appetite", "financial"):
        a_level = above["dimensions"][dimension]["level"]
        b_level = below["dimensions"][dimension]["level"]
        if a_level != b_level:
            return (
                f"same tier and fit as #{below['rank']}; a better {dimension} level "
                f"({a_level} against {b_level})"
            )
    a_premium = above["dimensions"]["pricing"]["parts"]["premium"]
    b_premium = below["dimensions"]["pricing"]["parts"]["premium"]
    if a_premium != b_premium:
        return (
            f"same tier, fit, appetite and financial level as #{below['rank']}; a lower "
            f"premium ({money(a_premium)} against {money(b_premium)})"
        )
    if above["name"] != below["name"]:
        return f"tied with #{below['rank']} on every score; name order"
    return f"tied with #{below['rank']} on every score and name; carrier id order"


def defaults_text(defaults: Sequence[str]) -> str:
    return ", ".join(defaults) if defaults else "none"


def _percent_bp(bp: int) -> str:
    return f"{bp / 100:g}%"


def filter_reason(rule: str, inputs: Mapping[str, Any]) -> str:
    """Why one carrier failed `rule`, in a sentence, from the rule's trace inputs."""
    i = inputs
    if rule == "F01_CARRIER_NOT_ACTIVE":
        return f"The carrier's status is {i['status']}: it writes no new business."
    if rule == "F02_LINE_NOT_WRITTEN":
        return f"It does not write {i['line']}."
    if rule == "F03_STATE_NOT_AVAILABLE":
        return f"It is not available in {i['state']} ({plural(len(i['states']), 'state')} listed)."
    if rule == "F04_NOT_ADMITTED":
        return "It writes on a surplus lines basis; only admitted carriers were asked for."
    if rule == "F05_RATING_BELOW_MINIMUM":
        rating, floor = i["am_best_rating"], i["min_am_best"]
        if rating in AM_BEST_OFF_SCALE:
            return f"AM Best {rating} is off the rating scale (the minimum is {floor})."
        return f"Rated {rating} by AM Best, below the minimum {floor}."
    if rule == "F06_REVENUE_OUT_OF_RANGE":
        if i["revenue"] < i["min_revenue"]:
            return f"Revenue {money(i['revenue'])} is below its minimum {money(i['min_revenue'])}."
        return f"Revenue {money(i['revenue'])} is above its maximum {money(i['max_revenue'])}."
    if rule == "F07_CLASS_EXCLUDED":
        return f"NAICS {i['naics']} falls in a class it excludes."
    if rule == "F08_YEARS_IN_BUSINESS_BELOW_MIN":
        years, needed = i["years_in_business"], i["min_years_in_business"]
        return f"{plural(years, 'year')} in business; it needs {needed}."
    if rule == "F09_LOSS_RATIO_ABOVE_MAX":
        limit = i["max_loss_ratio_pct"]
        return f"Loss ratio {_percent_bp(i['loss_ratio_bp'])} is above its maximum {limit}%."
    if rule == "F10_CLAIMS_ABOVE_MAX":
        return f"{plural(i['claims_3yr'], 'claim')} in 3 years; it accepts {i['max_claims_3yr']}."
    if rule == "F11_EMPLOYEES_ABOVE_MAX":
        return f"{plural(i['employees'], 'employee')}; it accepts {i['max_employees']:,}."
    if rule == "F12_LIMIT_ABOVE_MAX":
        asked = money(i["requested_limit"]) + (
            " (the default)" if i["requested_limit_defaulted"] else ""
        )
        return f"The limit asked, {asked}, is above its maximum {money(i['max_limit'])}."
    return RULE_TITLES.get(rule, rule)
