"""AMQP message -> request envelope (no broker needed): identity, routing, body."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from funcatron_wf.engine.blobs import BlobStore
from funcatron_wf.engine.contracts import is_request_id
from funcatron_wf.sources.queue.messages import Binding, UnusableMessage, message_envelope

ROUTE = {"x-funcatron-host": "pets.local", "x-funcatron-path": "/api/pets?kind=cat&kind=dog"}


@dataclass
class FakeMessage:
    """The properties an AMQP message carries (a plain record, not a broker)."""

    body: bytes = b'{"name": "Rex"}'
    content_type: str | None = "application/json"
    headers: dict[str, Any] | None = field(default_factory=lambda: dict(ROUTE))
    message_id: str | None = None
    correlation_id: str | None = None
    reply_to: str | None = None


def test_a_message_id_in_request_id_form_is_the_request_id() -> None:
    envelope = message_envelope(FakeMessage(message_id="a" * 32), queue="q")
    assert (envelope.request_id, envelope.source_id) == ("a" * 32, None)


def test_any_other_message_id_maps_to_a_stable_request_id_per_queue() -> None:
    first = message_envelope(FakeMessage(message_id="order-42"), queue="orders")
    again = message_envelope(FakeMessage(message_id="order-42", body=b"{}"), queue="orders")
    elsewhere = message_envelope(FakeMessage(message_id="order-42"), queue="refunds")
    assert is_request_id(first.request_id)
    assert first.request_id == again.request_id != elsewhere.request_id
    assert first.source_id == "order-42"


def test_without_a_message_id_the_content_decides_the_id() -> None:
    one = message_envelope(FakeMessage(), queue="q")
    same = message_envelope(FakeMessage(), queue="q")
    other = message_envelope(FakeMessage(body=b'{"name": "Tom"}'), queue="q")
    assert one.request_id == same.request_id != other.request_id


def test_routing_headers_route_and_the_rest_become_request_headers() -> None:
    message = FakeMessage(headers={**ROUTE, "X-Tenant": b"acme", "x-funcatron-method": "put"})
    envelope = message_envelope(message, queue="q")
    assert (envelope.host, envelope.method, envelope.path) == ("pets.local", "PUT", "/api/pets")
    assert envelope.query == {"kind": ["cat", "dog"]}
    assert envelope.headers == {
        "x-tenant": "acme",
        "content-type": "application/json",
        "host": "pets.local",
    }
    assert envelope.body is not None and envelope.body.encoding == "json"
    assert envelope.source == "queue"


def test_a_bound_queue_needs_no_headers_but_a_templated_path_needs_one() -> None:
    bound = Binding(host="pets.local", method="POST", path="/api/pets")
    envelope = message_envelope(FakeMessage(headers=None), queue="q", binding=bound)
    assert (envelope.method, envelope.path) == ("POST", "/api/pets")
    templated = Binding(host="pets.local", method="GET", path="/api/pets/{id}")
    with pytest.raises(UnusableMessage, match="has parameters"):
        message_envelope(FakeMessage(headers=None), queue="q", binding=templated)


def test_no_route_says_what_is_missing() -> None:
    with pytest.raises(UnusableMessage, match="no x-funcatron-host or x-funcatron-path"):
        message_envelope(FakeMessage(headers={}), queue="q")


def test_a_large_body_goes_to_the_blob_store(tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path)
    blobs.prepare()
    big = FakeMessage(body=b"x" * 2048, content_type="application/octet-stream")
    envelope = message_envelope(big, queue="q", blobs=blobs, inline_body_max=1024)
    assert envelope.body is not None and envelope.body.encoding == "ref"
    assert blobs.read(envelope.body.data) == b"x" * 2048
    with pytest.raises(UnusableMessage, match="no blob store"):
        message_envelope(big, queue="q", inline_body_max=1024)
