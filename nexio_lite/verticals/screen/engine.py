"""`screen`: a validated request and a rule book in, the job's result and trace out.

Pure: no I/O and no wall clock. Stage timings come from the injected `clock` (a monotonic
nanosecond counter) and `started_at` from `wall_start_ns` (the wall-clock time, in ns since
the epoch, of the clock's first reading); without them every duration is 0 and every
`started_at` is the epoch. Everything else is a function of (request, rule book, version):
the same inputs give the same result bytes.

Stages: `validate` (content digest and length, which rules apply), `match` (fold the
content once, find the occurrences each applying rule needs), `score` (findings, their
order, the risk score, the result).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from typing import Any

import attrs

from nexio_lite.models import iso_ms
from nexio_lite.verticals.screen.matching import (
    NO_OCCURRENCES,
    Occurrences,
    find_occurrences,
    fold,
)
from nexio_lite.verticals.screen.request import ScreenContext, ScreenRequest
from nexio_lite.verticals.screen.rulebook import ANY, PRIORITIES, Rule, Rulebook

RESULT_TYPE = "analysis.screen.result"
JOB_TYPE = "screen_analysis"
STAGES: tuple[str, ...] = ("validate", "match", "score")
PRIORITY_WEIGHTS: dict[str, int] = {"p1": 75, "p2": 35, "p3": 10}
_PRIORITY_RANK = {priority: rank for rank, priority in enumerate(PRIORITIES)}

Clock = Callable[[], int]


@attrs.frozen(slots=True)
class RuleOutcome:
    """How one rule went: why it did not apply (None when it did), what was counted, and
    whether it fired. `trigger` is None where the trace shows `trigger_count` null."""

    rule: Rule
    not_applied_because: str | None
    phrases: Occurrences
    trigger: Occurrences | None
    fired: bool

    def to_trace(self) -> dict[str, Any]:
        return {
            "rule_id": self.rule.id,
            "applies": self.not_applied_because is None,
            "not_applied_because": self.not_applied_because,
            "trigger_count": None if self.trigger is None else self.trigger.count,
            "phrase_count": self.phrases.count,
            "fired": self.fired,
        }

    def evidence(self) -> Occurrences:
        """The finding's evidence: the phrases' occurrences for a forbidden rule, the
        trigger's for a required one (none when its trigger is empty)."""
        if self.rule.kind == "forbidden":
            return self.phrases
        return self.trigger or NO_OCCURRENCES


@attrs.frozen(slots=True)
class ScreenOutcome:
    """`result` is the envelope's `result` of a completed job; `trace` the job's trace.
    Both are plain JSON data, keys in the documented order."""

    result: dict[str, Any]
    trace: dict[str, Any]


def not_applied_because(rule: Rule, context: ScreenContext) -> str | None:
    """None when the rule applies in this context, else the first failing of `state`,
    `market`, `document`. An absent state or market satisfies only `["*"]`."""
    for reason, allowed, value in (
        ("state", rule.states, context.state),
        ("market", rule.markets, context.market),
        ("document", rule.documents, context.document),
    ):
        if allowed[0] != ANY and value not in allowed:
            return reason
    return None


def evaluate_rule(
    rule: Rule,
    reason: str | None,
    content: str,
    folded: str,
    cache: dict[tuple[str, ...], Occurrences],
) -> RuleOutcome:
    """Match one rule, unless it does not apply (`reason`, from `not_applied_because`), and
    decide whether it fires. `folded` is `fold(content)`; `cache` holds the occurrences of
    the phrase lists already matched in this content."""
    if reason is not None:
        return RuleOutcome(rule, reason, NO_OCCURRENCES, None, fired=False)

    def occurrences(phrases: tuple[str, ...]) -> Occurrences:
        found = cache.get(phrases)
        if found is None:
            found = cache[phrases] = find_occurrences(content, phrases, folded=folded)
        return found

    phrases = occurrences(rule.phrases)
    if rule.kind == "forbidden":
        return RuleOutcome(rule, None, phrases, None, fired=phrases.count > 0)
    if not rule.trigger:
        return RuleOutcome(rule, None, phrases, None, fired=phrases.count == 0)
    trigger = occurrences(rule.trigger)
    fired = trigger.count > 0 and phrases.count == 0
    return RuleOutcome(rule, None, phrases, trigger, fired=fired)


def risk_score(priorities: Iterable[str]) -> int:
    """floor((200·(D − P) + D) / (2·D)) with P = Π (100 − w(p)), D = 100^n: the rounded
    percentage 100·(1 − P/D), in integers; 0 without findings."""
    product, denominator = 1, 1
    for priority in priorities:
        product *= 100 - PRIORITY_WEIGHTS[priority]
        denominator *= 100
    return (200 * (denominator - product) + denominator) // (2 * denominator)


def render_finding(outcome: RuleOutcome, rulebook: Rulebook) -> dict[str, Any]:
    """A finding: the rule, its evidence, and one citation per distinct regulation (in
    order of first citation) holding its cited paragraphs (in order of citation)."""
    rule = outcome.rule
    evidence = outcome.evidence()
    chunks: dict[str, list[dict[str, Any]]] = {}
    for cite in rule.cites:
        paragraph = rulebook.regulation(cite.regulation).paragraphs[cite.paragraph - 1]
        chunks.setdefault(cite.regulation, []).append(paragraph.to_chunk())
    return {
        "rule_id": rule.id,
        "priority": rule.priority,
        "title": rule.title,
        "details": rule.details,
        "evidence": [o.to_dict() for o in evidence.first],
        "evidence_count": evidence.count,
        "citations": [
            {"regulation": rulebook.regulation(regulation_id).header(), "chunks": cited}
            for regulation_id, cited in chunks.items()
        ],
    }


def order_findings(fired: list[RuleOutcome], content_length: int) -> list[RuleOutcome]:
    """By priority (p1 first), then the first evidence's start (the content's length when
    there is none), then rule id in code-point order."""

    def key(outcome: RuleOutcome) -> tuple[int, int, str]:
        first = outcome.evidence().first
        start = first[0].start_offset if first else content_length
        return (_PRIORITY_RANK[outcome.rule.priority], start, outcome.rule.id)

    return sorted(fired, key=key)


def build_result(
    request: ScreenRequest,
    rulebook: Rulebook,
    version: int,
    content_sha256: str,
    outcomes: list[RuleOutcome],
) -> dict[str, Any]:
    """The `analysis.screen.result` object."""
    fired = order_findings([o for o in outcomes if o.fired], len(request.content))
    counts = dict.fromkeys(PRIORITIES, 0)
    for outcome in fired:
        counts[outcome.rule.priority] += 1
    return {
        "type": RESULT_TYPE,
        "rulebook": rulebook_ref(request, rulebook, version),
        "content_sha256": content_sha256,
        "risk_score": risk_score(o.rule.priority for o in fired),
        "counts": counts,
        "findings": [render_finding(o, rulebook) for o in fired],
    }


def rulebook_ref(request: ScreenRequest, rulebook: Rulebook, version: int) -> dict[str, Any]:
    return {"id": request.rulebook, "version": version, "sha256": rulebook.sha256}


def _zero_clock() -> int:
    return 0


def _iso(ms: int) -> str:
    text = iso_ms(ms)
    assert text is not None
    return text


def screen(
    request: ScreenRequest,
    rulebook: Rulebook,
    *,
    version: int = 1,
    job_id: str = "",
    clock: Clock | None = None,
    wall_start_ns: int = 0,
) -> ScreenOutcome:
    """Screen `request.content` against `rulebook` (version `version` of the request's rule
    book). Deterministic in (request, rulebook, version) apart from the trace's `id`
    (`job_id`) and the stage timings (module doc)."""
    tick = clock or _zero_clock
    t0 = tick()
    content = request.content
    content_sha256 = hashlib.sha256(content.encode("utf-8")).hexdigest()
    reasons = [not_applied_because(rule, request.context) for rule in rulebook.rules]
    t1 = tick()
    folded = fold(content) if None in reasons else content
    cache: dict[tuple[str, ...], Occurrences] = {}
    outcomes = [
        evaluate_rule(rule, reason, content, folded, cache)
        for rule, reason in zip(rulebook.rules, reasons, strict=True)
    ]
    t2 = tick()
    result = build_result(request, rulebook, version, content_sha256, outcomes)
    t3 = tick()

    stages = [
        {
            "name": name,
            "started_at": _iso((wall_start_ns + start - t0) // 1_000_000),
            "duration_ms": round((end - start) / 1_000_000, 3),
        }
        for name, start, end in zip(STAGES, (t0, t1, t2), (t1, t2, t3), strict=True)
    ]
    trace = {
        "id": job_id,
        "type": JOB_TYPE,
        "rulebook": rulebook_ref(request, rulebook, version),
        "context": request.context.to_dict(),
        "content_length": len(content),
        "content_sha256": content_sha256,
        "stages": stages,
        "rules": [o.to_trace() for o in outcomes],
    }
    return ScreenOutcome(result=result, trace=trace)
