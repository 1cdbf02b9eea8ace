"""A client generated from the live server's /openapi.json by openapi-python-client: it
generates with no warning, and the generated code submits a job, reads it completed, and
parses a 400 and a 404 into typed errors."""

from __future__ import annotations

import asyncio
import importlib
import os
import sys
from pathlib import Path
from typing import Any

from .conftest import Server, cli_env, free_port, run_cli

BIN = Path(sys.executable).parent


async def _generate(url: str, out: Path) -> str:
    # The generator formats its output with ruff when ruff is on PATH (ours is in the venv).
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    proc = await asyncio.create_subprocess_exec(
        str(BIN / "openapi-python-client"), "generate", "--url", url, "--meta", "none",
        "--output-path", str(out), env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output = (await asyncio.wait_for(proc.communicate(), 120))[0].decode()
    assert proc.returncode == 0, output
    return output


async def test_generated_client_submits_reads_and_types_errors(
    tmp_path: Path, server_factory: type[Server]
) -> None:
    env = cli_env(tmp_path)
    for args in (["orgs", "create", "acme"], ["pools", "demo", "--org", "acme"],
                 ["rulebooks", "demo", "--org", "acme"]):  # fmt: skip
        assert (await run_cli(env, *args))[0] == 0
    code, out, err = await run_cli(env, "keys", "create", "--org", "acme")
    assert code == 0, err
    key = out.strip().splitlines()[-1]
    server = server_factory(env, free_port(), tmp_path / "serve.log")
    await server.start()

    output = await _generate(f"{server.url}/openapi.json", tmp_path / "gen" / "nexio_client")
    assert "warning" not in output.lower(), output

    sys.path.insert(0, str(tmp_path / "gen"))
    try:
        await asyncio.to_thread(_use_generated_client, server.url, key)
    finally:
        sys.path.remove(str(tmp_path / "gen"))
        for name in [m for m in sys.modules if m.split(".")[0] == "nexio_client"]:
            del sys.modules[name]


def _use_generated_client(base_url: str, key: str) -> None:
    client_mod: Any = importlib.import_module("nexio_client")
    models: Any = importlib.import_module("nexio_client.models")
    submit_job: Any = importlib.import_module("nexio_client.api.jobs.submit_job")
    submit_screen: Any = importlib.import_module("nexio_client.api.jobs.submit_screen")
    get_job: Any = importlib.import_module("nexio_client.api.jobs.get_job")

    with client_mod.AuthenticatedClient(base_url=base_url, token=key) as client:
        profile = models.Profile(
            entity="acme-manufacturing",
            state=models.ProfileState.CA,
            line=models.ProfileLine.PROFESSIONAL_LIABILITY,
            revenue=12_000_000,
            min_am_best=models.ProfileMinAmBestType0.A_MINUS,
        )
        body = models.SubmitJobRequest(profile=profile, pool="carriers:all")
        accepted = submit_job.sync(client=client, body=body, idempotency_key="gen-1")
        assert isinstance(accepted, models.JobAccepted), accepted
        assert accepted.status == models.JobAcceptedStatus.QUEUED

        job = get_job.sync(client=client, job_id=accepted.eval_id, wait=30)
        assert isinstance(job, models.EvaluationJob), job  # the variant its `type` names
        assert job.status == models.EvaluationJobStatus.COMPLETED
        assert job.type_ == models.EvaluationJobType.EVALUATION
        assert job.candidates, "a completed evaluation of the demo pool ranks carriers"
        first = job.candidates[0]
        assert isinstance(first, models.Candidate)
        assert first.rank == 1
        assert isinstance(first.scores.appetite, models.CandidateScoresAppetite)
        assert job.pool_size == job.filtered + job.passed

        screen_body = models.ScreenRequest(content="Guaranteed approval for every applicant.")
        screened = submit_screen.sync(client=client, body=screen_body)
        assert isinstance(screened, models.ScreenJobAccepted), screened
        screen_job = get_job.sync(client=client, job_id=screened.id, wait=30)
        assert isinstance(screen_job, models.ScreenAnalysisJob), screen_job
        assert isinstance(screen_job.result, models.ScreenResult)
        assert screen_job.result.risk_score == 75  # S04 alone: no context
        assert [f.rule_id for f in screen_job.result.findings] == ["S04"]

        bad = models.SubmitJobRequest(
            profile=models.Profile(
                entity="acme",
                state=models.ProfileState.CA,
                line=models.ProfileLine.CYBER,
                revenue=0,
            ),
            pool="carriers:all",
        )
        error = submit_job.sync(client=client, body=bad)
        assert isinstance(error, models.Error), error
        assert error.error.code == "invalid_request"
        (detail,) = error.error.details
        assert isinstance(detail, models.ErrorDetail)
        assert (detail.field, detail.code) == ("profile.revenue", "range")

        missing = get_job.sync(client=client, job_id="eval_0000000000000000")
        assert isinstance(missing, models.Error), missing
        assert missing.error.code == "not_found"
        assert missing.error.details == []
