"""`evaluate`: filter → score → rank → render for one profile on a prepared pool.

Pure: no I/O and no wall clock. Timings come from the injected `clock` (a monotonic
nanosecond counter); without one every timing is 0.

Two paths give the same result. On a pool with columns (`PreparedPool.columns`, every
pool whose numbers fit their bounds) the stages run on arrays (`columns`) and the
candidates are written straight to JSON; otherwise they run carrier by carrier
(`filter_stage`, `score_stage`, `ranking.rank`, `render_candidates`), the functions
`build_trace` uses too. The tests compare both paths, and `evaluate` with the trace.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from typing import Any

import attrs
import orjson

from nexio_lite.verticals.carriers import columns as col
from nexio_lite.verticals.carriers.context import ProfileContext, make_context
from nexio_lite.verticals.carriers.facts import CarrierFacts
from nexio_lite.verticals.carriers.prepared import PreparedPool
from nexio_lite.verticals.carriers.ranking import (
    Scored,
    confidence_counts,
    rank,
    score_carrier,
    tier_counts,
)
from nexio_lite.verticals.carriers.reasoning import BAND_PREFIX, PREMIUM_SUFFIX, appetite_heads
from nexio_lite.verticals.carriers.rules import RULE_CODES, checked_rules, first_failure
from nexio_lite.verticals.carriers.schema import Options, Profile

Clock = Callable[[], int]


@attrs.frozen(slots=True)
class StageRecord:
    """One pipeline stage: timing (ns, from the injected clock), counts and extras."""

    name: str
    start_ns: int
    duration_ns: int
    count_in: int
    count_out: int
    extras: dict[str, Any] = attrs.field(factory=dict)

    def to_dict(self, started_at: str, duration_ms: float | None = None) -> dict[str, Any]:
        """The stored stage shape `{name, started_at, duration_ms, in, out, ...extras}`;
        `duration_ms` defaults to `duration_ns` in milliseconds, rounded to 3 decimals."""
        return {
            "name": self.name,
            "started_at": started_at,
            "duration_ms": (
                round(self.duration_ns / 1_000_000, 3) if duration_ms is None else duration_ms
            ),
            "in": self.count_in,
            "out": self.count_out,
            **self.extras,
        }


@attrs.frozen(slots=True)
class Evaluation:
    """The result of `evaluate`. `pool_size == filtered + passed` always holds;
    `candidates_json` is the JSON (UTF-8, exactly as `orjson.dumps(candidates)` writes
    it) of the first `options.limit` ranked candidates (all when no limit).

    `candidates` is that list as Python data, parsed from `candidates_json` on first
    use: the service stores the JSON as it is, and only in-process readers (tests,
    tools) pay for one dict per candidate."""

    pool_size: int
    filtered: int
    passed: int
    candidates_json: bytes
    as_of: dt.date
    as_of_source: str
    stages: tuple[StageRecord, ...]

    @functools.cached_property
    def candidates(self) -> list[dict[str, Any]]:
        """The candidates in the API shape (a new list, parsed once per Evaluation)."""
        return orjson.loads(self.candidates_json)  # type: ignore[no-any-return]


def resolve_as_of(pool: PreparedPool, options: Options) -> tuple[dt.date, str]:
    """(as_of, source): `options.as_of` when given, else the pool's as_of."""
    if options.as_of is not None:
        return options.as_of, "options"
    return pool.meta.as_of, "pool"


def filter_stage(
    pool: PreparedPool, ctx: ProfileContext
) -> tuple[list[CarrierFacts], dict[str, int]]:
    """(passing carriers in pool order, primary_reason_counts).

    The counts list all 12 rule codes in order, zeros included; F01–F03 come from the
    pool's (line, state) index, F04–F12 run per carrier (skipping rules that cannot
    fail for this profile)."""
    counts = [*pool.early_counts(ctx.line, ctx.state), *([0] * (len(RULE_CODES) - 3))]
    rules = checked_rules(ctx)
    passers: list[CarrierFacts] = []
    facts = pool.facts
    for i in pool.bucket(ctx.line, ctx.state):
        f = facts[i]
        failed = first_failure(ctx, f, rules)
        if failed < 0:
            passers.append(f)
        else:
            counts[failed] += 1
    return passers, dict(zip(RULE_CODES, counts, strict=True))


def score_stage(ctx: ProfileContext, passers: list[CarrierFacts]) -> list[Scored]:
    """Score every passing carrier (pool order)."""
    return [score_carrier(ctx, f) for f in passers]


def render_candidates(
    ctx: ProfileContext, ranked: list[Scored], limit: int | None
) -> list[dict[str, Any]]:
    """The API shape of the first `limit` ranked candidates (all when None), in rank
    order; key order: rank, carrier_id, name, tier, confidence, fit_score, scores,
    reasoning. The reasoning is `reasoning.reasoning_sentence`, inlined for speed."""
    heads = appetite_heads(ctx.state, ctx.line)
    out: list[dict[str, Any]] = []
    append = out.append
    for position, s in enumerate(ranked if limit is None else ranked[:limit], start=1):
        f, info = s.facts, s.info
        levels = info.levels
        append(
            {
                "rank": position,
                "carrier_id": f.carrier_id,
                "name": f.name,
                "tier": info.tier_name,
                "confidence": s.confidence,
                "fit_score": info.fit_score,
                "scores": info.scores.copy(),
                "reasoning": (
                    f"{heads[levels[0]]}{BAND_PREFIX[s.band]}{f.middle_clauses}{s.premium:,}"
                    f"{PREMIUM_SUFFIX[2 * levels[3] + s.min_premium_applies]}{f.tail_clauses}"
                ),
            }
        )
    return out


def _zero_clock() -> int:
    return 0


def evaluate(
    pool: PreparedPool, profile: Profile, options: Options, clock: Clock | None = None
) -> Evaluation:
    """Run filter, score, rank and render. Deterministic in (pool, profile, options)
    apart from the stage timings, which come from `clock` (all 0 when None)."""
    tick = clock or _zero_clock
    as_of, source = resolve_as_of(pool, options)
    ctx = make_context(profile, as_of)
    size = pool.size

    cols = pool.columns
    t0 = tick()
    if cols is not None and col.fast_path_fits(ctx):  # the same results, on arrays
        passing, reasons = col.filter_columns(cols, ctx)
        t1 = tick()
        scored_columns = col.score_columns(cols, ctx, passing)
        t2 = tick()
        ordered = col.rank_columns(cols, scored_columns)
        tiers, confidences = col.rank_counts(ordered)
        t3 = tick()
        candidates = col.render_json(cols.texts, ctx, ordered, options.limit)
        t4 = tick()
        passed = len(passing)
    else:
        passers, reasons = filter_stage(pool, ctx)
        t1 = tick()
        scored = score_stage(ctx, passers)
        t2 = tick()
        ranked = rank(scored)
        tiers, confidences = tier_counts(ranked), confidence_counts(ranked)
        t3 = tick()
        candidates = orjson.dumps(render_candidates(ctx, ranked, options.limit))
        t4 = tick()
        passed = len(passers)

    stages = (
        StageRecord(
            "filter", t0, t1 - t0, size, passed,
            {"removed": size - passed, "primary_reason_counts": reasons},
        ),
        StageRecord("score", t1, t2 - t1, passed, passed),
        StageRecord(
            "rank", t2, t3 - t2, passed, passed,
            {"tier_counts": tiers, "confidence_counts": confidences},
        ),
        StageRecord("render", t3, t4 - t3, passed, len(range(passed)[: options.limit])),
    )  # fmt: skip
    return Evaluation(
        pool_size=size,
        filtered=size - passed,
        passed=passed,
        candidates_json=candidates,
        as_of=as_of,
        as_of_source=source,
        stages=stages,
    )
