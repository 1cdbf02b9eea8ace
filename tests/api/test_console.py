"""The web console over HTTP (API.md §10), against a real app on a real SQLite file:
sessions and their cookie, CSRF, scopes as §2, tenancy, and what each page shows. The
same pages in a real browser are tests/browser/."""

from __future__ import annotations

import hashlib
import re
import sqlite3
from typing import Any

from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient

from nexio_lite.models import now_ms

from .conftest import SEED_BODY, World, WorldFactory
from .receiver import Receiver

CSRF = re.compile(r'name="csrf" value="([^"]+)"')
FAST_HOOKS = {"allow_private_targets": True, "retry_schedule_seconds": [0, 0.1]}


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "no CSRF field on the page"
    return found.group(1)


async def sign_in(client: TestClient, key: str, next_path: str = "") -> ClientResponse:
    form = await client.get("/ui/login" + (f"?next={next_path}" if next_path else ""))
    assert form.status == 200
    nonce = csrf_of(await form.text())
    return await client.post(
        "/ui/login",
        data={"api_key": key, "csrf": nonce, "next": next_path},
        allow_redirects=False,
    )


async def signed_in(world: World, who: str = "full") -> None:
    resp = await sign_in(world.client, world.keys[who])
    assert resp.status == 303, await resp.text()
    assert resp.headers["Location"] == "/ui/jobs"


async def completed_job(world: World, body: Any = None, who: str = "full") -> str:
    resp = await world.submit(body, who=who)
    eval_id = (await resp.json())["eval_id"]
    await world.wait_terminal(eval_id, who=who)
    return str(eval_id)


async def test_sign_in_sets_a_signed_http_only_strict_session_cookie(world: World) -> None:
    resp = await sign_in(world.client, world.keys["full"])
    assert resp.status == 303
    cookie = next(v for v in resp.headers.getall("Set-Cookie") if v.startswith("nexio_session="))
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "path", "max-age", "samesite"} <= attributes
    assert "SameSite=Strict" in cookie
    assert "Path=/ui" in cookie
    assert "Max-Age=43200" in cookie, "ui.session_hours defaults to 12"
    assert "secure" not in attributes, "plain http: no Secure flag"
    value = cookie.split(";")[0].split("=", 1)[1]
    token, _, signature = value.rpartition(".")
    assert token
    assert signature
    with sqlite3.connect(world.settings.database.path) as db:
        ids = [r[0] for r in db.execute("SELECT id FROM ui_sessions")]
    assert ids == [hashlib.sha256(token.encode()).hexdigest()], "only the token's hash is kept"
    page = await world.client.get("/ui/jobs")
    assert page.status == 200
    assert "Log out" in await page.text()


async def test_a_wrong_key_a_forged_cookie_or_no_form_nonce_opens_nothing(world: World) -> None:
    resp = await sign_in(world.client, "nx_live_" + "x" * 32)
    assert resp.status == 401
    assert "not valid" in await resp.text()
    no_nonce = await world.client.post(
        "/ui/login", data={"api_key": world.keys["full"]}, allow_redirects=False
    )
    assert no_nonce.status == 403
    await signed_in(world)
    jar = world.client.session.cookie_jar
    session = next(c for c in jar if c.key == "nexio_session")
    token = session.value.rpartition(".")[0]
    jar.clear()
    jar.update_cookies({"nexio_session": token + ".forged"})
    resp = await world.client.get("/ui/jobs", allow_redirects=False)
    assert resp.status == 303
    assert resp.headers["Location"] == "/ui/login?next=/ui/jobs"


async def test_sign_in_goes_back_to_the_page_asked_for_and_only_within_the_console(
    world: World,
) -> None:
    resp = await world.client.get("/ui/pools", allow_redirects=False)
    assert resp.status == 303
    assert resp.headers["Location"] == "/ui/login?next=/ui/pools"
    resp = await sign_in(world.client, world.keys["full"], "/ui/pools")
    assert resp.headers["Location"] == "/ui/pools"
    world.client.session.cookie_jar.clear()
    resp = await sign_in(world.client, world.keys["full"], "//evil.example/ui/")
    assert resp.headers["Location"] == "/ui/jobs"


async def test_logout_ends_the_session_and_the_old_cookie_opens_nothing(world: World) -> None:
    await signed_in(world)
    jar = world.client.session.cookie_jar
    old = next(c for c in jar if c.key == "nexio_session").value
    page = await world.client.get("/ui/jobs")
    resp = await world.client.post(
        "/ui/logout", data={"csrf": csrf_of(await page.text())}, allow_redirects=False
    )
    assert resp.status == 303
    assert resp.headers["Location"] == "/ui/login?signed_out=1"
    with sqlite3.connect(world.settings.database.path) as db:
        assert db.execute("SELECT count(*) FROM ui_sessions").fetchone() == (0,)
    jar.update_cookies({"nexio_session": old})
    for path in ("/ui/jobs", "/ui/pools"):
        replay = await world.client.get(path, allow_redirects=False)
        assert replay.status == 303, path
        assert replay.headers["Location"].startswith("/ui/login")
    post = await world.client.post("/ui/logout", data={}, allow_redirects=False)
    assert post.status == 303  # signing out twice is harmless


async def test_a_revoked_key_or_an_expired_session_opens_nothing(world: World) -> None:
    await signed_in(world, "reader")
    assert (await world.client.get("/ui/jobs")).status == 200
    with sqlite3.connect(world.settings.database.path) as db:
        db.execute("UPDATE ui_sessions SET expires_at=?", (now_ms() - 1,))
    resp = await world.client.get("/ui/jobs", allow_redirects=False)
    assert resp.status == 303
    await signed_in(world, "reader")
    with sqlite3.connect(world.settings.database.path) as db:
        db.execute("UPDATE api_keys SET revoked_at=? WHERE name='reader'", (now_ms(),))
    resp = await world.client.get("/ui/jobs", allow_redirects=False)
    assert resp.status == 303, "a revoked key's sessions end at once"


async def test_pages_follow_the_scopes_of_the_key(world: World, receiver: Receiver) -> None:
    eval_id = await completed_job(world)
    plain = {
        "/ui/jobs": "jobs:read",
        "/ui/pools": "jobs:read",
        f"/ui/jobs/{eval_id}": "jobs:read",
        f"/ui/traces/{eval_id}": "traces:read",
    }
    keys = {
        "reader": {"jobs:read"},
        "tracer": {"traces:read"},
        "admin": {"admin"},
        "full": {"jobs:read", "traces:read"},
    }
    for who, scopes in keys.items():
        world.client.session.cookie_jar.clear()
        await signed_in(world, who)
        for path, scope in plain.items():
            resp = await world.client.get(path)
            assert resp.status == (200 if scope in scopes else 403), (who, path)
            if resp.status == 403:
                assert scope in await resp.text()
    world.client.session.cookie_jar.clear()
    await signed_in(world, "reader")
    page = await (await world.client.get(f"/ui/jobs/{eval_id}")).text()
    assert "/redeliver" not in page
    assert "traces:read scope" in page, "no trace link without the scope"


async def test_redeliver_needs_jobs_write_and_the_csrf_token(
    make_world: WorldFactory, receiver: Receiver
) -> None:
    world = await make_world(webhooks=FAST_HOOKS)
    body = dict(SEED_BODY, webhook_url=receiver.on("/hook", 200))
    eval_id = await completed_job(world, body)
    await receiver.wait_for(1, "/hook")
    await signed_in(world, "reader")
    page = await (await world.client.get(f"/ui/jobs/{eval_id}")).text()
    refused = await world.client.post(
        f"/ui/jobs/{eval_id}/redeliver", data={"csrf": csrf_of(page)}, allow_redirects=False
    )
    assert refused.status == 403, "jobs:read alone cannot redeliver"
    world.client.session.cookie_jar.clear()
    await signed_in(world, "full")
    page = await (await world.client.get(f"/ui/jobs/{eval_id}")).text()
    assert 'id="redeliver"' in page
    path = f"/ui/jobs/{eval_id}/redeliver"
    no_token = await world.client.post(path, data={}, allow_redirects=False)
    assert no_token.status == 403
    elsewhere = await world.client.post(
        path, data={"csrf": csrf_of(page)}, headers={"Origin": "https://evil.example"},
        allow_redirects=False,
    )  # fmt: skip
    assert elsewhere.status == 403
    resp = await world.client.get(f"/api/v1/jobs/{eval_id}/deliveries", headers=world.headers())
    assert len((await resp.json())["data"]) == 1, "refused posts changed nothing"
    done = await world.client.post(path, data={"csrf": csrf_of(page)}, allow_redirects=False)
    assert done.status == 303
    assert done.headers["Location"].startswith(f"/ui/jobs/{eval_id}?redelivered=dlv_")
    await receiver.wait_for(2, "/hook")
    deliveries = (await (await world.client.get(
        f"/api/v1/jobs/{eval_id}/deliveries", headers=world.headers())).json())["data"]  # fmt: skip
    assert len(deliveries) == 2
    assert deliveries[0]["webhook_id"] != deliveries[1]["webhook_id"]


async def test_another_organizations_job_does_not_exist_here(world: World) -> None:
    resp = await world.client.post("/api/v1/jobs", json=SEED_BODY,
                                   headers={"X-API-Key": world.other_org_key})  # fmt: skip
    theirs = (await resp.json())["eval_id"]
    mine = await completed_job(world)
    await signed_in(world)
    for path in (f"/ui/jobs/{theirs}", f"/ui/traces/{theirs}"):
        resp = await world.client.get(path)
        assert resp.status == 404, path
    listing = await (await world.client.get("/ui/jobs")).text()
    assert mine in listing
    assert theirs not in listing


async def test_every_page_forbids_loading_anything_from_elsewhere(world: World) -> None:
    eval_id = await completed_job(world)
    await signed_in(world)
    for path in ("/ui/login", "/ui/jobs", f"/ui/jobs/{eval_id}", f"/ui/traces/{eval_id}",
                 "/ui/pools", "/ui/nothing-here"):  # fmt: skip
        resp = await world.client.get(path)
        csp = resp.headers["Content-Security-Policy"]
        assert "default-src 'self'" in csp, path
        assert "frame-ancestors 'none'" in csp
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        html = await resp.text()
        assert not re.search(r'(src|href|action)="(https?:)?//', html), path


async def test_the_secure_flag_follows_a_trusted_https_proxy(make_world: WorldFactory) -> None:
    world = await make_world(ui={"trust_forwarded_proto": True})
    form = await world.client.get("/ui/login", headers={"X-Forwarded-Proto": "https"})
    nonce = csrf_of(await form.text())
    login_cookie = form.headers["Set-Cookie"]
    assert "Secure" in login_cookie
    resp = await world.client.post(
        "/ui/login", data={"api_key": world.keys["full"], "csrf": nonce},
        headers={"X-Forwarded-Proto": "https", "Cookie": login_cookie.split(";")[0]},
        allow_redirects=False,
    )  # fmt: skip
    assert resp.status == 303, await resp.text()
    cookie = next(v for v in resp.headers.getall("Set-Cookie") if v.startswith("nexio_session="))
    assert "Secure" in cookie


async def test_jobs_are_newest_first_filtered_and_paged_by_cursor(world: World) -> None:
    ids = [await completed_job(world) for _ in range(3)]
    await signed_in(world)
    first = await (await world.client.get("/ui/jobs?limit=2")).text()
    shown = re.findall(r'data-job="([^"]+)"', first)
    assert shown == ids[::-1][:2]
    older = re.search(r'href="(\?[^"]*cursor=[^"]+)"', first)
    assert older
    second = await world.client.get("/ui/jobs" + older.group(1).replace("&amp;", "&"))
    assert re.findall(r'data-job="([^"]+)"', await second.text()) == ids[:1]
    failed = await (await world.client.get("/ui/jobs?status=failed")).text()
    assert re.findall(r'data-job="([^"]+)"', failed) == []
    bad = await world.client.get("/ui/jobs?status=nope")
    assert bad.status == 400


async def test_the_trace_page_counts_each_rule_as_the_json_trace_does(world: World) -> None:
    eval_id = await completed_job(world)
    trace = await (await world.client.get(f"/traces/{eval_id}?level=summary",
                                          headers=world.headers())).json()  # fmt: skip
    counts = next(s for s in trace["stages"] if s["name"] == "filter")["primary_reason_counts"]
    await signed_in(world)
    html = await (await world.client.get(f"/ui/traces/{eval_id}")).text()
    shown = dict(re.findall(r'data-rule="([^"]+)" data-count="(\d+)"', html))
    assert {rule: int(n) for rule, n in shown.items()} == counts
    assert trace["candidates"][0]["carrier_id"] in html
    assert "the rule that removed them" in html
    assert html.count('data-dimension="') == 6 * 25, "six dimensions for each of 25 candidates"
    rule = "F06_REVENUE_OUT_OF_RANGE"
    group = await (await world.client.get(f"/ui/traces/{eval_id}?rule={rule}")).text()
    assert len(re.findall(r'<tr data-carrier="car_\d+">', group)) == min(50, counts[rule])
    assert "max revenue" in group
    assert (await world.client.get(f"/ui/traces/{eval_id}?rule=F99")).status == 400
