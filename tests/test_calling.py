"""The Python calling convention through the Runner's host-neutral call
(the Python host in this process; no Temporal needed)."""

import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from funcatron_wf import HTTPError
from funcatron_wf.engine.contracts import (
    Body,
    FuncCall,
    FuncRef,
    FuncSettings,
    RequestEnvelope,
    ResponseEnvelope,
)
from funcatron_wf.engine.specs import replies_json_only
from funcatron_wf.engine.validation import OperationValidator
from funcatron_wf.workers.python_host import PythonHost
from funcatron_wf.workers.runner import BodyStore, call_func

EXECUTOR = ThreadPoolExecutor(2)
# GET / documents only a 200 with a JSON object
SPEC = OperationValidator(
    {
        "openapi": "3.0.3",
        "info": {"title": "t", "version": "1"},
        "paths": {
            "/": {
                "get": {
                    "responses": {
                        "200": {
                            "description": "ok",
                            "content": {"application/json": {"schema": {"type": "object"}}},
                        }
                    }
                }
            }
        },
    }
)


async def call_python(function: Callable[..., Any], call: FuncCall) -> ResponseEnvelope:
    host = PythonHost({call.func.operation: function}, EXECUTOR)
    return await call_func(host, call, validator=SPEC, bodies=BodyStore())


def make_call(
    body: Body | None = None, dev_mode: bool = False, checked: bool = False, **parameters
) -> FuncCall:
    return FuncCall(
        request=RequestEnvelope(
            request_id="a" * 32, source="test", host="h", method="GET", path="/", body=body
        ),
        func=FuncRef(name="f", sha="b" * 64, operation="m.op"),
        operation_path="/",
        parameters=parameters,
        settings=FuncSettings(dev_mode=dev_mode, validate_responses=checked),
    )


async def test_path_parameters_and_json_body_arrive_as_keywords() -> None:
    def op(name, body):
        return {"name": name, "body": body}

    response = await call_python(op, make_call(Body.from_json({"x": [1, 2**60]}), name="Ada"))
    assert response.status == 200
    assert response.headers["content-type"] == "application/json"
    assert json.loads(response.body.data) == {"name": "Ada", "body": {"x": [1, 2**60]}}
    assert response.func.operation == "m.op"


async def test_hyphenated_parameter_also_arrives_as_snake_case() -> None:
    def op(pet_id):
        return {"id": pet_id}

    response = await call_python(op, make_call(**{"pet-id": "7"}))
    assert json.loads(response.body.data) == {"id": "7"}


async def test_async_function_and_request_envelope() -> None:
    async def op(request):
        return {"request_id": request.request_id}

    response = await call_python(op, make_call())
    assert json.loads(response.body.data) == {"request_id": "a" * 32}


async def test_function_taking_kwargs_gets_everything_but_request() -> None:
    def op(**kwargs):
        return sorted(kwargs)

    response = await call_python(op, make_call(Body.from_text("hi"), a="1"))
    assert json.loads(response.body.data) == ["a", "body"]


@pytest.mark.parametrize(
    ("returned", "status", "content_type", "raw"),
    [
        ({"a": 1}, 200, "application/json", b'{"a": 1}'),
        ([], 200, "application/json", b"[]"),
        ("plain", 200, "text/plain; charset=utf-8", b"plain"),
        (b"\x00\xff", 200, "application/octet-stream", b"\x00\xff"),
        (({"made": True}, 201), 201, "application/json", b'{"made": true}'),
        (("gone", 410, {"X-Why": "old"}), 410, "text/plain; charset=utf-8", b"gone"),
    ],
)
async def test_return_forms(returned, status, content_type, raw) -> None:
    response = await call_python(lambda: returned, make_call())
    assert (response.status, response.headers["content-type"], response.body.raw()) == (
        status,
        content_type,
        raw,
    )


async def test_tuple_headers_are_lower_cased() -> None:
    response = await call_python(lambda: ("x", 200, {"X-Why": "old"}), make_call())
    assert response.headers["x-why"] == "old"


async def test_none_is_204_without_body() -> None:
    response = await call_python(lambda: None, make_call())
    assert (response.status, response.body) == (204, None)


async def test_raising_function_is_500_with_request_id_and_no_traceback() -> None:
    def op():
        raise KeyError("secret detail")

    response = await call_python(op, make_call())
    document = json.loads(response.body.data)
    assert response.status == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert document["request_id"] == "a" * 32
    assert "traceback" not in document and "secret detail" not in response.body.data


async def test_dev_mode_500_carries_the_traceback() -> None:
    def op():
        raise KeyError("secret detail")

    document = json.loads((await call_python(op, make_call(dev_mode=True))).body.data)
    assert "KeyError: 'secret detail'" in document["traceback"]


async def test_unsupported_return_type_is_500_naming_the_type() -> None:
    response = await call_python(lambda: object(), make_call(dev_mode=True))
    assert response.status == 500
    assert "cannot send a object" in json.loads(response.body.data)["traceback"]


async def test_malformed_json_body_is_400() -> None:
    response = await call_python(lambda body: body, make_call(Body(encoding="json", data="{")))
    assert response.status == 400
    assert "does not parse" in json.loads(response.body.data)["detail"]


async def test_with_reply_checks_a_reply_off_the_spec_is_500_but_an_http_error_is_kept() -> None:
    off_spec = await call_python(lambda: ["not", "an", "object"], make_call(checked=True))
    assert off_spec.status == 500
    assert "does not match its OpenAPI responses" in json.loads(off_spec.body.data)["detail"]

    def missing():
        raise HTTPError(404, "no such thing")

    raised = await call_python(missing, make_call(checked=True))
    assert (raised.status, json.loads(raised.body.data)["detail"]) == (404, "no such thing")
    assert raised.func.operation == "m.op"


async def test_a_string_from_an_operation_documenting_only_json_is_a_json_string() -> None:
    """As the OAI's USPTO example's operations do: a str reply was text/plain,
    which response validation then refused."""
    spec = {
        "openapi": "3.0.3",
        "info": {"title": "t", "version": "1"},
        "paths": {
            "/": {
                "get": {
                    "operationId": "m.op",
                    "responses": {
                        "200": {
                            "description": "ok",
                            "content": {"application/json": {"schema": {"type": "string"}}},
                        }
                    },
                }
            }
        },
    }
    assert replies_json_only(spec, "m.op")
    host = PythonHost({"m.op": lambda: "a string"}, EXECUTOR)
    response = await call_func(
        host, make_call(checked=True), validator=OperationValidator(spec), bodies=BodyStore(),
        text_as_json=True,
    )  # fmt: skip
    assert response.status == 200
    assert response.headers["content-type"] == "application/json"
    assert json.loads(response.body.data) == "a string"
    spec["paths"]["/"]["get"]["responses"]["200"]["content"]["text/plain"] = {}
    assert not replies_json_only(spec, "m.op")
