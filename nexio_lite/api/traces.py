"""`GET /traces/{eval_id}`: the audit trace, recomputed on demand (DOMAIN.md §8)."""

from __future__ import annotations

import html
import json
from typing import Any

from aiohttp import web

from nexio_lite.api.context import authorize, services
from nexio_lite.api.jobs import JOB_ID
from nexio_lite.api.responses import bad_request, json_text, not_found
from nexio_lite.models import EVALUATION, JobStatus

LEVELS = ("full", "summary")


async def get_trace(request: web.Request) -> web.Response:
    svc = services(request)
    key = await authorize(request, "traces:read")
    eval_id = request.match_info["eval_id"]
    level = request.query.get("level", "full")
    if level not in LEVELS:
        raise bad_request("level must be one of: full, summary")
    job = None
    if JOB_ID.fullmatch(eval_id):
        job = await svc.store.get_job(key.org_id, eval_id)
    if job is None or job.type != EVALUATION:
        raise not_found(f"Trace '{eval_id}' not found")
    if job.status is not JobStatus.COMPLETED:
        raise not_found(f"Trace '{eval_id}' is not available: the job is {job.status.value}")
    assert svc.trace is not None
    text: str = await svc.trace(job, level)
    if _wants_html(request):
        return web.Response(text=render_html(json.loads(text)), content_type="text/html")
    return json_text(text)


def _wants_html(request: web.Request) -> bool:
    accept = request.headers.get("Accept", "")
    return "text/html" in accept and "application/json" not in accept


def render_html(trace: dict[str, Any]) -> str:
    """A readable page of the same trace: header, stages and the candidates' table."""
    e = html.escape
    candidates = sorted(
        (c for c in trace.get("carriers", []) if c.get("outcome") == "candidate"),
        key=lambda c: c["rank"],
    )
    rows = [
        f"<tr><td>{c['rank']}</td><td>{e(c['carrier_id'])}</td><td>{e(c['name'])}</td>"
        f"<td>{e(c['tier']['value'])}</td><td>{c['fit']['score']}</td>"
        f"<td>{e(c['confidence']['value'])}</td>"
        f"<td>{e(' '.join(d['level'] for d in c['dimensions'].values()))}</td>"
        f"<td>{e(c['reasoning'])}</td></tr>"
        for c in candidates
    ]
    stages = "".join(
        f"<tr><td>{e(s['name'])}</td><td>{s['duration_ms']}</td><td>{s['in']}</td>"
        f"<td>{s['out']}</td></tr>"
        for s in trace.get("stages", [])
    )
    pool = trace.get("pool", {})
    profile = e(json.dumps(trace.get("profile", {}), ensure_ascii=False))
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Trace {e(trace["eval_id"])}</title>
<style>body{{font-family:system-ui,sans-serif;margin:2em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:.2em .5em;font-size:90%}}</style></head><body>
<h1>Audit trace {e(trace["eval_id"])}</h1>
<p>Created {e(str(trace.get("created_at")))} · pool {e(str(pool.get("id")))}
({e(str(pool.get("size")))} carriers, as of {e(str(pool.get("as_of")))},
sha256 <code>{e(str(pool.get("sha256")))}</code>) · as_of {e(str(trace.get("as_of")))}
({e(str(trace.get("as_of_source")))})</p>
<p>Profile: <code>{profile}</code></p>
<h2>Stages</h2><table><tr><th>stage</th><th>ms</th><th>in</th><th>out</th></tr>{stages}</table>
<h2>Candidates</h2><table><tr><th>rank</th><th>carrier</th><th>name</th><th>tier</th>
<th>fit</th><th>confidence</th><th>levels</th><th>reasoning</th></tr>{"".join(rows)}</table>
<p>The JSON of this trace (with every filtered carrier and rule) is at the same URL with
<code>Accept: application/json</code>.</p>
</body></html>
"""
