"""The one line the Temporal UI lists for each request (its workflow's
static summary), and the setting that turns it off (it costs ~3% of
throughput under load)."""

from __future__ import annotations

import uuid

from temporalio.client import Client

from funcatron_wf.engine.contracts import (
    ChainPlan,
    FuncTarget,
    RequestEnvelope,
    RouteDecision,
    problem_response,
)
from funcatron_wf.engine.starting import request_summary, start_request


def request() -> RequestEnvelope:
    return RequestEnvelope(
        request_id=uuid.uuid4().hex,
        source="test",
        host="pets.local",
        method="POST",
        path="/api/pets",
    )


def test_the_summary_names_the_route_and_what_serves_it() -> None:
    envelope = request()
    target = FuncTarget(name="pets", sha="a" * 64, task_queue="q")
    decided = RouteDecision(target=target, operation_id="pets.add_pet")
    assert request_summary(envelope, decided) == (
        "POST pets.local/api/pets -> pets.add_pet (pets@aaaaaaaaaaaa)"
    )
    chained = RouteDecision(target=target, chain=ChainPlan(name="adopt", source="x"))
    assert request_summary(envelope, chained) == "POST pets.local/api/pets -> chain adopt"
    refused = RouteDecision(answer=problem_response(envelope.request_id, 404, "Not Found"))
    assert request_summary(envelope, refused) == "POST pets.local/api/pets -> 404"
    assert request_summary(envelope, None) == "POST pets.local/api/pets"


async def test_a_request_carries_its_summary_unless_turned_off(temporal_client: Client) -> None:
    queue = f"nobody-{uuid.uuid4().hex}"  # no worker: the workflows only need to exist
    for summary, expected in ((True, "POST pets.local/api/pets"), (False, None)):
        started = await start_request(temporal_client, request(), task_queue=queue, summary=summary)
        try:
            assert await (await started.handle.describe()).static_summary() == expected
        finally:
            await started.handle.terminate("test done")
