"""The job-type registry: what each type declares, and the envelope reading it."""

from __future__ import annotations

import json

import pytest

from nexio_lite import jobtypes
from nexio_lite.api.routes import routes
from nexio_lite.envelope import envelope
from nexio_lite.models import Job, JobStatus
from tests import example_type

NOW = 1_750_000_000_000


def test_every_type_is_declared_once_with_a_served_create_route() -> None:
    assert jobtypes.names() == ("evaluation", "screen_analysis", "decay_sweep", "metrics")
    served = {f"{r.method} {r.path}" for r in routes()}
    for declared in jobtypes.registry():
        assert declared.create_route in served, declared
    assert jobtypes.swept_names() == ("evaluation", "screen_analysis")
    assert jobtypes.maintenance_names() == ("decay_sweep", "metrics")
    assert jobtypes.traced_names() == ("evaluation", "screen_analysis")


def test_a_registered_type_gets_its_route_and_joins_the_derived_lists() -> None:
    declared = example_type.declaration()
    jobtypes.register(declared)
    try:
        assert jobtypes.job_type("word_count") is declared
        assert [r.path for r in routes() if r.method == "POST"][:3] == [
            "/api/v1/jobs",
            "/api/v1/analysis/screen",
            "/api/v1/examples/word-count",
        ]
        assert jobtypes.swept_names()[-1] == "word_count"
        assert jobtypes.runners({"scorer": _Host()})["word_count"] == "run_package"
        with pytest.raises(ValueError, match="declared already"):
            jobtypes.register(declared)
    finally:
        jobtypes.unregister("word_count")
    assert "word_count" not in jobtypes.names()
    assert jobtypes.job_type("word_count").name == ""
    with pytest.raises(ValueError, match="built in"):
        jobtypes.unregister("evaluation")


class _Host:
    def __getattr__(self, name: str) -> str:
        return name


def test_runners_come_from_their_hosts() -> None:
    found = jobtypes.runners({"scorer": _Host(), "maintenance": _Host()})
    assert found == {"evaluation": "run_job", "screen_analysis": "run_screen",
                     "decay_sweep": "decay_sweep", "metrics": "metrics"}  # fmt: skip
    assert set(jobtypes.runners({"scorer": _Host()})) == {"evaluation", "screen_analysis"}


def _job(job_type: str, result: str) -> Job:
    return Job(seq=1, id="job_00000000000000000001", org_id="acme", type=job_type,
               status=JobStatus.COMPLETED, request="{}", created_at=NOW, updated_at=NOW,
               started_at=NOW, completed_at=NOW + 3, attempts=1, result=result)  # fmt: skip


def test_the_envelope_places_each_result_as_its_type_declares() -> None:
    screen = json.loads(envelope(_job("screen_analysis", '{"type":"analysis.screen.result"}'),
                                 "http://x"))  # fmt: skip
    assert screen["result"] == {"type": "analysis.screen.result"}
    assert not {"eval_id", "audit"} & set(screen)
    evaluation = json.loads(envelope(_job("evaluation", '{"pool_size":2}'), "http://x"))
    assert (evaluation["eval_id"], evaluation["pool_size"]) == (evaluation["id"], 2)
    assert evaluation["audit"] == f"http://x/traces/{evaluation['id']}"
    unknown = json.loads(envelope(_job("future_type", '{"n":1}'), "http://x"))
    assert unknown["n"] == 1
