"""A third job type made from one package and one registry line (`tests.example_type`):
the generic create route, validation, idempotency, the envelope, the stored trace,
listing, metrics, webhooks, decay_sweep and /openapi.json, on a real app and a real
SQLite file, run in a real scoring process."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from openapi_spec_validator import validate

from nexio_lite import jobtypes
from nexio_lite.client import AsyncClient
from tests import example_type

from .conftest import SEED_BODY, World, WorldFactory
from .receiver import Receiver

URL = "/api/v1/examples/word-count"
TEXT = "The quick brown fox jumps over the lazy dog; the DOG sleeps."


@pytest.fixture
def word_count() -> Iterator[None]:
    jobtypes.register(example_type.declaration())
    try:
        yield
    finally:
        jobtypes.unregister("word_count")


@pytest.fixture
async def counting(word_count: None, make_world: WorldFactory) -> World:
    return await make_world()


async def _post(world: World, body: Any, who: str = "full", **headers: str) -> Any:
    return await world.client.post(URL, json=body, headers=world.headers(who, **headers))


async def _submit(world: World, body: Any) -> str:
    resp = await _post(world, body)
    assert resp.status == 202, await resp.text()
    answer = await resp.json()
    assert answer == {"id": answer["id"], "type": "word_count", "status": "queued"}
    assert resp.headers["Location"] == f"/api/v1/jobs/{answer['id']}"
    return str(answer["id"])


async def test_the_job_runs_in_a_scoring_process_and_keeps_its_trace(
    word_count: None, make_world: WorldFactory
) -> None:
    world = await make_world(workers={"processes": 1, "concurrency": 2})
    job_id = await _submit(world, {"text": TEXT, "min_length": 3})
    job = await world.wait_terminal(job_id, timeout=30)
    assert job["status"] == "completed", job
    assert job["type"] == "word_count"
    assert job["result"] == {"words": 12, "distinct": 9, "longest": "sleeps"}
    assert not {"eval_id", "audit", "candidates"} & set(job)
    trace = await world.client.get(f"/traces/{job_id}", headers=world.headers("tracer"))
    assert trace.status == 200
    assert await trace.json() == {"id": job_id, "tokens": 12}


async def test_every_problem_is_reported_at_once_sorted(counting: World) -> None:
    resp = await _post(counting, {"min_length": 0, "colour": "red", "webhook_url": 7})
    assert resp.status == 400
    error = (await resp.json())["error"]
    assert error["code"] == "invalid_request"
    assert [(d["field"], d["code"]) for d in error["details"]] == [
        ("colour", "unknown_field"), ("min_length", "range"), ("text", "required"),
        ("webhook_url", "type"),
    ]  # fmt: skip
    assert (await _post(counting, [1])).status == 400


async def test_webhook_url_is_vetted_and_the_scope_is_jobs_write(counting: World) -> None:
    resp = await _post(counting, {"text": TEXT, "webhook_url": "http://10.0.0.1/hook"})
    assert resp.status == 422
    assert (await resp.json())["error"]["code"] == "invalid_webhook_url"
    assert (await _post(counting, {"text": TEXT}, who="reader")).status == 403
    assert (await _post(counting, {"text": TEXT}, who="writer")).status == 202


async def test_idempotency_key_replays_and_is_per_endpoint(counting: World) -> None:
    first = await _post(counting, {"text": TEXT}, **{"Idempotency-Key": "k-1"})
    again = await _post(counting, {"text": TEXT}, **{"Idempotency-Key": "k-1"})
    assert (first.status, again.status) == (202, 202)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert await again.json() == await first.json()
    evaluation = await counting.client.post(
        "/api/v1/jobs", json=SEED_BODY, headers=counting.headers(**{"Idempotency-Key": "k-1"})
    )
    assert evaluation.status == 422


async def test_listed_by_type_counted_in_metrics_and_swept(counting: World) -> None:
    job_id = await _submit(counting, {"text": TEXT})
    await counting.wait_terminal(job_id)
    assert (await counting.submit()).status == 202
    resp = await counting.client.get("/api/v1/jobs?type=word_count",
                                     headers=counting.headers("reader"))  # fmt: skip
    assert [j["id"] for j in (await resp.json())["data"]] == [job_id]
    metrics = await (await counting.client.get("/metrics")).text()
    assert 'nexio_jobs_submitted_total{type="word_count"} 1.0' in metrics
    sweep = await counting.client.post(
        "/api/v1/maintenance/jobs", headers=counting.headers("admin"),
        json={"job_type": "decay_sweep", "older_than_days": 0},
    )  # fmt: skip
    assert sweep.status == 202
    await counting.wait_terminal((await sweep.json())["id"], who="reader")
    gone = await counting.client.get(f"/api/v1/jobs/{job_id}", headers=counting.headers())
    assert gone.status == 404


async def test_webhook_delivered_with_the_envelope(
    word_count: None, make_world: WorldFactory, receiver: Receiver
) -> None:
    world = await make_world(webhooks={"allow_private_targets": True})
    hook = receiver.on("/words", 200)  # a local receiver on 127.0.0.1
    job_id = await _submit(world, {"text": TEXT, "webhook_url": hook})
    await receiver.wait_for(1, "/words")
    (got,) = receiver.at("/words")
    assert json.loads(got.body) == await world.wait_terminal(job_id)


async def test_openapi_describes_the_type_from_its_package(counting: World) -> None:
    doc = await (await counting.client.get("/openapi.json")).json()
    validate(doc)
    op = doc["paths"][URL]["post"]
    assert op["operationId"] == "submitWordCount"
    assert op["requestBody"]["content"]["application/json"]["example"] == example_type.EXAMPLE
    schemas = doc["components"]["schemas"]
    assert set(schemas["WordCountRequest"]["properties"]) == {"text", "min_length", "webhook_url"}
    assert schemas["WordCountResult"] == example_type.RESULT
    mapping = schemas["Job"]["discriminator"]["mapping"]
    assert mapping["word_count"] == "#/components/schemas/WordCountJob"
    assert schemas["WordCountJob"]["properties"]["type"]["enum"] == ["word_count"]
    assert schemas["WordCountJob"]["properties"]["result"]["$ref"].endswith("WordCountResult")


async def test_without_the_line_the_type_does_not_exist(world: World) -> None:
    assert (await _post(world, {"text": TEXT})).status == 404
    resp = await world.client.get("/api/v1/jobs?type=word_count", headers=world.headers())
    assert resp.status == 400
    doc = await (await world.client.get("/openapi.json")).json()
    assert URL not in doc["paths"]


async def test_the_python_client_creates_and_reads_any_type(counting: World) -> None:
    base = str(counting.client.make_url("")).rstrip("/")
    async with AsyncClient(base, counting.keys["full"]) as client:
        submitted = await client.submit_to(URL, {"text": TEXT}, idempotency_key="c-1")
        again = await client.submit_to(URL, {"text": TEXT}, idempotency_key="c-1")
        assert (again.id, again.replayed) == (submitted.id, True)
        job = await client.wait(submitted.id, timeout=10)
    assert (job.type, job.status) == ("word_count", "completed")
    assert job.result == {"words": 12, "distinct": 9, "longest": "sleeps"}
