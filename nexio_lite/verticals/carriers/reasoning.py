"""The reasoning sentence and its money formatting (DOMAIN.md §6, "Reasoning").

Pure string functions of integers: no floats, no locale. The band uses an EN DASH
(U+2013). Clauses that depend only on the carrier are rendered once per pool version
(`am_best_clause`, `placement_clause`, `service_clause`, folded into
`middle_clauses` and `tail_clauses`); `reasoning_sentence` is the clause-by-clause
reference of the whole sentence.
"""

from __future__ import annotations

EN_DASH = "\u2013"

LINE_SHORT: dict[str, str] = {
    "general_liability": "general liability",
    "professional_liability": "prof. liability",
    "directors_officers": "D&O",
    "cyber": "cyber",
    "workers_comp": "workers' comp",
    "commercial_auto": "commercial auto",
    "property": "property",
    "bop": "BOP",
    "umbrella": "umbrella",
}
# Index = level (1 … 4); index 0 unused.
APPETITE_ADJ: tuple[str, ...] = ("", "Strong", "Solid", "Moderate", "Limited")
PRICING_WORDS: tuple[str, ...] = (
    "",
    "below market",
    "at market",
    "above market",
    "well above market",
)
BINDING_WORDS: dict[str, str] = {
    "instant": "instant bind",
    "delegated": "delegated authority",
    "submission": "underwriter review",
}
BAND_PREFIX: dict[str, str] = {"in": "", "below": "below its ", "above": "above its "}

_UNITS: tuple[tuple[int, str], ...] = ((1_000_000_000, "B"), (1_000_000, "M"), (1_000, "K"))


def money_parts(amount: int) -> tuple[str, str]:
    """(number, unit) of a whole-dollar amount: B from 1e9, M from 1e6, K from 1e3.

    The number is whole units plus, when there is a remainder, up to two decimals
    truncated (never rounded) with trailing zeros and the dot stripped:
    2_999_999 -> ("2.99", "M"), 2_500_000 -> ("2.5", "M"), 999 -> ("999", "").
    """
    for size, unit in _UNITS:
        if amount >= size:
            whole, rest = divmod(amount, size)
            hundredths = rest * 100 // size
            if hundredths == 0:
                return str(whole), unit
            return f"{whole}.{hundredths:02d}".rstrip("0"), unit
    return str(amount), ""


def format_money(amount: int) -> str:
    """One amount with its unit, e.g. `$2.99M`, `$250K`, `$1B`."""
    number, unit = money_parts(amount)
    return f"${number}{unit}"


def format_band(low: int, high: int) -> str:
    """A money range with an EN DASH: the unit once when both ends share it
    (`$10–15M`, `$2.5–15M`), otherwise on each end (`$500M–1B`, `$250K–1M`)."""
    low_n, low_u = money_parts(low)
    high_n, high_u = money_parts(high)
    if low_u == high_u:
        return f"${low_n}{EN_DASH}{high_n}{high_u}"
    return f"${low_n}{low_u}{EN_DASH}{high_n}{high_u}"


def format_premium(amount: int) -> str:
    """Whole dollars with comma thousands: 12528 -> `$12,528`."""
    return f"${amount:,}"


def format_complaint_index(ci_x100: int) -> str:
    """The NAIC complaint index x100 as a decimal with exactly 2 places: 13 -> `0.13`."""
    return f"{ci_x100 // 100}.{ci_x100 % 100:02d}"


def am_best_clause(rating: str, fsc: str | None, outlook: str | None) -> str:
    """`AM Best A+ (XI)`, `AM Best A (FSC n/a)`, plus `, negative outlook` /
    `, developing outlook` when that applies."""
    text = f"AM Best {rating} ({fsc if fsc is not None else 'FSC n/a'})"
    if outlook in ("negative", "developing"):
        text += f", {outlook} outlook"
    return text


def placement_clause(binding: str, turnaround: int | None, access: str, market_type: str) -> str:
    """`delegated authority, 2-day quote, via wholesaler, E&S` and its variants."""
    text = BINDING_WORDS[binding]
    if turnaround == 0:
        text += ", same-day quote"
    elif turnaround is not None:
        text += f", {turnaround}-day quote"
    if access == "wholesale":
        text += ", via wholesaler"
    if market_type == "surplus":
        text += ", E&S"
    return text


def service_clause(level: int, ci_x100: int | None) -> str:
    """`low complaint index 0.13` at L1, `high complaint index 2.40` at L4, else ``."""
    if ci_x100 is None or level not in (1, 4):
        return ""
    word = "low" if level == 1 else "high"
    return f"{word} complaint index {format_complaint_index(ci_x100)}"


def appetite_heads(state: str, line: str) -> tuple[str, ...]:
    """`{Adj} {STATE} {line_short} appetite, ` for each appetite level (index 1 … 4)."""
    short = LINE_SHORT[line]
    return tuple(f"{adj} {state} {short} appetite, " if adj else "" for adj in APPETITE_ADJ)


def pricing_words(pricing_level: int, min_premium_applies: bool) -> str:
    """`below market` … `well above market`, plus `, minimum premium` when it applies."""
    words = PRICING_WORDS[pricing_level]
    return words + ", minimum premium" if min_premium_applies else words


# " (words)" after the premium, indexed by 2 x pricing level + min_premium_applies.
PREMIUM_SUFFIX: tuple[str, ...] = tuple(
    f" ({pricing_words(code // 2, bool(code % 2))})" if code >= 2 else "" for code in range(10)
)


def middle_clauses(band: str, am_best: str) -> str:
    """The carrier-only text from the band to the premium amount:
    `$10–15M band; AM Best A+ (XI); est. premium $`."""
    return f"{band} band; {am_best}; est. premium $"


def tail_clauses(placement: str, service: str) -> str:
    """`; {placement}[; {service}].`: everything after the premium clause."""
    return f"; {placement}; {service}." if service else f"; {placement}."


def appetite_clause(level: int, state: str, line: str, band_position: str, band: str) -> str:
    """Clause 1: `Strong CA prof. liability appetite, $10–15M band` (or `below its …`)."""
    return appetite_heads(state, line)[level] + f"{BAND_PREFIX[band_position]}{band} band"


def premium_clause(premium: int, pricing_level: int, min_premium_applies: bool) -> str:
    """Clause 3: `est. premium $12,528 (below market)` (`, minimum premium` when it applies)."""
    words = pricing_words(pricing_level, min_premium_applies)
    return f"est. premium {format_premium(premium)} ({words})"


def reasoning_sentence(
    *,
    appetite_level: int,
    state: str,
    line: str,
    band_position: str,
    band_min: int,
    band_max: int,
    rating: str,
    fsc: str | None,
    outlook: str | None,
    premium: int,
    pricing_level: int,
    min_premium_applies: bool,
    binding: str,
    turnaround: int | None,
    access: str,
    market_type: str,
    service_level: int,
    ci_x100: int | None,
) -> str:
    """The whole §6 sentence, clause by clause, joined with `"; "` and ended with `"."`.

    This is the readable reference; `evaluate.render_candidates` builds the same text
    from pre-rendered pieces (`appetite_heads`, `middle_clauses`, `PREMIUM_SUFFIX`,
    `tail_clauses`), and the tests check both give identical strings."""
    clauses = [
        appetite_clause(
            appetite_level, state, line, band_position, format_band(band_min, band_max)
        ),
        am_best_clause(rating, fsc, outlook),
        premium_clause(premium, pricing_level, min_premium_applies),
        placement_clause(binding, turnaround, access, market_type),
    ]
    service = service_clause(service_level, ci_x100)
    if service:
        clauses.append(service)
    return "; ".join(clauses) + "."
