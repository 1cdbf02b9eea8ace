"""What one page of the console's trace shows, computed in a scoring process.

`ConsoleTraceView` is a `trace_output.TraceView`: the server sends it through the same
path as every trace (`Services.trace`, a scoring process with the pool prepared, the
trace slots) and gets back the JSON of one page, ~50-150 KB whatever the pool's size:

- the header of DOMAIN.md §8 (profile as validated, defaults applied, pool, as_of) and
  the stored stages with their timings;
- the filtered carriers grouped by the rule that removed them: every group's count is
  the stored filter stage's `primary_reason_counts` (the JSON trace's), recomputed here
  and checked against it (TraceMismatch if they ever differ), and one page of one
  group's carriers, each with its failing rule's inputs and its other failing rules;
- one page of the ranked candidates, each with its six dimensions (level and the rule
  that chose it, in words), tier, fit, confidence, reasoning, and what put it above the
  next one.

Each carrier shown is explained by the trace's own entry builder (`pipeline.trace`), so
the page says exactly what the JSON trace says. The pipeline runs once over the pool
(filter, score, rank: ~1 s for 99,999 carriers) and entries are built only for the
carriers shown. Pure: no I/O, no clock.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

import attrs
import orjson

from nexio_lite.console import explain
from nexio_lite.verticals.carriers.context import ProfileContext, make_context
from nexio_lite.verticals.carriers.evaluate import (
    filter_stage,
    render_candidates,
    resolve_as_of,
    score_stage,
)
from nexio_lite.verticals.carriers.facts import CarrierFacts
from nexio_lite.verticals.carriers.prepared import PreparedPool
from nexio_lite.verticals.carriers.ranking import Scored, rank
from nexio_lite.verticals.carriers.rules import (
    FAIL,
    INDEXED_RULES,
    RULE_CODES,
    carrier_inactive,
    checked_rules,
    first_failure,
    line_not_written,
    state_not_available,
)
from nexio_lite.verticals.carriers.schema import (
    DIMENSIONS,
    Options,
    Profile,
)

# The trace's own builder of one §8 carrier entry (all 12 rules; candidates' details).
from nexio_lite.verticals.carriers.trace import TraceMismatch, _carrier_entry, trace_header

CANDIDATES_PER_PAGE = 25
FILTERED_PER_PAGE = 50
NAME_CHARS = 200


def pages(total: int, size: int) -> int:
    """How many pages `total` items fill (at least 1)."""
    return max(1, -(-total // size))


def _positive(_instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if value < 1:
        raise ValueError(f"{attribute.name} must be at least 1, not {value}")


@attrs.frozen
class ConsoleTraceView:
    """Which page of the console's trace to compute: `candidate_page` of the ranking and
    `filtered_page` of the group of carriers whose first failing rule is `rule` (None:
    the first group that has any). Pages past the last are shown as the last."""

    candidate_page: int = attrs.field(default=1, validator=_positive)
    rule: str | None = attrs.field(default=None)
    filtered_page: int = attrs.field(default=1, validator=_positive)

    @rule.validator
    def _known_rule(self, _attribute: attrs.Attribute[str | None], value: str | None) -> None:
        if value is not None and value not in RULE_CODES:
            raise ValueError(f"unknown rule {value!r}")

    def render(
        self,
        pool: PreparedPool,
        profile: Profile,
        options: Options,
        *,
        eval_id: str,
        created_at: str,
        stages: list[dict[str, Any]],
    ) -> bytes:
        return orjson.dumps(
            trace_page_data(
                self,
                pool,
                profile,
                options,
                eval_id=eval_id,
                created_at=created_at,
                stages=stages,
            )
        )


def _group_members(pool: PreparedPool, ctx: ProfileContext, rule_index: int) -> list[int]:
    """Indices (pool order) of the carriers whose first failing rule is `rule_index`."""
    facts = pool.facts
    if rule_index >= INDEXED_RULES:
        rules = checked_rules(ctx)
        return [
            i
            for i in pool.bucket(ctx.line, ctx.state)
            if first_failure(ctx, facts[i], rules) == rule_index
        ]
    early = (
        carrier_inactive,
        lambda f: line_not_written(ctx.line, f),
        lambda f: state_not_available(ctx.state, f),
    )
    checks = early[: rule_index + 1]
    return [f.index for f in facts if checks[-1](f) and not any(check(f) for check in checks[:-1])]


def _stored_counts(stages: list[dict[str, Any]]) -> dict[str, int] | None:
    stage = next((s for s in stages if s.get("name") == "filter"), None)
    counts = None if stage is None else stage.get("primary_reason_counts")
    return dict(counts) if isinstance(counts, Mapping) else None


def _clip(name: str) -> str:
    return name if len(name) <= NAME_CHARS else name[: NAME_CHARS - 1] + "\u2026"


def _filtered_carrier(ctx: ProfileContext, f: CarrierFacts, rule: str) -> dict[str, Any]:
    entry = _carrier_entry(ctx, f, None)
    if entry["primary_reason"] != rule:
        raise TraceMismatch(f"{f.carrier_id}: first failing rule is not {rule}")
    failing = [r for r in entry["rules"] if r["outcome"] == FAIL]
    return {
        "carrier_id": f.carrier_id,
        "name": _clip(f.name),
        "why": explain.filter_reason(rule, failing[0]["inputs"]),
        "inputs": explain.inputs_text(failing[0]["inputs"]),
        "also": [r["rule"] for r in failing[1:]],
    }


def _filtered(
    pool: PreparedPool, ctx: ProfileContext, counts: dict[str, int], view: ConsoleTraceView
) -> dict[str, Any]:
    rule = view.rule
    if rule is None:
        rule = next((code for code in RULE_CODES if counts[code]), None)
    groups = [
        {"rule": code, "title": explain.RULE_TITLES[code], "count": counts[code]}
        for code in RULE_CODES
    ]
    if rule is None:
        return {"groups": groups, "rule": None, "page": 1, "pages": 1, "carriers": []}
    total = counts[rule]
    last = pages(total, FILTERED_PER_PAGE)
    page = min(view.filtered_page, last)
    members = _group_members(pool, ctx, RULE_CODES.index(rule))
    if len(members) != total:
        raise TraceMismatch(f"{rule}: {len(members)} carriers, the filter stage counted {total}")
    start = (page - 1) * FILTERED_PER_PAGE
    shown = [
        _filtered_carrier(ctx, pool.facts[i], rule)
        for i in members[start : start + FILTERED_PER_PAGE]
    ]
    return {
        "groups": groups,
        "rule": rule,
        "title": explain.RULE_TITLES[rule],
        "count": total,
        "page": page,
        "pages": last,
        "first": start + 1,
        "carriers": shown,
    }


def _candidate(ctx: ProfileContext, s: Scored, shown: dict[str, Any]) -> dict[str, Any]:
    entry = _carrier_entry(ctx, s.facts, (s, shown))
    dimensions = entry["dimensions"]
    return {
        "rank": entry["rank"],
        "carrier_id": entry["carrier_id"],
        "name": entry["name"],
        "tier": entry["tier"],
        "fit": entry["fit"],
        "dimensions": dimensions,
        "confidence": entry["confidence"]["value"],
        "explained": {
            "dimensions": [
                {
                    "name": d,
                    "title": explain.DIMENSION_TITLES[d],
                    "level": dimensions[d]["level"],
                    "rule": explain.dimension_rule(d, dimensions[d]),
                }
                for d in DIMENSIONS
            ],
            "tier": explain.tier_rule(entry["tier"], entry["fit"], dimensions["appetite"]["level"]),
            "fit": explain.fit_text(entry["fit"]),
            "confidence": explain.confidence_text(entry["confidence"]),
        },
        "reasoning": entry["reasoning"],
    }


def _candidates(ctx: ProfileContext, ranked: list[Scored], page_asked: int) -> dict[str, Any]:
    total = len(ranked)
    last = pages(total, CANDIDATES_PER_PAGE)
    page = min(page_asked, last)
    start = (page - 1) * CANDIDATES_PER_PAGE
    chosen = ranked[start : start + CANDIDATES_PER_PAGE + 1]  # one more: what follows
    rendered = render_candidates(ctx, chosen, None)
    items = []
    for s, shown in zip(chosen, rendered, strict=True):
        shown["rank"] += start
        items.append(_candidate(ctx, s, shown))
    for above, below in itertools.pairwise(items):
        above["above_next"] = explain.decided_by(above, below)
    items = items[:CANDIDATES_PER_PAGE]
    for item in items:  # only what the page shows crosses the process boundary
        del item["dimensions"]
        item["name"] = _clip(item["name"])
    return {"total": total, "page": page, "pages": last, "first": start + 1, "ranked": items}


def trace_page_data(
    view: ConsoleTraceView,
    pool: PreparedPool,
    profile: Profile,
    options: Options,
    *,
    eval_id: str,
    created_at: str,
    stages: list[dict[str, Any]],
) -> dict[str, Any]:
    """The data of one console trace page (see the module docstring)."""
    as_of, source = resolve_as_of(pool, options)
    ctx = make_context(profile, as_of)
    passers, counts = filter_stage(pool, ctx)
    stored = _stored_counts(stages)
    if stored is not None and stored != counts:
        raise TraceMismatch("the filter stage's stored counts differ from the pool's")
    ranked = rank(score_stage(ctx, passers))
    return {
        **trace_header(pool, profile, ctx, source, eval_id, created_at, stages),
        "filtered_total": pool.size - len(passers),
        "filtered": _filtered(pool, ctx, counts, view),
        "candidates": _candidates(ctx, ranked, view.candidate_page),
        "ordering": explain.ORDERING,
    }
