"""The routing step for an operation served by a chain: the plan comes with
every step's Func version pinned, or the request is answered at once."""

from __future__ import annotations

import json
from pathlib import Path

from funcatron_wf.engine.blobs import BlobStore
from funcatron_wf.engine.contracts import (
    Body,
    RegistrySnapshot,
    RequestEnvelope,
    request_body_ref,
)
from funcatron_wf.engine.routing import RegistryView, decide
from funcatron_wf.workers.func_folder import FuncFolder, link_chains
from tests.conftest import EXAMPLES

SHOP, INVENTORY = link_chains(
    [FuncFolder.load(EXAMPLES / "shop"), FuncFolder.load(EXAMPLES / "inventory")]
)


def checkout(body: Body) -> RequestEnvelope:
    return RequestEnvelope(
        request_id="0" * 32,
        source="test",
        host="shop.local",
        method="POST",
        path="/checkout",
        headers={"content-type": "application/json"},
        body=body,
    )


CART = Body.from_json({"items": [{"sku": "apple", "quantity": 1}]})


def test_a_chain_starts_with_each_step_pinned_to_the_live_version() -> None:
    view = RegistryView(RegistrySnapshot(funcs=[SHOP.registration(), INVENTORY.registration()]))
    decision = decide(checkout(CART), view, blobs=None)
    assert decision.answer is None and decision.chain is not None
    pinned = {step.name: step.resolved for step in decision.chain.steps()}
    assert pinned["stock"].target.task_queue == INVENTORY.task_queue
    assert (pinned["stock"].method, pinned["stock"].path_template) == ("POST", "/reservations")
    assert pinned["quote"].target.task_queue == SHOP.task_queue
    assert decision.operation_id == "chain/checkout"


def test_a_step_whose_func_is_not_deployed_answers_500_naming_it() -> None:
    view = RegistryView(RegistrySnapshot(funcs=[SHOP.registration()]))
    decision = decide(checkout(CART), view, blobs=None)
    assert decision.answer is not None and decision.answer.status == 500
    assert json.loads(decision.answer.body.data)["detail"] == (
        "chain 'checkout': step 'stock' calls inventory:stock.reserve, which no deployed Func serves"
    )


def test_a_chain_refuses_a_body_too_large_to_shape_in_the_workflow(tmp_path: Path) -> None:
    view = RegistryView(RegistrySnapshot(funcs=[SHOP.registration(), INVENTORY.registration()]))
    blobs = BlobStore(tmp_path)
    blobs.prepare()
    ref = request_body_ref("0" * 32)
    blobs.path(ref).write_bytes(CART.raw())  # as nginx spools a large body
    decision = decide(checkout(Body(encoding="ref", data=ref)), view, blobs=blobs)
    assert decision.answer is not None and decision.answer.status == 413
    assert json.loads(decision.answer.body.data)["detail"] == (
        "chain 'checkout' takes bodies up to the inline limit only"
    )
