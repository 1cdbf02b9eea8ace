"""How fast a large text is screened: `bench_screen()` for the project's benchmark script.

The content is built deterministically (a fixed linear congruential sequence picks the
sentences): broker prose with, in about one sentence in three, a phrase or trigger of the
model rule book, some in upper or title case, some with a no-break space or a line break
inside, and non-ASCII punctuation throughout, so both the folding of non-ASCII text and the
whitespace runs are exercised. The context (`surplus`, `proposal`) makes every model rule
apply, so every phrase list is matched.
"""

from __future__ import annotations

import gc
import statistics
import time
from typing import Any

from nexio_lite.verticals.screen.engine import STAGES, screen
from nexio_lite.verticals.screen.model import model_rulebook
from nexio_lite.verticals.screen.request import (
    CONTENT_MAX_CHARS,
    ScreenRequest,
    load_screen_request,
)

_FILLER: tuple[str, ...] = (
    "The insured operates three warehouses and a fleet of twelve delivery vans.",
    "Our team reviewed the loss runs for the last five years with the client’s CFO.",
    "Limits of $1,000,000 per occurrence and $2,000,000 aggregate are proposed.",
    "Premium is subject to audit at the end of the policy period — see section 4.",
    "Coverage terms follow the carrier’s form CG 00 01 with the endorsements listed below.",
    "Please return the signed application and the schedule of locations by Friday.",
    "Le client a demandé une révision des franchises pour l’exercice suivant.",
    "Underwriting may ask for additional information about the insured's operations.",
)
_FLAGGED: tuple[str, ...] = (
    "Guaranteed approval is available for every applicant this month.",
    "With us there are NO EXCLUSIONS on the standard package.",
    "Consider yourself covered while we finish the paperwork.",
    "Ask about our Cash Back offer and a free gift for new clients.",
    "We will pay your deductible on the first claim.",
    "Send the owner's Social Security Number and date of birth with the form.",
    "The carrier is a surplus\u00a0lines insurer, placed through an excess and\nsurplus broker.",
    "A broker fee applies to this placement, and a policy fee may apply at renewal.",
    "The carrier is rated A by AM Best, and A.M. Best affirmed the outlook.",
    "This is the lowest price and the best coverage in the market, simply unbeatable.",
    "The insurer is not licensed by the state of the insured.",
    "This coverage is not protected by the state guaranty fund.",
)


def bench_content(chars: int = CONTENT_MAX_CHARS) -> str:
    """A deterministic content of exactly `chars` characters (module doc)."""
    parts: list[str] = []
    length = 0
    state = 20250630
    while length < chars:
        state = (state * 1103515245 + 12345) % 2**31
        pick, kind = divmod(state >> 8, 3)
        sentence = _FLAGGED[pick % len(_FLAGGED)] if kind == 0 else _FILLER[pick % len(_FILLER)]
        parts.append(sentence)
        length += len(sentence) + 1
    return " ".join(parts)[:chars]


def bench_request(chars: int = CONTENT_MAX_CHARS) -> ScreenRequest:
    """The benchmark's request: `bench_content(chars)` for a surplus-lines proposal."""
    return load_screen_request(
        {
            "content": bench_content(chars),
            "context": {"market": "surplus", "document": "proposal"},
            "rulebook": "rules:default",
        }
    )


def _ms(ns: float) -> float:
    return round(ns / 1_000_000, 3)


def bench_screen(chars: int = CONTENT_MAX_CHARS, runs: int = 15) -> dict[str, Any]:
    """Screen the benchmark content `runs` times on the model rule book (after one warm-up
    run, with the garbage collector paused) and report the figures in milliseconds: the
    median, minimum and maximum of the whole `screen` call and the median of each stage,
    with the content's size and what was found (occurrences of every matched list)."""
    rulebook = model_rulebook()
    request = bench_request(chars)
    outcome = screen(request, rulebook, clock=time.perf_counter_ns)
    totals: list[int] = []
    stages: dict[str, list[float]] = {name: [] for name in STAGES}
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(runs):
            start = time.perf_counter_ns()
            outcome = screen(request, rulebook, clock=time.perf_counter_ns)
            totals.append(time.perf_counter_ns() - start)
            for stage in outcome.trace["stages"]:
                stages[stage["name"]].append(stage["duration_ms"])
    finally:
        if gc_was_enabled:
            gc.enable()
    rules = outcome.trace["rules"]
    return {
        "content_chars": len(request.content),
        "content_bytes": len(request.content.encode("utf-8")),
        "rules_applied": sum(r["applies"] for r in rules),
        "occurrences": sum(r["phrase_count"] + (r["trigger_count"] or 0) for r in rules),
        "findings": len(outcome.result["findings"]),
        "runs": runs,
        "median_ms": _ms(statistics.median(totals)),
        "min_ms": _ms(min(totals)),
        "max_ms": _ms(max(totals)),
        "stage_median_ms": {name: statistics.median(v) for name, v in stages.items()},
    }


if __name__ == "__main__":
    import json

    print(json.dumps(bench_screen(), indent=2))
