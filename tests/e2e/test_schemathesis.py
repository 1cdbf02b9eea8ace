"""Schemathesis against the live server and its own /openapi.json, with all of its
checks: generated requests (bounded) never get a server error or a response that breaks
the documented schema, requests the schema allows are accepted and requests it forbids
are refused."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from pathlib import Path

from .conftest import Server, cli_env, free_port, run_cli

# Every check schemathesis has, among them positive_data_acceptance (a request the
# schema allows is not refused) and negative_data_rejection (one it forbids is refused).
CHECKS = "all"
HOOKS = Path(__file__).with_name("schemathesis_hooks.py")
# One worker: with two threads, hypothesis' lambda descriptions (ast.parse) meet a CPython
# 3.11.7 race ("AST constructor recursion depth mismatch"), an error of the tool's own.
# A request the schema allows may still name a pool that does not exist, or reuse an
# Idempotency-Key with another body: 422, decided by the data, which no schema can know.
# Every problem a schema can state is a 400, which stays a failure for a valid request.
CONFIG = """
[checks.positive_data_acceptance]
expected-statuses = ["2xx", "3xx", "401", "403", "404", "409", "422", "429", "5xx"]
"""


async def test_generated_requests_get_no_server_error_and_match_the_schema(
    tmp_path: Path, server_factory: type[Server]
) -> None:
    env = cli_env(tmp_path)
    for args in (["orgs", "create", "acme"], ["pools", "demo", "--org", "acme"]):
        assert (await run_cli(env, *args))[0] == 0
    code, out, err = await run_cli(env, "keys", "create", "--org", "acme", "--scopes",
                                   "jobs:write,jobs:read,traces:read,admin")  # fmt: skip
    assert code == 0, err
    key = out.strip().splitlines()[-1]
    server = server_factory(env, free_port(), tmp_path / "serve.log")
    await server.start()
    (tmp_path / "schemathesis.toml").write_text(CONFIG)
    st = Path(sys.executable).with_name("schemathesis")
    proc = await asyncio.create_subprocess_exec(
        str(st), "run", f"{server.url}/openapi.json", "-H", f"X-API-Key: {key}",
        "--checks", CHECKS, "--max-examples", "5", "--workers", "1",
        "--phases", "examples,coverage,fuzzing", "--seed", "20261122", "--max-time", "30",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, cwd=tmp_path,
        env={**os.environ, "SCHEMATHESIS_HOOKS": HOOKS.stem, "PYTHONPATH": str(HOOKS.parent)},
    )  # fmt: skip
    output = (await asyncio.wait_for(proc.communicate(), 150))[0].decode()
    tail = output[-4000:]
    assert proc.returncode == 0, tail
    generated = re.search(r"(\d+) generated", output)
    assert generated is not None, tail
    assert int(generated.group(1)) > 100, tail
    selected = re.search(r"Selected: (\d+)/(\d+)", output)
    tested = re.search(r"Tested: (\d+)", output)
    assert selected is not None, tail
    assert tested is not None, tail
    assert selected.group(1) == selected.group(2) == tested.group(1), tail  # every operation
