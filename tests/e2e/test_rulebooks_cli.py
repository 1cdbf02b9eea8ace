"""`nexio-lite rulebooks import|demo|list` (SCREEN.md §2), run as a user runs them, on
SQLite and on PostgreSQL: immutable versions with the sha256 of the canonical JSON, and an
import with any problem reporting every one with its JSON path and importing nothing."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from nexio_lite.verticals.screen import RulebookError, load_rulebook
from nexio_lite.verticals.screen.model import model_rulebook_json

from .conftest import cli_env, run_cli

MODEL_SHA = "00432567372ae58e6329b20cf48c307b1af4bac22549b8a15dd92bcd3ab7c0b6"


def _model() -> dict[str, Any]:
    obj: dict[str, Any] = json.loads(model_rulebook_json())
    return obj


def _sha(obj: Any) -> str:
    canonical = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _write(path: Path, obj: Any) -> str:
    path.write_text(json.dumps(obj, indent=2), encoding="utf-8")
    return str(path)


async def _ok(env: dict[str, str], *args: str) -> str:
    code, out, err = await run_cli(env, *args)
    assert code == 0, err
    return out


async def test_demo_import_and_list_keep_immutable_versions(
    tmp_path: Path, db_env: dict[str, str]
) -> None:
    env = cli_env(tmp_path, **db_env)
    await _ok(env, "orgs", "create", "acme")
    assert await _ok(env, "rulebooks", "list", "--org", "acme") == "", "none until imported"

    out = await _ok(env, "rulebooks", "demo", "--org", "acme")
    assert out.splitlines() == [
        f"imported rules:default version 1: 10 rules, 5 regulations, sha256 {MODEL_SHA}"
    ]
    out = await _ok(env, "rulebooks", "demo", "--org", "acme")
    assert "rules:default version 1 already holds this content" in out
    assert MODEL_SHA in out

    small = _model()
    small["rules"] = small["rules"][:3]
    small_file = _write(tmp_path / "small.json", small)
    out = await _ok(env, "rulebooks", "import", "--org", "acme", "--rulebook", "rules:small",
                    small_file)  # fmt: skip
    assert out.splitlines() == [
        f"imported rules:small version 1: 3 rules, 5 regulations, sha256 {_sha(small)}"
    ]
    # The same content, written differently (keys in another order, other spacing).
    reordered = tmp_path / "reordered.json"
    reordered.write_text(json.dumps({"rules": small["rules"], "regulations": small["regulations"]}))
    out = await _ok(env, "rulebooks", "import", "--org", "acme", "--rulebook", "rules:small",
                    str(reordered))  # fmt: skip
    assert "rules:small version 1 already holds this content" in out

    changed = _model()
    changed["rules"][0]["title"] = "Surplus lines notice not found"
    out = await _ok(env, "rulebooks", "import", "--org", "acme", "--rulebook", "rules:default",
                    _write(tmp_path / "changed.json", changed))  # fmt: skip
    assert out.startswith(f"imported rules:default version 2: 10 rules, 5 regulations, sha256 "
                          f"{_sha(changed)}")  # fmt: skip

    out = await _ok(env, "rulebooks", "list", "--org", "acme")
    assert [line.split("\t") for line in out.splitlines()] == [
        ["rules:default", "2", "10", "5", _sha(changed)],
        ["rules:small", "1", "3", "5", _sha(small)],
    ]
    await _ok(env, "orgs", "create", "other")
    assert await _ok(env, "rulebooks", "list", "--org", "other") == "", "per organization"
    out = await _ok(env, "rulebooks", "demo", "--org", "other", "--rulebook", "model")
    assert out.startswith("imported model version 1:")
    out = await _ok(env, "rulebooks", "list", "--org", "other")
    assert out.splitlines() == [f"model\t1\t10\t5\t{MODEL_SHA}"]


async def test_a_bad_rule_book_reports_every_problem_with_its_path_and_imports_nothing(
    tmp_path: Path,
) -> None:
    env = cli_env(tmp_path)
    await _ok(env, "orgs", "create", "acme")
    await _ok(env, "rulebooks", "demo", "--org", "acme")
    bad = _model()
    bad["regulations"][2]["id"] = "bad id!"
    bad["rules"][0]["priority"] = "p9"
    bad["rules"][1]["cites"][0]["paragraph"] = 99
    bad["rules"][3]["extra"] = 1
    bad["rules"][4]["phrases"] = []
    bad["rules"][9]["cites"][0] = {"regulation": "MD-9", "paragraph": 1}
    for rulebook_id in ("rules:default", "rules:new"):
        code, out, err = await run_cli(env, "rulebooks", "import", "--org", "acme", "--rulebook",
                                       rulebook_id, _write(tmp_path / "bad.json", bad))  # fmt: skip
        assert code != 0
        assert out == ""
        lines = err.rstrip("\n").splitlines()
        assert lines[0] == "nexio-lite: bad.json: 7 problems, nothing was imported:"
        assert lines[1:] == [
            "  regulations[2].id: must be 1-64 characters from A-Z, a-z, 0-9, '-', '_' and '.'",
            "  rules[0].priority: must be one of: p1, p2, p3",
            "  rules[1].cites[0]: names paragraph 99 of regulation 'MD-1', which has 3 paragraphs",
            "  rules[3].extra: is not a recognized key",
            "  rules[4].phrases: must be a list of 1-50 phrases",
            "  rules[5].cites[0]: names regulation 'MD-3', which this rule book lacks",
            "  rules[9].cites[0]: names regulation 'MD-9', which this rule book lacks",
        ]
    out = await _ok(env, "rulebooks", "list", "--org", "acme")
    assert out.splitlines() == [f"rules:default\t1\t10\t5\t{MODEL_SHA}"], "nothing imported"


async def test_a_report_lists_fifty_problems_then_a_count(tmp_path: Path) -> None:
    env = cli_env(tmp_path)
    await _ok(env, "orgs", "create", "acme")
    bad = _model()
    bad["rules"] = [{**bad["rules"][0], "id": f"bad-{i}"} for i in range(60)]
    path = _write(tmp_path / "many.json", bad)
    with pytest.raises(RulebookError) as raised:
        load_rulebook(json.dumps(bad))
    expected = [f"  {p.path}: {p.message}" for p in raised.value.problems]
    assert len(expected) == 60
    code, _, err = await run_cli(env, "rulebooks", "import", "--org", "acme", "--rulebook", "x",
                                 path)  # fmt: skip
    assert code != 0
    lines = err.rstrip("\n").splitlines()
    assert lines[0] == "nexio-lite: many.json: 60 problems, nothing was imported:"
    assert lines[1:51] == expected[:50]
    assert lines[51:] == ["  … and 10 more problems"]
    assert await _ok(env, "rulebooks", "list", "--org", "acme") == ""


async def test_bad_input_exits_non_zero_with_one_line(tmp_path: Path) -> None:
    env = cli_env(tmp_path)
    await _ok(env, "orgs", "create", "acme")
    not_json = tmp_path / "notjson.json"
    not_json.write_text("{'regulations': []}")
    empty_text = tmp_path / "text.json"
    empty_text.write_text(json.dumps({"regulations": [], "rules": "none"}))
    good = _write(tmp_path / "good.json", _model())
    cases = [
        (["rulebooks", "import", "--org", "acme", str(not_json)], "--rulebook"),
        (["rulebooks", "import", "--org", "acme", "--rulebook", "x", str(not_json)],
         "notjson.json: is not valid JSON"),
        (["rulebooks", "import", "--org", "acme", "--rulebook", "x", str(empty_text)],
         "text.json: rules: must be a list; nothing was imported"),
        (["rulebooks", "import", "--org", "acme", "--rulebook", "x", str(tmp_path / "nope")],
         "nope"),
        (["rulebooks", "import", "--org", "ghost", "--rulebook", "x", good], "ghost"),
        (["rulebooks", "import", "--org", "acme", "--rulebook", " x", good], "rule book id"),
        (["rulebooks", "import", "--org", "acme", "--rulebook", "x" * 129, good], "1-128"),
        (["rulebooks", "demo", "--org", "ghost"], "ghost"),
        (["rulebooks", "list", "--org", "ghost"], "ghost"),
        (["rulebooks", "list"], "--org"),
    ]  # fmt: skip
    for args, said in cases:
        code, _, err = await run_cli(env, *args)
        assert code != 0, args
        assert len(err.strip().splitlines()) == 1, (args, err)
        assert said in err, (args, err)
    assert await _ok(env, "rulebooks", "list", "--org", "acme") == ""


async def test_the_demo_command_imports_the_model_rule_book(tmp_path: Path) -> None:
    env = cli_env(tmp_path)
    out = await _ok(env, "demo")
    assert "rule book     rules:default v1, 10 rules, 5 regulations" in out
    out = await _ok(env, "rulebooks", "list", "--org", "demo")
    assert out.splitlines() == [f"rules:default\t1\t10\t5\t{MODEL_SHA}"]
    out = await _ok(env, "demo")  # again: the same version
    assert "rule book     rules:default v1," in out


async def test_migrate_data_copies_the_rule_books(tmp_path: Path, postgres_url: str) -> None:
    env = cli_env(tmp_path)
    await _ok(env, "orgs", "create", "acme")
    await _ok(env, "rulebooks", "demo", "--org", "acme")
    changed = _model()
    changed["regulations"][0]["title"] = "Placements with surplus lines insurers"
    await _ok(env, "rulebooks", "import", "--org", "acme", "--rulebook", "rules:default",
              _write(tmp_path / "changed.json", changed))  # fmt: skip
    out = await _ok(env, "migrate-data", "--to", postgres_url)
    assert "rulebook_versions: 2 -> 2" in out.splitlines()
    pg = {**env, "NEXIO_DATABASE_URL": postgres_url}
    before = await _ok(env, "rulebooks", "list", "--org", "acme")
    assert await _ok(pg, "rulebooks", "list", "--org", "acme") == before
    # Numbering continues after the copied versions, and identical content is recognized.
    out = await _ok(pg, "rulebooks", "demo", "--org", "acme")
    assert out.startswith(f"imported rules:default version 3: 10 rules, 5 regulations, "
                          f"sha256 {MODEL_SHA}")  # fmt: skip
