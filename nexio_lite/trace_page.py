"""The audit trace as a readable HTML page, one page of candidates at a time (API.md §8).

`render_trace_page` turns a summary-level trace (DOMAIN.md §8: header, stages and the
ranked `candidates`) into one bounded HTML document: the header (profile, pool, as_of),
every stage with its timing, the filtered carriers counted by the rule that removed them
(the filter stage's `primary_reason_counts`), and `PAGE_SIZE` candidates of the ranking
with previous/next links. Whatever the pool's size the document stays small (about
100 KB for a page of 100; far under 2 MB). Every value from the trace is HTML-escaped.
Pure: no I/O, no clock.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from nexio_lite.verticals.carriers.schema import DIMENSIONS

PAGE_SIZE = 100
NAME_CHARS = 200  # names longer than this (an imported pool may have any) are cut short


def _positive(_instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if value < 1:
        raise ValueError(f"{attribute.name} must be at least 1, not {value}")


@attrs.frozen(slots=True)
class TracePage:
    """Which HTML page of a trace to render: `number` is 1-based, `size` candidates each."""

    number: int = attrs.field(default=1, validator=_positive)
    size: int = attrs.field(default=PAGE_SIZE, validator=_positive)


def page_count(candidates: int, size: int = PAGE_SIZE) -> int:
    """How many pages `candidates` ranked carriers fill (at least 1: an empty ranking
    still has its page, saying so)."""
    return max(1, -(-candidates // size))


_STYLE = """body{font-family:system-ui,sans-serif;margin:2em;line-height:1.4;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}
td,th{border:1px solid #ccc;padding:.2em .5em;font-size:90%;text-align:left;vertical-align:top}
th{background:#f3f3f3}td.n{text-align:right}dt{font-weight:600;float:left;clear:left;width:10em}
dd{margin-left:10.5em}nav{margin:.5em 0}nav a,nav span{margin-right:1em}
.L1{background:#e3f4e1}.L2{background:#f1f7dc}.L3{background:#fbf0d9}.L4{background:#f9dede}"""


def _e(value: object) -> str:
    """Any value as escaped text: strings as they are, None as a dash, others as JSON."""
    if value is None:
        return "\u2014"
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return html.escape(text, quote=True)


def _clip(text: object, limit: int = NAME_CHARS) -> object:
    """`text` cut to `limit` characters (with an ellipsis) when it is a longer string."""
    if isinstance(text, str) and len(text) > limit:
        return text[: limit - 1] + "\u2026"
    return text


def _rows(rows: Iterable[Iterable[str]]) -> str:
    return "".join("<tr>" + "".join(row) + "</tr>\n" for row in rows)


def _td(value: object, cls: str = "") -> str:
    return f'<td class="{cls}">{_e(value)}</td>' if cls else f"<td>{_e(value)}</td>"


def _header(trace: Mapping[str, Any]) -> str:
    pool = trace.get("pool", {})
    vertical = trace.get("vertical", {})
    source = "request options" if trace.get("as_of_source") == "options" else "the pool"
    defaults = ", ".join(trace.get("defaults_applied", [])) or "none"
    facts = [
        ("Created", _e(trace.get("created_at"))),
        ("Rules", f"{_e(vertical.get('id'))} · {_e(vertical.get('rules_version'))}"),
        (
            "Pool",
            f"{_e(pool.get('id'))} · {_e(pool.get('size'))} carriers · "
            f"{_e(pool.get('generator'))} · as of {_e(pool.get('as_of'))} · "
            f"sha256 <code>{_e(pool.get('sha256'))}</code>",
        ),
        ("As of", f"{_e(trace.get('as_of'))} (from {source})"),
        ("Defaults applied", _e(defaults)),
    ]
    items = "".join(f"<dt>{name}</dt><dd>{value}</dd>\n" for name, value in facts)
    profile = _rows((_td(k), _td(v)) for k, v in trace.get("profile", {}).items())
    return (
        f"<dl>\n{items}</dl>\n<h2>Profile</h2>\n"
        f"<table><tr><th>field</th><th>value</th></tr>\n{profile}</table>\n"
    )


def _stages(stages: list[Mapping[str, Any]]) -> str:
    rows = _rows(
        (_td(s.get("name")), _td(s.get("started_at")), _td(s.get("duration_ms"), "n"),
         _td(s.get("in"), "n"), _td(s.get("out"), "n"))
        for s in stages
    )  # fmt: skip
    return (
        "<h2>Stages</h2>\n<table><tr><th>stage</th><th>started</th><th>ms</th><th>in</th>"
        f"<th>out</th></tr>\n{rows}</table>\n"
    )


def _filtered(stages: list[Mapping[str, Any]]) -> str:
    stage = next((s for s in stages if s.get("name") == "filter"), None)
    counts = None if stage is None else stage.get("primary_reason_counts")
    if stage is None or not isinstance(counts, Mapping):
        return "<h2>Filtered carriers</h2>\n<p>Not recorded for this evaluation.</p>\n"
    rows = _rows((_td(rule), _td(count, "n")) for rule, count in counts.items())
    return (
        "<h2>Filtered carriers</h2>\n"
        f"<p>{_e(stage.get('removed'))} of {_e(stage.get('in'))} carriers were filtered out, "
        "each counted under the first rule it failed (F01 … F12, in order).</p>\n"
        f"<table><tr><th>rule</th><th>carriers</th></tr>\n{rows}</table>\n"
    )


def _nav(page: TracePage, pages: int) -> str:
    def link(number: int, label: str) -> str:
        if 1 <= number <= pages and number != page.number:
            return f'<a href="?page={number}">{label}</a>'
        return f"<span>{label}</span>"

    return (
        f"<nav>{link(page.number - 1, '« previous')}"
        f"<span>page {page.number} of {pages}</span>{link(page.number + 1, 'next »')}</nav>\n"
    )


def _candidates(candidates: list[Mapping[str, Any]], page: TracePage) -> str:
    total = len(candidates)
    pages = page_count(total, page.size)
    start = (page.number - 1) * page.size
    shown = candidates[start : start + page.size]
    if shown:
        showing = f"Showing {start + 1}\u2013{start + len(shown)} of {total}."
    else:
        showing = "No carrier passed the filter."
    heads = "".join(f"<th>{d}</th>" for d in DIMENSIONS)
    rows = _rows(
        [_td(c.get("rank"), "n"), _td(c.get("carrier_id")), _td(_clip(c.get("name"))),
         _td(c.get("tier")), _td(c.get("fit_score"), "n"), _td(c.get("confidence")),
         *(_td(c.get("scores", {}).get(d), _e(c.get("scores", {}).get(d))) for d in DIMENSIONS),
         _td(c.get("reasoning"))]
        for c in shown
    )  # fmt: skip
    nav = _nav(page, pages)
    return (
        "<h2>Candidates</h2>\n<p>Ranked by tier (STRONG_FIT, GOOD_FIT, POSSIBLE_FIT, "
        "WEAK_FIT), then by fit score, highest first; ties go to the better appetite, then "
        "the better financial level, then the lower premium, then the name. Levels run "
        f"from L1 (best) to L4. {showing}</p>\n{nav}"
        "<table><tr><th>rank</th><th>carrier</th><th>name</th><th>tier</th><th>fit</th>"
        f"<th>confidence</th>{heads}<th>reasoning</th></tr>\n{rows}</table>\n{nav}"
    )


def render_trace_page(trace: Mapping[str, Any], page: TracePage) -> str:
    """Page `page` of a summary-level trace as a complete HTML document.

    Raises ValueError when `page.number` is past the last page (`page_count` of the
    trace's candidates); the caller checks it first and answers 400."""
    candidates = list(trace.get("candidates", []))
    pages = page_count(len(candidates), page.size)
    if page.number > pages:
        raise ValueError(f"page {page.number} is past the last page, {pages}")
    eval_id = _e(trace.get("eval_id"))
    stages = list(trace.get("stages", []))
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>Trace {eval_id} · page {page.number} of {pages}</title>\n"
        f"<style>{_STYLE}</style></head><body>\n<h1>Audit trace <code>{eval_id}</code></h1>\n"
        f"{_header(trace)}{_stages(stages)}{_filtered(stages)}{_candidates(candidates, page)}"
        "<p>The whole trace, with every filtered carrier and the inputs of each of its 12 "
        "rules, is the JSON at this address (<code>Accept: application/json</code>; "
        "<code>?level=summary</code> for the header and candidates only).</p>\n"
        "</body></html>\n"
    )
