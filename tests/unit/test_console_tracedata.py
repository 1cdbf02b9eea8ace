"""The console's trace page data says what the JSON trace says (DOMAIN.md §8): the same
counts per rule, the same carriers in each group, the same levels and ranks, and a
sentence for every rule and dimension, on the demo pool with profiles that make every
rule remove somebody."""

from __future__ import annotations

from typing import Any

import pytest

from nexio_lite.console.explain import RULE_TITLES, decided_by
from nexio_lite.console.jobdata import candidate_slice
from nexio_lite.console.tracedata import (
    CANDIDATES_PER_PAGE,
    FILTERED_PER_PAGE,
    ConsoleTraceView,
    trace_page_data,
)
from nexio_lite.verticals.carriers.evaluate import evaluate
from nexio_lite.verticals.carriers.pool import DEMO_AS_OF, GENERATOR, generate_pool
from nexio_lite.verticals.carriers.prepared import PreparedPool, prepare_pool
from nexio_lite.verticals.carriers.request import load_request
from nexio_lite.verticals.carriers.rules import RULE_CODES
from nexio_lite.verticals.carriers.schema import PoolMeta
from nexio_lite.verticals.carriers.trace import build_trace

SEED = {"entity": "acme", "state": "CA", "line": "professional_liability", "revenue": 12_000_000}
# Every optional field given, tight enough that F04 and F07-F12 each remove carriers.
DEMANDING = dict(SEED, naics="541110", employees=900, years_in_business=1, loss_ratio=0.9,
                 claims_3yr=40, requested_limit=20_000_000, admitted_only=True,
                 effective_date="2025-07-01")  # fmt: skip


@pytest.fixture(scope="module")
def pool() -> PreparedPool:
    carriers = generate_pool()
    meta = PoolMeta(pool_id="carriers:all", generator=GENERATOR, size=len(carriers),
                    as_of=DEMO_AS_OF, sha256="0" * 64)  # fmt: skip
    return prepare_pool(meta, carriers)


def _both(pool: PreparedPool, profile: dict[str, Any], view: ConsoleTraceView) -> tuple[dict, dict]:
    request = load_request({"profile": profile, "pool": "carriers:all"})
    stages = [s.to_dict("2025-06-30T00:00:00.000Z") for s in
              evaluate(pool, request.profile, request.options).stages]  # fmt: skip
    kw: dict[str, Any] = {"eval_id": "eval_x", "created_at": "c", "stages": stages}
    page = trace_page_data(view, pool, request.profile, request.options, **kw)
    full = build_trace(pool, request.profile, request.options, **kw)
    return page, full


@pytest.mark.parametrize("profile", [SEED, DEMANDING], ids=["seed", "demanding"])
def test_every_group_holds_the_carriers_the_json_trace_puts_there(
    pool: PreparedPool, profile: dict[str, Any]
) -> None:
    page, full = _both(pool, profile, ConsoleTraceView())
    counts = next(s for s in full["stages"] if s["name"] == "filter")["primary_reason_counts"]
    assert {g["rule"]: g["count"] for g in page["filtered"]["groups"]} == counts
    assert page["filtered_total"] == sum(counts.values())
    assert page["defaults_applied"] == full["defaults_applied"]
    assert page["profile"] == full["profile"]
    for rule in RULE_CODES:
        members = [e for e in full["carriers"] if e["primary_reason"] == rule]
        if not members:
            continue
        shown, _ = _both(pool, profile, ConsoleTraceView(rule=rule))
        group = shown["filtered"]
        assert group["rule"] == rule
        assert group["count"] == len(members)
        expected = [e["carrier_id"] for e in members[:FILTERED_PER_PAGE]]
        assert [c["carrier_id"] for c in group["carriers"]] == expected
        for carrier, entry in zip(group["carriers"], members, strict=False):
            assert carrier["why"]
            failing = [r for r in entry["rules"] if r["outcome"] == "fail"]
            assert carrier["also"] == [r["rule"] for r in failing[1:]]
            assert [name for name, _ in carrier["inputs"]] == [
                k.replace("_", " ") for k in failing[0]["inputs"]
            ]


def test_the_demanding_profile_reaches_every_rule(pool: PreparedPool) -> None:
    page, _ = _both(pool, DEMANDING, ConsoleTraceView())
    removed = {g["rule"] for g in page["filtered"]["groups"] if g["count"]}
    assert removed == set(RULE_CODES)
    assert set(RULE_TITLES) == set(RULE_CODES)


def test_candidates_carry_the_trace_levels_ranks_and_words(pool: PreparedPool) -> None:
    page, full = _both(pool, SEED, ConsoleTraceView(candidate_page=2))
    entries = {e["carrier_id"]: e for e in full["carriers"] if e["outcome"] == "candidate"}
    ranked = page["candidates"]["ranked"]
    assert page["candidates"]["first"] == CANDIDATES_PER_PAGE + 1
    assert [c["rank"] for c in ranked] == list(range(26, 26 + CANDIDATES_PER_PAGE))
    for item in ranked:
        entry = entries[item["carrier_id"]]
        assert entry["rank"] == item["rank"]
        assert item["reasoning"] == entry["reasoning"]
        levels = {d["name"]: d["level"] for d in item["explained"]["dimensions"]}
        assert levels == {d: v["level"] for d, v in entry["dimensions"].items()}
        assert all(d["rule"].endswith(".") for d in item["explained"]["dimensions"])
        assert item["above_next"], "every shown candidate says what put it above the next"


def test_a_page_past_the_last_shows_the_last(pool: PreparedPool) -> None:
    page, _ = _both(pool, SEED, ConsoleTraceView(candidate_page=10_000, filtered_page=999))
    assert page["candidates"]["page"] == page["candidates"]["pages"]
    assert page["filtered"]["page"] == page["filtered"]["pages"]


def test_the_ordering_is_explained_by_the_first_key_that_differs() -> None:
    def item(rank: int, tier: str, fit: int, appetite: str, premium: int, name: str) -> dict:
        dims = {"appetite": {"level": appetite}, "financial": {"level": "L1"},
                "pricing": {"level": "L1", "parts": {"premium": premium}}}  # fmt: skip
        return {"rank": rank, "tier": {"value": tier}, "fit": {"score": fit},
                "dimensions": dims, "name": name}  # fmt: skip

    a = item(1, "STRONG_FIT", 70, "L1", 100, "A")
    assert "better tier" in decided_by(a, item(2, "GOOD_FIT", 90, "L1", 100, "A"))
    assert "higher fit" in decided_by(a, item(2, "STRONG_FIT", 69, "L1", 100, "A"))
    assert "appetite" in decided_by(a, item(2, "STRONG_FIT", 70, "L2", 100, "A"))
    assert "lower premium" in decided_by(a, item(2, "STRONG_FIT", 70, "L1", 101, "A"))
    assert "name order" in decided_by(a, item(2, "STRONG_FIT", 70, "L1", 100, "B"))
    assert "carrier id" in decided_by(a, item(2, "STRONG_FIT", 70, "L1", 100, "A"))


def test_a_page_of_stored_candidates_is_cut_without_parsing_the_rest() -> None:
    import orjson

    everyone = [{"rank": r, "carrier_id": f"car_{r:05d}", "name": 'A {"rank":3, name'}
                for r in range(1, 121)]  # fmt: skip
    text = orjson.dumps(everyone)
    assert candidate_slice(text, 1, 50) == everyone[:50]
    assert candidate_slice(text, 51, 50) == everyone[50:100]
    assert candidate_slice(text, 101, 50) == everyone[100:]
    assert candidate_slice(text, 200, 50) == []
