"""Record real workflow histories for the determinism guard
(tests/test_history_replay.py): serve the examples with the real pipeline,
send requests that take every path through the engine's workflows, and
write each workflow's history as JSON next to this file.

    .venv/bin/python -m tests.histories.record [TAG]

Record again (and commit the files) when a workflow changes on purpose in
a way running workflows may replay (and guard the change with
``workflow.patched``), or takes a new path; the old files stay until no
running workflow can have been started by the code that wrote them. A TAG
names the new set (``routed-get.TAG.json``) so it sits beside the old one.
Requests to hello are captured (`funcatron-wf capture hello all`).
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from temporalio.client import Client

from funcatron_wf.engine.contracts import REGISTRY_WORKFLOW_ID, FuncChange
from funcatron_wf.engine.invoking import build_request
from funcatron_wf.engine.registry_client import change_func
from funcatron_wf.engine.starting import start_request
from funcatron_wf.testing import serve_funcs

HERE = Path(__file__).resolve().parent
EXAMPLES = HERE.parents[1] / "examples"
CART = {"items": [{"sku": "apple", "quantity": 3}]}


def requests(served) -> dict[str, str]:
    """name -> workflow id, one request per path through the workflows."""
    ids = {}

    def keep(name: str, response) -> None:
        assert response.status_code < 600, response.text
        ids[name] = response.headers["x-request-id"]

    keep("routed-get", served.get("/v1/greet/Ada"))
    keep("routed-post-201", served.post("/v1/greetings", json={"name": "Bo"}))
    keep("routed-404", served.get("/v1/nowhere"))
    keep("routed-500", served.get("/v1/boom"))
    keep("no-reply", served.get("/v1/greet/Later", headers={"prefer": "respond-async"}))
    keep("chain-parallel-detached", served.post("/checkout", host="shop.local", json=CART))
    keep("chain-when-false", served.post(
        "/checkout", host="shop.local", json={"items": [{"sku": "piano", "quantity": 1}]}
    ))  # fmt: skip
    keep("chain-step-4xx", served.post(
        "/checkout", host="shop.local", json={"items": [{"sku": "kiwi", "quantity": 1}]}
    ))  # fmt: skip
    keep("chain-pipeline", served.post(
        "/wordcount", host="shop.local", content="the cat", headers={"content-type": "text/plain"}
    ))  # fmt: skip
    keep("forward", served.get("/products/pear", host="shop.local"))
    # With the fast path on (the default), a single operation runs as
    # FastRequest on its Runner: so do the routed-* requests above when
    # recorded again (the committed routed-* files are RoutedRequest, recorded
    # before the fast path; RoutedRequest still serves chains and 404s).
    keep("fast-get", served.get("/v1/greet/Fay"))
    keep("fast-500", served.get("/v1/boom"))
    keep("fast-no-reply", served.get("/v1/greet/Fen", headers={"prefer": "respond-async"}))
    keep("fast-forward", served.get("/products/apple", host="shop.local"))
    ids["detached-step"] = ids["chain-parallel-detached"] + "-audit"
    return ids


async def self_routed(client: Client) -> dict[str, tuple[str, str | None]]:
    """Requests started without a decision (RequestWorkflow routes itself), as
    invoke and a front with no front door start them; name -> (id, first run)."""
    started = {}
    for name, reply in (("self-routed", True), ("self-routed-no-reply", False)):
        request = build_request("GET", "/v1/greet/Self", host="hello.local")
        request.reply = reply
        handle = (await start_request(client, request)).handle
        await handle.result()
        started[name] = (request.request_id, handle.first_execution_run_id)
    return started


async def capture_hello(served) -> None:
    client = await Client.connect(served.temporal_address)
    await change_func(client, "set_capture", FuncChange(name="hello", capture=1.0))
    await asyncio.sleep(1.5)  # the Tron's view of the Registry is up to a second old


async def fetch(served, ids: dict[str, str], tag: str) -> None:
    client = await Client.connect(served.temporal_address)
    runs: dict[str, tuple[str, str | None]] = {name: (wid, None) for name, wid in ids.items()}
    runs.update(await self_routed(client))
    runs["registry"] = (REGISTRY_WORKFLOW_ID, None)
    await asyncio.sleep(3)  # the detached step and the no-reply requests finish
    for name, (workflow_id, first_run) in runs.items():
        latest = (await client.get_workflow_handle(workflow_id).describe()).run_id
        for suffix, run_id in (("", latest), ("-first-run", first_run)):
            if run_id is None or (suffix and run_id == latest):
                continue
            history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
            path = HERE / f"{name}{suffix}{'.' + tag if tag else ''}.json"
            path.write_text(json.dumps(json.loads(history.to_json()), indent=1))
            print(f"recorded {path.name} ({workflow_id})")


def main() -> None:
    tag = sys.argv[1] if len(sys.argv) > 1 else ""
    with serve_funcs(EXAMPLES / "hello", EXAMPLES / "shop", EXAMPLES / "inventory") as served:
        asyncio.run(capture_hello(served))
        asyncio.run(fetch(served, requests(served), tag))


if __name__ == "__main__":
    main()
