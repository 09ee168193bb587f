"""The Temporal UI's codec (workers/ui_codec.py): JSON bodies shown as JSON,
everything else as it came, and the stored text never touched."""

from __future__ import annotations

import base64
import json

from google.protobuf.json_format import MessageToDict
from temporalio.converter import PayloadConverter

from funcatron_wf.engine.contracts import Body, RequestEnvelope, ResponseEnvelope
from funcatron_wf.workers.ui_codec import readable_payload

CONVERTER = PayloadConverter.default
EXACT = '{"zebra": 1, "apple": 12345678901234567890123, "nested": {"b": [1.50, "x"]}}'


def as_ui_sends(value: object) -> dict:
    """A payload as the UI posts it: proto3 JSON, base64 bytes."""
    return MessageToDict(CONVERTER.to_payloads([value])[0])


def shown(payload: dict) -> dict:
    return json.loads(base64.b64decode(readable_payload(payload)["data"]))


def test_a_json_body_is_shown_as_json_with_its_order_and_big_numbers() -> None:
    request = RequestEnvelope(
        request_id="a" * 32, source="http", host="pets.local", method="POST", path="/api/pets",
        body=Body(encoding="json", data=EXACT),
    )  # fmt: skip
    payload = as_ui_sends(request)
    assert json.loads(base64.b64decode(payload["data"]))["body"]["data"] == EXACT  # stored: text
    body = shown(payload)["body"]
    assert body["encoding"] == "json"
    assert list(body["data"]) == ["zebra", "apple", "nested"]  # the client's key order
    text = base64.b64decode(readable_payload(payload)["data"]).decode()
    assert "12345678901234567890123" in text  # not rounded to a float on the way


def test_a_response_body_nested_anywhere_is_shown_too() -> None:
    response = ResponseEnvelope(status=201, request_id="b" * 32, body=Body.from_json({"id": 7}))
    assert shown(as_ui_sends([response, "x"]))[0]["body"]["data"] == {"id": 7}


def test_what_is_not_a_json_body_is_left_as_it_came() -> None:
    text = RequestEnvelope(
        request_id="c" * 32, source="http", host="h", method="POST", path="/",
        body=Body(encoding="json", data="{not json"),
    )  # fmt: skip
    assert shown(as_ui_sends(text))["body"]["data"] == "{not json"
    plain = as_ui_sends(Body.from_text('{"looks": "like json"}'))
    assert readable_payload(plain) == plain
    binary = MessageToDict(CONVERTER.to_payloads([b"\x00\x01"])[0])
    assert readable_payload(binary) == binary
    assert readable_payload({"metadata": {}, "data": "!!"}) == {"metadata": {}, "data": "!!"}
