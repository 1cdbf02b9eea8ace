"""`scripts/bench --quick` runs end to end, so the benchmark cannot rot. (The figures
themselves are reported by the benchmark, never asserted by a timed test.)"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


async def test_quick_benchmark_produces_every_figure() -> None:
    proc = await asyncio.create_subprocess_exec(
        str(ROOT / "scripts" / "bench"), "--quick", "--json",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=ROOT,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 170)
    assert proc.returncode == 0, err.decode()[-3000:]
    r = json.loads(out)
    for key in ("submit", "end_to_end", "latency_at_half_rate", "pipeline_ms_per_eval",
                "webhooks", "idle", "huey_default", "huey_normal", "ceiling_insert",
                "ceiling_group_commit", "ceiling_webhook_client", "claim", "long_poll",
                "trace", "metrics", "screen", "pipeline_ceiling"):  # fmt: skip
        assert r[key], key
    assert r["submit"]["rps"] > 0
    assert r["end_to_end"]["evals_per_s"] > 0
    assert r["pipeline_ceiling"]["evals_per_s"] > 0
    assert r["ratio_end_to_end_to_pipeline_ceiling"] > 0
    assert r["webhooks"]["attempts_recorded"] == "all"
    assert r["huey_normal"]["synchronous"] == "NORMAL"
    assert {t["target"] for t in r["targets"]} >= {
        "idle RSS <= 80 MB",
        "end to end >= 0.6 of the pipeline-only ceiling",
    }
    assert all(isinstance(t["met"], bool) for t in r["targets"])
