"""The `nexio-lite` commands of API.md §1, run as a user runs them."""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from pathlib import Path

import pytest

from .conftest import cli_env, run_cli

DEMO_SHA = "7c4618a074fc7dc553368138bf46b4e38f7ad7e6e9c057438b40b8d6865bd94f"


async def test_org_key_and_pool_commands(tmp_path: Path) -> None:
    env = cli_env(tmp_path)
    code, out, _ = await run_cli(env, "orgs", "create", "acme")
    assert code == 0
    first_secret = out.splitlines()[-1]
    assert re.fullmatch(r"whsec_[A-Za-z0-9+/=]+", first_secret)
    code, out, _ = await run_cli(env, "orgs", "rotate-secret", "acme")
    assert code == 0
    assert "24 hours" in out
    assert re.fullmatch(r"whsec_[A-Za-z0-9+/=]+", out.splitlines()[-1])
    assert out.splitlines()[-1] != first_secret

    code, out, _ = await run_cli(env, "keys", "create", "--org", "acme", "--scopes",
                                 "jobs:read,admin", "--name", "ci")  # fmt: skip
    assert code == 0
    lines = out.splitlines()
    assert re.fullmatch(r"key_\w+", lines[0])
    assert re.fullmatch(r"nx_live_[0-9A-Za-z]{32}", lines[-1])
    key_id = lines[0]

    code, out, _ = await run_cli(env, "keys", "list", "--org", "acme")
    fields = out.splitlines()[0].split("\t")
    assert fields[0] == key_id
    assert fields[1:3] == ["ci", "jobs:read,admin"]
    assert fields[4] == "-"
    assert fields[5] == "active"

    assert (await run_cli(env, "keys", "revoke", key_id))[0] == 0
    code, out, _ = await run_cli(env, "keys", "list", "--org", "acme")
    assert out.split("\t")[-1].strip() == "revoked"

    code, out, _ = await run_cli(env, "pools", "demo", "--org", "acme")
    assert code == 0
    assert DEMO_SHA in out
    code, out, _ = await run_cli(env, "pools", "list", "--org", "acme")
    assert out.strip().split("\t") == ["carriers:all", "1", "1847", "2025-06-30", DEMO_SHA]


async def test_demo_prints_a_key_and_how_to_call(tmp_path: Path) -> None:
    env = cli_env(tmp_path)
    code, out, err = await run_cli(env, "demo")
    assert code == 0, err
    assert re.search(r"nx_live_[0-9A-Za-z]{32}", out)
    assert "curl -s -X POST 'http://127.0.0.1:8080/api/v1/jobs'" in out
    # Running it again keeps the organization and the pool version.
    code, out, err = await run_cli(env, "demo")
    assert code == 0, err
    assert "carriers:all v1" in out


async def test_import_refuses_a_bad_row_by_line_and_imports_nothing(tmp_path: Path) -> None:
    env = cli_env(tmp_path)
    await run_cli(env, "orgs", "create", "acme")
    await run_cli(env, "pools", "demo", "--org", "acme", "--pool", "small", "--size", "3")
    from nexio_lite.verticals.carriers.pool import carrier_to_dict, generate_pool

    rows = [carrier_to_dict(c) for c in generate_pool(3)]
    rows[1]["max_revenue"] = "lots"
    bad = tmp_path / "bad.jsonl"
    bad.write_text("".join(json.dumps(r) + "\n" for r in rows))
    code, out, err = await run_cli(env, "pools", "import", "--org", "acme", "--pool", "small",
                                   str(bad))  # fmt: skip
    assert code != 0
    assert len(err.strip().splitlines()) == 1
    assert "line 2" in err
    assert "max_revenue" in err
    code, out, _ = await run_cli(env, "pools", "list", "--org", "acme")
    assert out.strip().split("\t")[:3] == ["small", "1", "3"]

    good = tmp_path / "good.jsonl"
    rows[1]["max_revenue"] = 250_000_000
    good.write_text("".join(json.dumps(r) + "\n" for r in rows[:2]))
    code, out, err = await run_cli(env, "pools", "import", "--org", "acme", "--pool", "small",
                                   "--as-of", "2025-01-31", str(good))  # fmt: skip
    assert code == 0, err
    assert "version 2: 2 carriers, as of 2025-01-31" in out


@pytest.mark.parametrize(
    "args",
    [
        ["nonsense"],
        ["keys", "create"],
        ["keys", "create", "--org", "acme", "--scopes", "jobs:everything"],
        ["orgs", "create", "Not An Org"],
        ["pools", "demo", "--org", "acme", "--size", "0"],
        ["pools", "import", "--org", "acme", "--pool", "p", "--as-of", "2025-02-30", "x.csv"],
        ["keys", "list", "--org", "ghost"],
        ["keys", "revoke", "key_nope"],
        ["pools", "import", "--org", "acme", "--pool", "p", "missing.jsonl"],
        ["pools", "import", "--org", "acme", "--pool", "p", "pool.txt"],
    ],
)
async def test_bad_arguments_exit_non_zero_with_one_line(tmp_path: Path, args: list[str]) -> None:
    env = cli_env(tmp_path)
    await run_cli(env, "orgs", "create", "acme")
    (tmp_path / "pool.txt").write_text("x")
    code, _, err = await run_cli(
        env, *[a.replace("pool.txt", str(tmp_path / "pool.txt")) for a in args]
    )
    assert code != 0
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("nexio-lite:")


async def test_bad_configuration_is_refused_at_start(tmp_path: Path) -> None:
    env = cli_env(tmp_path, NEXIO_SERVER_PORT="eighty")
    code, _, err = await run_cli(env, "serve")
    assert code != 0
    assert "server.port" in err
    assert len(err.strip().splitlines()) == 1


async def _keys_create_into(env: dict[str, str], reader: list[str]) -> tuple[int, str]:
    """`nexio-lite keys create --org acme | <reader>`, a real pipe between two processes;
    the reader (`head -n 0`) has exited, closing the pipe, before the CLI writes."""
    read_end, write_end = os.pipe()
    head = await asyncio.create_subprocess_exec(
        *reader, stdin=read_end, stdout=asyncio.subprocess.DEVNULL
    )
    os.close(read_end)
    await asyncio.wait_for(head.wait(), 30)
    cli = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "nexio_lite", "keys", "create", "--org", "acme",
        env=env, stdout=write_end, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    os.close(write_end)
    _, err = await asyncio.wait_for(cli.communicate(), 60)
    assert cli.returncode is not None
    return cli.returncode, err.decode()


async def test_keys_create_into_a_closed_pipe_exits_0_quietly(tmp_path: Path) -> None:
    env = cli_env(tmp_path)
    assert (await run_cli(env, "orgs", "create", "acme"))[0] == 0
    code, err = await _keys_create_into(env, ["head", "-n", "0"])
    assert (code, err) == (0, "")
    code, out, _ = await run_cli(env, "keys", "list", "--org", "acme")
    assert len(out.splitlines()) == 1  # the key was created before the output was cut


async def test_keys_create_piped_to_head_1_exits_0_quietly(tmp_path: Path) -> None:
    env = cli_env(tmp_path)
    assert (await run_cli(env, "orgs", "create", "acme"))[0] == 0
    shell = await asyncio.create_subprocess_exec(
        "bash", "-c", 'set -o pipefail; "$@" | head -1', "pipeline",
        sys.executable, "-m", "nexio_lite", "keys", "create", "--org", "acme",
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(shell.communicate(), 60)
    assert (shell.returncode, err.decode()) == (0, "")
    assert re.fullmatch(r"key_\w+\n", out.decode())


@pytest.mark.parametrize(
    "args",
    [["keys", "list", "--org", "demo"], ["pools", "list", "--org", "demo"],
     ["keys", "revoke", "key_x"], ["backup", "copy.db"]],
)  # fmt: skip
async def test_a_command_that_reads_never_creates_an_empty_database(
    tmp_path: Path, args: list[str]
) -> None:
    env = cli_env(tmp_path)
    code, _, err = await run_cli(env, *args)
    assert code == 1
    assert err.count("\n") == 1
    assert "no database at" in err
    assert "nexio-lite demo" in err
    assert not (tmp_path / "nexio.db").exists()


async def test_demo_prints_quoted_commands_and_how_to_make_an_admin_key(tmp_path: Path) -> None:
    env = cli_env(tmp_path)
    code, out, _ = await run_cli(env, "demo")
    assert code == 0
    lines = [line.strip() for line in out.splitlines()]
    assert any(line.startswith("KEY='nx_live_") for line in lines)
    urls = [line for line in lines if line.startswith("curl")]
    assert all("?" not in line.split("-H")[0] or '"' in line for line in urls), urls
    assert "nexio-lite keys create --org demo --scopes admin --name admin" in lines
    # The CLI then sees the demo organization in the same database.
    code, out, _ = await run_cli(env, "keys", "list", "--org", "demo")
    assert code == 0
    assert out.count("\n") == 1


def _bad_csv(tmp_path: Path, rows: int) -> Path:
    """A CSV of `rows` demo carriers, each with an unknown segment (one problem a row)."""
    import csv
    import io

    from nexio_lite.verticals.carriers.carriers_io import write_csv
    from nexio_lite.verticals.carriers.pool import generate_pool

    table = list(csv.reader(io.StringIO(write_csv(generate_pool(rows)).decode())))
    column = table[0].index("segment")
    for row in table[1:]:
        row[column] = "mega"
    path = tmp_path / "bad.csv"
    with path.open("w", newline="") as f:
        csv.writer(f, lineterminator="\n").writerows(table)
    return path


SEGMENT_PROBLEM = "segment must be one of: national, regional, specialty, program, es"


async def test_import_lists_every_problem_by_line_up_to_50_then_a_count(tmp_path: Path) -> None:
    env = cli_env(tmp_path)
    await run_cli(env, "orgs", "create", "acme")
    code, out, err = await run_cli(env, "pools", "import", "--org", "acme", "--pool", "p",
                                   str(_bad_csv(tmp_path, 60)))  # fmt: skip
    assert (code, out) == (1, "")
    lines = err.splitlines()
    assert lines[0] == "nexio-lite: bad.csv: 60 problems, nothing was imported:"
    assert (
        lines[1] == "  line 2: segment must be one of: national, regional, specialty, program, es"
    )
    assert [line.split(":")[0] for line in lines[1:51]] == [f"  line {n}" for n in range(2, 52)]
    assert lines[51:] == ["  … and 10 more problems"]
    code, out, _ = await run_cli(env, "pools", "list", "--org", "acme")
    assert (code, out) == (0, "")


@pytest.mark.parametrize(("delimiter", "name"), [(";", "semicolons"), ("\t", "tabs")])
async def test_import_of_a_csv_with_another_delimiter_says_so_in_one_line(
    tmp_path: Path, delimiter: str, name: str
) -> None:
    from nexio_lite.verticals.carriers.carriers_io import write_csv
    from nexio_lite.verticals.carriers.pool import generate_pool

    env = cli_env(tmp_path)
    await run_cli(env, "orgs", "create", "acme")
    text = write_csv(generate_pool(5)).decode()
    export = tmp_path / "export.csv"
    export.write_text(text.replace(",", delimiter))  # as a spreadsheet in another locale saves it
    code, _, err = await run_cli(env, "pools", "import", "--org", "acme", "--pool", "p",
                                 str(export))  # fmt: skip
    assert code == 1
    assert err.count("\n") == 1, err
    assert err.startswith(f"nexio-lite: export.csv: line 1: the header's columns are separated "
                          f"by {name}, not commas")  # fmt: skip
    assert err.rstrip().endswith("; nothing was imported")


async def _run_with_terminal_stderr(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    """Run the CLI with a pseudo-terminal as its stderr; (exit code, stdout, what the
    terminal showed)."""
    import pty

    master, slave = pty.openpty()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "nexio_lite", *args, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=slave,
    )  # fmt: skip
    os.close(slave)

    def read_terminal() -> bytes:
        shown = b""
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: every writer has closed the terminal
                return shown
            if not chunk:
                return shown
            shown += chunk

    shown, (out, _) = await asyncio.gather(
        asyncio.to_thread(read_terminal), asyncio.wait_for(proc.communicate(), 60)
    )
    os.close(master)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), shown.decode()


async def test_long_pool_work_shows_progress_on_a_terminal_only(tmp_path: Path) -> None:
    env = cli_env(tmp_path)
    await run_cli(env, "orgs", "create", "acme")
    code, out, shown = await _run_with_terminal_stderr(
        env, "pools", "demo", "--org", "acme", "--pool", "big", "--size", "3000"
    )
    assert code == 0, shown
    assert out.startswith("big version 1: 3000 carriers")
    assert "pools demo: generating 3,000 carriers" in shown
    assert "pools demo: storing 3,000 carriers as big" in shown
    assert shown.endswith("\r")  # the line is erased at the end

    from nexio_lite.verticals.carriers.carriers_io import write_csv
    from nexio_lite.verticals.carriers.pool import generate_pool

    (tmp_path / "pool.csv").write_bytes(write_csv(generate_pool(2500)))
    args = ("pools", "import", "--org", "acme", "--pool", "mine", str(tmp_path / "pool.csv"))
    code, out, shown = await _run_with_terminal_stderr(env, *args)
    assert code == 0, shown
    assert "pools import: checking pool.csv: 2,000 carriers read" in shown
    assert "pools import: storing 2,500 carriers as mine" in shown
    # Not a terminal (a pipe, a log file): nothing but the result.
    code, out, err = await run_cli(env, *args[:5], "again", args[-1])
    assert (code, err) == (0, "")
    assert out.startswith("imported again version 1: 2500 carriers")
