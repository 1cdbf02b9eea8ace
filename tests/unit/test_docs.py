"""The documentation stays true to the code: every setting, route, error code, job failure
code and log event is documented; links point at files and headings that exist; the
Python examples of docs/webhooks.md verify real signatures.

`tests/e2e/test_docs_examples.py` runs the rest of the examples against a real server.
"""

from __future__ import annotations

import ast
import json
import re
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from nexio_lite.api.middleware import _HTTP_CODES
from nexio_lite.api.routes import ROUTES
from nexio_lite.config import describe
from nexio_lite.verticals.carriers.carriers_io import parse_pool_file
from nexio_lite.webhooks.signing import new_secret, webhook_headers

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
SOURCE = ROOT / "nexio_lite"
PAGES = sorted([ROOT / "README.md", *DOCS.glob("*.md")])

_FENCE = re.compile(r"^```(\w*)\s*$")
_MARK = re.compile(r"^<!-- docs-example: ([\w-]+) -->$")


def code_blocks(path: Path, language: str) -> list[str]:
    """The fenced code blocks of `language` in the Markdown file `path`, in order."""
    return [text for lang, _, text in _blocks(path) if lang == language]


def marked_block(path: Path, name: str) -> str:
    """The code block right after `<!-- docs-example: name -->` in `path`."""
    found = [text for _, mark, text in _blocks(path) if mark == name]
    assert len(found) == 1, f"{path.name}: {len(found)} blocks marked {name!r}"
    return found[0]


def _blocks(path: Path) -> list[tuple[str, str | None, str]]:
    """(language, mark or None, text) of every fenced block."""
    blocks = []
    lines = path.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        opening = _FENCE.match(lines[i])
        if opening is None:
            i += 1
            continue
        mark = _MARK.match(lines[i - 1]) if i else None
        end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
        blocks.append((opening[1], mark[1] if mark else None, "\n".join(lines[i + 1 : end])))
        i = end + 1
    return blocks


# --- configuration ------------------------------------------------------------------------


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return repr(value)


def setting_rows() -> list[str]:
    """The table row of every setting, as docs/configuration.md must show it."""
    return [
        f"| `{section}.{key}` | `NEXIO_{section.upper()}_{key.upper()}` | `{_toml(default)}` "
        f"| {help_} |"
        for section, key, default, help_ in describe()
    ]


def test_configuration_doc_shows_every_setting_as_declared() -> None:
    """Each setting's row (key, environment variable, default, help) comes from
    nexio_lite/config.py; print `setting_rows()` to update the page after a change."""
    page = (DOCS / "configuration.md").read_text(encoding="utf-8")
    lines = set(page.splitlines())
    missing = [row for row in setting_rows() if row not in lines]
    assert not missing, "docs/configuration.md lacks or misstates:\n" + "\n".join(missing)
    documented = re.findall(r"^\| `(\w+\.\w+)` \|", page, flags=re.MULTILINE)
    declared = [f"{section}.{key}" for section, key, *_ in describe()]
    assert documented == declared  # no stale rows, in declaration order


# --- the API ------------------------------------------------------------------------------


def _api_doc() -> str:
    return (DOCS / "api.md").read_text(encoding="utf-8")


def answered_errors() -> set[tuple[int, str]]:
    """(status, code) of every error the application answers, read from its source."""
    found = {(status, code) for status, code in _HTTP_CODES.items()}
    found |= {(500, "internal"), (503, "unavailable")}
    for path in (SOURCE / "api").glob("*.py"):
        text = path.read_text(encoding="utf-8")
        for status, code in re.findall(r"ApiError\(\s*(\d{3}),\s*\"(\w+)\"", text):
            found.add((int(status), code))
    return found


def test_api_doc_lists_every_error_the_server_answers() -> None:
    table = {
        (int(status), code)
        for status, code in re.findall(r"^\| (\d{3}) \| `(\w+)` \|", _api_doc(), re.MULTILINE)
    }
    assert {(429, "rate_limited"), (422, "unknown_pool")} <= answered_errors()
    assert answered_errors() <= table, answered_errors() - table


def test_api_doc_lists_every_job_failure_code() -> None:
    codes = {"attempts_exhausted"}
    for path in SOURCE.glob("*.py"):
        codes |= set(re.findall(r"JobFailure\(\s*\"(\w+)\"", path.read_text(encoding="utf-8")))
    rows = set(re.findall(r"^\| `(\w+)` \|", _api_doc(), re.MULTILINE))
    assert codes <= rows, codes - rows


def test_api_doc_describes_every_route() -> None:
    """Every operation of the route table has a heading or a table row of its own."""
    headings = {
        line.split("`")[1] for line in _api_doc().splitlines() if line.startswith(("## `", "### `"))
    }
    rows = set(re.findall(r"^\| `(GET|POST) ([^`]+)` \|", _api_doc(), re.MULTILINE))
    for route in ROUTES:
        path = route.path.replace("{job_id}", "{id}")
        shown = f"{route.method} {path}"
        assert shown in headings or (route.method, path) in rows, shown


# --- log events ---------------------------------------------------------------------------

# Events whose name is chosen at run time (not a literal in the logging call).
DYNAMIC_EVENTS = (
    "job_completed",
    "leadership_taken",
    "leadership_lost",
    "scoring_process_died",
    "scoring_process_timeout",
    "http_request_rejected",
)


def logged_events() -> set[str]:
    """Every event name passed as a literal to a structlog call in the package."""
    events = set(DYNAMIC_EVENTS)
    levels = {"debug", "info", "warning", "error", "exception", "critical"}
    for path in SOURCE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in levels
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
            ):
                events.add(node.args[0].value)
    return events


def test_operations_doc_lists_every_log_event() -> None:
    doc = (DOCS / "operations.md").read_text(encoding="utf-8")
    assert "http_request" in logged_events()
    missing = sorted(e for e in logged_events() if f"`{e}`" not in doc)
    assert not missing, f"docs/operations.md does not describe: {missing}"


# --- links --------------------------------------------------------------------------------

_LINK = re.compile(r"\]\(([^)\s]+)\)")


def _anchors(path: Path) -> set[str]:
    """The anchors GitHub gives the headings of a Markdown page."""
    anchors = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            slug = re.sub(r"[^\w\- ]", "", title).replace(" ", "-")
            anchors.add(slug)
    return anchors


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_links_point_at_files_and_headings_of_the_repository(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    assert "../shared" not in text
    for target in _LINK.findall(text):
        if target.startswith(("http://", "https://", "mailto:")):
            continue
        file_part, _, anchor = target.partition("#")
        linked = (page.parent / file_part).resolve() if file_part else page
        assert linked.exists(), f"{page.name}: {target} does not exist"
        if anchor and linked.suffix == ".md":
            assert anchor in _anchors(linked), f"{page.name}: no heading for {target}"


# --- pools --------------------------------------------------------------------------------


def test_the_sample_pool_and_the_jsonl_example_are_valid_pool_files() -> None:
    sample = parse_pool_file((DOCS / "examples" / "pool-sample.csv").read_bytes(), "csv")
    assert [c.carrier_id for c in sample] == [f"car_9000{n}" for n in range(1, 9)]
    record = marked_block(DOCS / "pools.md", "jsonl-record")
    (carrier,) = parse_pool_file(record.encode() + b"\n", "jsonl")
    assert carrier == sample[0]


# --- webhooks -----------------------------------------------------------------------------

WEBHOOK_EXAMPLES = code_blocks(DOCS / "webhooks.md", "python")


def run_receiver_example(code: str, secret: str, monkeypatch: pytest.MonkeyPatch) -> dict:
    """Run one receiver example of docs/webhooks.md as its reader would (the secret in
    the environment); its names, among them `app` and `received`."""
    monkeypatch.setenv("WEBHOOK_SECRET", secret)
    names: dict[str, Any] = {"__name__": "docs_example"}
    exec(compile(code, "docs/webhooks.md", "exec"), names)
    assert isinstance(names["app"], web.Application)
    assert names["received"] == []
    return names


def test_the_webhook_page_has_the_two_receivers() -> None:
    assert len(WEBHOOK_EXAMPLES) == 2
    assert "verify_webhook" in WEBHOOK_EXAMPLES[0]
    assert "standardwebhooks" in WEBHOOK_EXAMPLES[1]


@pytest.mark.parametrize("code", WEBHOOK_EXAMPLES, ids=["client", "standardwebhooks"])
async def test_each_webhook_example_accepts_a_signed_delivery_and_refuses_others(
    code: str,
    monkeypatch: pytest.MonkeyPatch,
    aiohttp_client: Callable[[web.Application], Awaitable[TestClient]],
) -> None:
    old, new = new_secret(), new_secret()
    example = run_receiver_example(code, old, monkeypatch)
    client = await aiohttp_client(example["app"])
    body = b'{"id":"eval_abc","eval_id":"eval_abc","type":"evaluation","status":"failed"}'

    def post(secrets: list[str], sent: bytes = body, at: int | None = None) -> Any:
        stamp = int(time.time()) if at is None else at
        headers = webhook_headers(secrets, "msg_docs0000000000000000001", stamp, body, "test")
        return client.post("/hooks/nexio", data=sent, headers=headers)

    async with post([new, old]) as answer:  # signed during a rotation: both signatures
        assert answer.status == 204
    assert example["received"] == [json.loads(body)]
    async with post([new]) as answer:  # the receiver holds the old secret only
        assert answer.status == 400
    async with post([old], sent=body.replace(b"failed", b"completed")) as answer:
        assert answer.status == 400
    async with post([old], at=int(time.time()) - 600) as answer:  # a replay, 10 minutes late
        assert answer.status == 400
    assert len(example["received"]) == 1
