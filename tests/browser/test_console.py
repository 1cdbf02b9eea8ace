"""The web console (API.md §10) in Debian's chromium: sign in with a key, walk every page
in light and dark mode on a laptop and a phone (axe-core: no serious or critical
violation; screenshots saved), see a screen job's marked evidence, click redeliver, check
the trace page's counts against the JSON trace, check that no request leaves the origin,
replay a cookie after logout, follow sessions across processes, and measure the trace page
of a 99,999-carrier pool.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import attrs
import pytest

from nexio_lite.client import Client

from .conftest import (
    ARTIFACTS,
    Receiver,
    Served,
    cli,
    cli_env,
    new_key,
    screenshot_path,
    webhook_receiver,
)

SEED_PROFILE = {"entity": "acme-manufacturing", "state": "CA",
                "line": "professional_liability", "revenue": 12000000}  # fmt: skip
BIG_POOL = "carriers:big"
BIG_SIZE = "99999"
VARIANTS = {  # name -> browser context options
    "laptop": {"viewport": {"width": 1280, "height": 800}},
    "phone": {"viewport": {"width": 390, "height": 844}, "is_mobile": True,
              "has_touch": True, "device_scale_factor": 2},
}  # fmt: skip
SCHEMES = ("light", "dark")
# The page's paint timings (ms from the start of the navigation, so the server's time is
# in them), once the first contentful paint has happened (it may come after `load`).
PAINTS = """() => new Promise((resolve) => {
  const found = () => Object.fromEntries(
    performance.getEntriesByType("paint").map((e) => [e.name, e.startTime]));
  if (found()["first-contentful-paint"] !== undefined) return resolve(found());
  new PerformanceObserver(() => resolve(found())).observe({type: "paint", buffered: true});
  setTimeout(() => resolve(found()), 10000);
})"""


@attrs.define
class Site:
    """A running server with an organization `acme` (keys by scope), another `other`,
    the demo pool, and jobs: one evaluation delivered to a local receiver, two more,
    and one of the other organization."""

    server: Served
    receiver: Receiver
    keys: dict[str, str]
    hooked: str
    plain: list[str]
    theirs: str

    @property
    def url(self) -> str:
        return self.server.url

    def client(self, who: str = "full") -> Client:
        return Client(self.url, api_key=self.keys[who])


@attrs.define
class BigSite:
    """A server whose pool has 99,999 carriers and one completed evaluation on it, made
    in a background thread so that it is ready by the time its test runs."""

    folder: Path
    server: Served | None = None
    key: str = ""
    eval_id: str = ""
    error: BaseException | None = None
    thread: threading.Thread | None = None

    def build(self) -> None:
        try:
            env = cli_env(self.folder, NEXIO_WORKERS_PROCESSES="1")
            cli(env, "orgs", "create", "acme")
            cli(env, "pools", "demo", "--org", "acme", "--pool", BIG_POOL, "--size", BIG_SIZE)
            self.key = new_key(env, "acme", "jobs:read,jobs:write,traces:read", "big")
            self.server = Served(env, self.folder / "serve.log").start()
            with Client(self.server.url, api_key=self.key, timeout=90) as client:
                job = client.submit(profile=SEED_PROFILE, pool=BIG_POOL)
                self.eval_id = job.id
                assert client.wait(job.id, timeout=240).status == "completed"
        except BaseException as exc:  # reported by the test that needs it
            self.error = exc

    def ready(self, seconds: float = 300) -> BigSite:
        assert self.thread is not None
        self.thread.join(seconds)
        if self.error is not None:
            raise self.error
        assert not self.thread.is_alive(), "the 99,999-carrier pool was not ready in time"
        return self


@pytest.fixture(scope="module")
def big_site(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, browser: Any
) -> Iterator[BigSite | None]:
    """Started before the other tests of the module (it takes ~40 s of one core), and
    only when its test is selected."""
    wanted = any("99999" in item.name for item in request.session.items)
    if not wanted:
        yield None
        return
    big = BigSite(tmp_path_factory.mktemp("big"))
    big.thread = threading.Thread(target=big.build, name="big-pool", daemon=True)
    big.thread.start()
    try:
        yield big
    finally:
        big.thread.join(300)
        if big.server is not None:
            big.server.stop()


@pytest.fixture(scope="module")
def site(
    tmp_path_factory: pytest.TempPathFactory, big_site: BigSite | None, browser: Any, axe: Path
) -> Iterator[Site]:
    folder = tmp_path_factory.mktemp("console")
    env = cli_env(folder, NEXIO_WORKERS_PROCESSES="1")
    for org in ("acme", "other"):
        cli(env, "orgs", "create", org)
        cli(env, "pools", "demo", "--org", org)
    keys = {
        "full": new_key(env, "acme", "jobs:write,jobs:read,traces:read,admin", "full"),
        "reader": new_key(env, "acme", "jobs:read", "reader"),
        "tracer": new_key(env, "acme", "traces:read", "tracer"),
        "other": new_key(env, "other", "jobs:write,jobs:read,traces:read", "other"),
    }
    with webhook_receiver() as receiver:
        server = Served(env, folder / "serve.log").start()
        try:
            with Client(server.url, api_key=keys["full"]) as c:
                hooked = c.submit(profile=SEED_PROFILE, pool="carriers:all",
                                  webhook_url=f"{receiver.url}/hook").id  # fmt: skip
                plain = [c.submit(profile=dict(SEED_PROFILE, state=s), pool="carriers:all").id
                         for s in ("NY", "TX")]  # fmt: skip
                for job_id in (hooked, *plain):
                    assert c.wait(job_id).status == "completed"
            with Client(server.url, api_key=keys["other"]) as c:
                theirs = c.submit(profile=SEED_PROFILE, pool="carriers:all").id
                c.wait(theirs)
            receiver.wait_for(1)
            yield Site(server, receiver, keys, hooked, plain, theirs)
        finally:
            server.stop()


# ---- helpers --------------------------------------------------------------------------


def sign_in(page: Any, url: str, key: str) -> None:
    page.goto(f"{url}/ui/")
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r".*/ui/jobs$"))


def check_accessibility(page: Any, axe: Path, where: str) -> None:
    """axe-core on the page: no serious or critical violation. Evaluated through the
    browser's devtools protocol, which the page's CSP does not govern."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(axe.read_text())
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    bad = [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes'][:3]]}"
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert not bad, f"{where}: " + "; ".join(bad)


def same_origin_only(requests: list[str], url: str) -> None:
    origin = urlsplit(url).netloc
    elsewhere = [r for r in requests if urlsplit(r).netloc != origin]
    assert requests, "no request was recorded"
    assert not elsewhere, f"requests that left {origin}: {elsewhere}"


def group_counts(page: Any) -> dict[str, int]:
    rows = page.locator("tr[data-rule]")
    return {
        rows.nth(i).get_attribute("data-rule"): int(rows.nth(i).get_attribute("data-count"))
        for i in range(rows.count())
    }


# ---- tests ----------------------------------------------------------------------------


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_every_page_reads_well_is_accessible_and_stays_on_its_origin(
    site: Site, browser: Any, axe: Path, variant: str, scheme: str
) -> None:
    """Sign in, walk Jobs → Job → Trace (one filtered group) → Pools by clicking, on a
    laptop and a phone, light and dark: axe finds no serious or critical violation,
    every request stays on the origin, and each page is saved as a screenshot."""
    context = browser.new_context(color_scheme=scheme, **VARIANTS[variant])
    requests: list[str] = []
    context.on("request", lambda r: requests.append(r.url))
    page = context.new_page()
    try:

        def visit(name: str) -> None:
            page.wait_for_load_state("load")
            check_accessibility(page, axe, f"{name} ({variant}, {scheme})")
            shot(name)

        def shot(name: str) -> None:
            page.screenshot(path=screenshot_path(f"{name}-{variant}-{scheme}"))

        page.goto(f"{site.url}/ui/")
        visit("login")
        page.get_by_label("API key").fill(site.keys["full"])
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(re.compile(r".*/ui/jobs$"))
        assert page.locator("tr[data-job]").count() == 3
        visit("jobs")
        page.locator(f'a[href="/ui/jobs/{site.hooked}"]').click()
        page.wait_for_url(f"**/ui/jobs/{site.hooked}")
        assert page.locator("table.candidates tbody tr").count() == 50
        visit("job")
        page.get_by_role("link", name="Why each carrier ranked where it did").click()
        page.wait_for_url(f"**/ui/traces/{site.hooked}")
        visit("trace")
        page.locator("li.carrier").first.scroll_into_view_if_needed()
        shot("trace-candidate")
        page.locator('tr[data-rule="F06_REVENUE_OUT_OF_RANGE"] a').click()
        page.wait_for_url(re.compile(r".*rule=F06_REVENUE_OUT_OF_RANGE.*"))
        assert page.locator("table.filtered tbody tr").count() > 0
        check_accessibility(page, axe, f"trace group ({variant}, {scheme})")
        page.locator("#group-h").scroll_into_view_if_needed()
        shot("trace-filtered")
        page.get_by_role("link", name="Pools").click()
        page.wait_for_url("**/ui/pools")
        assert page.locator('tr[data-pool="carriers:all"] td').first.inner_text() == "1,847"
        visit("pools")
    finally:
        context.close()
    same_origin_only(requests, site.url)


SCREEN_TEXT = (
    "Proposal for Café Ñandú LLC — general liability.\n\n"
    "We place this risk with a surplus lines carrier rated A by AM Best, at the lowest price "
    "in the market. Guaranteed approval, and a $50 gift card when you bind!\n"
    "The broker fee applies. Please send the owner's date of birth with the application."
)


def test_a_screen_job_page_marks_the_evidence_and_is_accessible(
    site: Site, browser: Any, axe: Path
) -> None:
    """A screen job of the other organization (so that acme's pages keep their counts):
    its Job page lists every finding and marks every occurrence of evidence at its
    offsets, and is axe-clean on a laptop, light and dark."""
    cli(site.server.env, "rulebooks", "demo", "--org", "other")
    with site.client("other") as c:
        submitted = c.submit_screen(SCREEN_TEXT, context={"market": "surplus",
                                                          "document": "proposal"})  # fmt: skip
        job = c.wait(submitted.id)
    assert job.screen is not None
    findings = job.screen.findings
    evidence = {(o.start_offset, o.end_offset) for f in findings for o in f.evidence}
    assert len(findings) == 9
    for scheme in SCHEMES:
        context = browser.new_context(color_scheme=scheme, **VARIANTS["laptop"])
        page = context.new_page()
        try:
            sign_in(page, site.url, site.keys["other"])
            page.goto(f"{site.url}/ui/jobs/{job.id}")
            rules = page.locator("li.finding").evaluate_all("(l) => l.map((e) => e.dataset.rule)")
            assert rules == [f.rule_id for f in findings]
            marks = page.locator("#screened mark").evaluate_all(
                "(l) => l.map((m) => [+m.dataset.start, +m.dataset.end, m.textContent])"
            )
            assert {(start, end) for start, end, _ in marks} == evidence
            assert all(SCREEN_TEXT[start:end] == text for start, end, text in marks)
            assert page.locator("#screened").text_content() == SCREEN_TEXT
            check_accessibility(page, axe, f"screen job (laptop, {scheme})")
            page.screenshot(path=screenshot_path(f"job-screen-laptop-{scheme}"), full_page=True)
        finally:
            context.close()


def test_redeliver_queues_a_new_delivery_shown_with_every_attempt(site: Site, browser: Any) -> None:
    context = browser.new_context()
    page = context.new_page()
    try:
        sign_in(page, site.url, site.keys["full"])
        page.goto(f"{site.url}/ui/jobs/{site.hooked}")
        assert page.locator("article.delivery").count() == 1
        arrived = len(site.receiver.received)
        page.get_by_role("button", name="Redeliver the webhook").click()
        page.wait_for_url(re.compile(r".*redelivered=dlv_.*"))
        assert "queued" in page.locator(".notice").inner_text()
        site.receiver.wait_for(arrived + 1)
        deliveries = page.locator("article.delivery")
        assert deliveries.count() == 2
        page.wait_for_function(  # the page refreshes itself while a delivery is pending
            "() => document.querySelectorAll('article.delivery[data-status=delivered]')"
            ".length === 2",
            timeout=15_000,
        )
        for i in range(2):
            attempt = page.locator("article.delivery").nth(i).locator("tr.attempt").first
            cells = attempt.locator("td").all_inner_texts()
            assert cells[2].strip() == "HTTP 200"
            assert cells[3].strip().isdigit(), "latency in ms"
            assert cells[4].strip() == "answer 200", "the response excerpt"
        with site.client() as c:
            api = c.deliveries(site.hooked)
        ids = [d.id for d in api]
        assert [page.locator("article.delivery").nth(i).get_attribute("data-delivery")
                for i in range(2)] == ids  # fmt: skip
    finally:
        context.close()


def test_trace_groups_count_what_the_json_trace_counts(site: Site, browser: Any) -> None:
    with site.client() as c:
        full = c.trace(site.hooked, level="full")
    counts = next(s for s in full["stages"] if s["name"] == "filter")["primary_reason_counts"]
    entries = {e["carrier_id"]: e for e in full["carriers"]}
    context = browser.new_context()
    page = context.new_page()
    try:
        sign_in(page, site.url, site.keys["tracer"])
        page.goto(f"{site.url}/ui/traces/{site.hooked}")
        assert group_counts(page) == counts
        assert page.locator("[data-defaults]").get_attribute("data-defaults") == ",".join(
            full["defaults_applied"]
        )
        first = page.locator("li.carrier").first
        carrier = entries[first.get_attribute("data-carrier")]
        assert carrier["rank"] == 1
        for d, shown in carrier["dimensions"].items():
            row = first.locator(f'tr[data-dimension="{d}"]')
            assert row.locator(".lvl").inner_text() == shown["level"]
        assert "then by fit score" in page.locator(".lead").inner_text()
        for rule in ("F02_LINE_NOT_WRITTEN", "F06_REVENUE_OUT_OF_RANGE"):
            page.goto(f"{site.url}/ui/traces/{site.hooked}?rule={rule}")
            rows = page.locator("table.filtered tbody tr")
            assert rows.count() == min(50, counts[rule])
            row = rows.first
            entry = entries[row.get_attribute("data-carrier")]
            assert entry["primary_reason"] == rule
            failing = next(r for r in entry["rules"] if r["rule"] == rule)
            shown = row.locator("ul.inputs").inner_text()
            for name in failing["inputs"]:
                assert name.replace("_", " ") in shown
    finally:
        context.close()


def test_scopes_decide_what_a_key_sees_and_may_do(site: Site, browser: Any) -> None:
    with site.client() as c:
        delivered = len(c.deliveries(site.hooked))
    context = browser.new_context()
    page = context.new_page()
    try:
        sign_in(page, site.url, site.keys["reader"])
        page.goto(f"{site.url}/ui/jobs/{site.hooked}")
        assert page.get_by_role("button", name="Redeliver the webhook").count() == 0
        assert "needs the jobs:write scope" in page.content()
        csrf = page.locator('input[name="csrf"]').first.input_value()
        refused = page.request.post(f"{site.url}/ui/jobs/{site.hooked}/redeliver",
                                    form={"csrf": csrf}, max_redirects=0)  # fmt: skip
        assert refused.status == 403
        trace = page.goto(f"{site.url}/ui/traces/{site.hooked}")
        assert trace is not None
        assert trace.status == 403
        mine = page.goto(f"{site.url}/ui/jobs/{site.theirs}")
        assert mine is not None
        assert mine.status == 404, "another organization's job does not exist here"
        page.goto(f"{site.url}/ui/jobs")
        assert site.theirs not in page.content()
    finally:
        context.close()
    with site.client() as c:
        assert len(c.deliveries(site.hooked)) == delivered, "the refused post added nothing"


def test_logout_ends_the_session_and_a_replayed_cookie_opens_nothing(
    site: Site, browser: Any
) -> None:
    context = browser.new_context()
    page = context.new_page()
    try:
        sign_in(page, site.url, site.keys["full"])
        (cookie,) = [c for c in context.cookies() if c["name"] == "nexio_session"]
        assert cookie["httpOnly"] is True
        assert cookie["sameSite"] == "Strict"
        assert cookie["path"] == "/ui"
        assert page.evaluate("() => document.cookie") == "", "not readable by scripts"
        page.get_by_role("button", name="Log out").click()
        page.wait_for_url(re.compile(r".*/ui/login\?signed_out=1$"))
    finally:
        context.close()
    replay = browser.new_context()
    replay.add_cookies([cookie])
    page = replay.new_page()
    try:
        for path in ("/ui/jobs", f"/ui/jobs/{site.hooked}", f"/ui/traces/{site.hooked}"):
            page.goto(f"{site.url}{path}")
            assert "/ui/login" in page.url, path
            assert page.get_by_role("heading", name="Sign in").count() == 1
        answer = page.request.post(f"{site.url}/ui/jobs/{site.hooked}/redeliver",
                                   form={"csrf": "x"}, max_redirects=0)  # fmt: skip
        assert answer.status == 401
    finally:
        replay.close()


def test_sessions_span_processes_and_the_jobs_page_refreshes_while_jobs_run(
    browser: Any, tmp_path: Path
) -> None:
    """Two API processes and, later, a worker on one database: a session made on one
    works on the other, the Jobs page refreshes itself until the job completes, and a
    logout on one process ends the session on the other."""
    env = cli_env(tmp_path, NEXIO_WORKERS_PROCESSES="1")
    cli(env, "orgs", "create", "acme")
    cli(env, "pools", "demo", "--org", "acme")
    key = new_key(env, "acme", "jobs:write,jobs:read,traces:read", "console")
    one = Served(env, tmp_path / "one.log", role="api").start()
    two = Served(env, tmp_path / "two.log", role="api").start()
    worker = Served(env, tmp_path / "worker.log", role="worker")
    context = browser.new_context()
    requests: list[str] = []
    context.on("request", lambda r: requests.append(r.url))
    page = context.new_page()
    try:
        with Client(one.url, api_key=key) as c:
            queued = c.submit(profile=SEED_PROFILE, pool="carriers:all").id
        sign_in(page, one.url, key)
        (cookie,) = [c for c in context.cookies() if c["name"] == "nexio_session"]
        row = page.locator(f'tr[data-job="{queued}"]')
        assert row.get_attribute("data-status") == "queued"
        assert page.locator("#live[data-refresh]").count() == 1
        page.evaluate("() => { window.notReloaded = true; }")
        worker.start()
        page.wait_for_selector(f'tr[data-job="{queued}"][data-status="completed"]',
                               timeout=20_000)  # fmt: skip
        assert page.evaluate("() => window.notReloaded === true"), "updated in place"
        page.wait_for_function("() => !document.querySelector('#live[data-refresh]')")
        same_origin_only(requests, one.url)

        other = browser.new_context()
        other.add_cookies([{**cookie, "domain": "127.0.0.1", "path": "/ui"}])
        there = other.new_page()
        there.goto(f"{two.url}/ui/jobs")
        assert there.url.endswith("/ui/jobs"), "the session works on the other process"
        there.get_by_role("button", name="Log out").click()
        there.wait_for_url(re.compile(r".*/ui/login.*"))
        other.close()
        page.goto(f"{one.url}/ui/jobs")
        assert "/ui/login" in page.url, "logged out on one process, out on every process"
    finally:
        context.close()
        for served in (worker, two, one):
            served.stop()


def test_the_trace_page_of_a_99999_carrier_pool_is_small_fast_and_never_stalls(
    big_site: BigSite | None, site: Site, browser: Any
) -> None:
    assert big_site is not None
    big = big_site.ready()
    assert big.server is not None
    context = browser.new_context()
    page = context.new_page()
    try:
        sign_in(page, big.server.url, big.key)
        big.server.get_json("/readyz?reset=loop")
        started = time.perf_counter()
        answer = page.goto(f"{big.server.url}/ui/traces/{big.eval_id}")
        loaded = time.perf_counter() - started
        assert answer is not None
        assert answer.status == 200
        document = len(answer.body())
        paint = page.evaluate(PAINTS)
        stall = big.server.get_json("/readyz")["loop_worst_stall_ms"]
        counts = group_counts(page)
        with Client(big.server.url, api_key=big.key, timeout=120) as c:
            summary = c.trace(big.eval_id, level="summary")
        stored = next(s for s in summary["stages"] if s["name"] == "filter")
        assert counts == stored["primary_reason_counts"]
        assert sum(counts.values()) == stored["removed"]
        page.goto(
            f"{big.server.url}/ui/traces/{big.eval_id}?cpage=500&rule=F02_LINE_NOT_WRITTEN&fpage=400"
        )
        assert page.locator("li.carrier").count() > 0
        assert page.locator("table.filtered tbody tr").count() > 0
        page.screenshot(path=screenshot_path("trace-99999-laptop-light"))
        big.server.get_json("/readyz?reset=loop")
        page.goto(f"{big.server.url}/ui/jobs/{big.eval_id}?page=300")  # of 627
        rows = page.locator("table.candidates tbody tr")
        assert rows.count() == 50
        assert rows.first.locator("td.n").first.inner_text() == "14951"
        job_stall = big.server.get_json("/readyz")["loop_worst_stall_ms"]
        big.server.get_json("/readyz?reset=loop")  # for comparison: the same server idle
        time.sleep(1.0)
        idle_stall = big.server.get_json("/readyz")["loop_worst_stall_ms"]
    finally:
        context.close()
    figures = {
        "pool_size": 99_999,
        "document_bytes": document,
        "first_contentful_paint_ms": round(paint.get("first-contentful-paint", -1), 1),
        "first_paint_ms": round(paint.get("first-paint", -1), 1),
        "load_seconds": round(loaded, 3),
        "server_worst_loop_stall_ms": stall,
        "job_page_300_worst_loop_stall_ms": job_stall,
        "idle_1s_worst_loop_stall_ms": idle_stall,
    }
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "trace-99999.json").write_text(json.dumps(figures, indent=2) + "\n")
    print(f"99,999-carrier trace page: {figures}")
    assert document <= 2_000_000, figures
    assert 0 < figures["first_contentful_paint_ms"] < 10_000, figures  # 3 s target; see docs
    assert stall < 500, figures
    assert job_stall < 500, figures
