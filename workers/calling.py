"""The Python calling convention (Connexion's, so users already know it).

Arguments: path parameters by name (``pet-id`` also as ``pet_id``), the
request body as ``body`` (parsed JSON, text or bytes), the whole envelope as
``request`` for a function that declares it. Returns: dict/list -> 200 JSON,
str -> text, bytes -> octet-stream, None -> 204, ``(body, status)`` or
``(body, status, headers)`` set the rest.

A function that raises gets a 500 reply carrying the request id; the
traceback goes to the log, and into the reply only in dev mode.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import json
import logging
import traceback
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any

from funcatron_wf.engine.envelopes import Body, RequestEnvelope, ResponseEnvelope, problem_response
from funcatron_wf.engine.request_workflow import FuncCall

logger = logging.getLogger(__name__)


class InvalidRequestBody(ValueError):
    """The body does not decode as its encoding says (e.g. malformed JSON)."""


def decode_body(body: Body | None) -> Any:
    if body is None:
        return None
    if body.encoding == "json":
        try:
            return json.loads(body.data) if body.data else None
        except ValueError as err:
            raise InvalidRequestBody(f"the JSON body does not parse: {err}") from err
    if body.encoding == "text":
        return body.data
    return body.raw()


def build_arguments(function: Callable[..., Any], call: FuncCall) -> dict[str, Any]:
    """Keyword arguments for ``function``: only those it declares, unless it takes **kwargs."""
    available: dict[str, Any] = {}
    for name, value in call.path_params.items():
        available[name] = value
        available.setdefault(name.replace("-", "_"), value)
    if call.request.body is not None:
        available["body"] = decode_body(call.request.body)
    available["request"] = call.request
    parameters = inspect.signature(function).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return {k: v for k, v in available.items() if k != "request" or "request" in parameters}
    return {name: available[name] for name in parameters if name in available}


def to_response(result: Any, request: RequestEnvelope) -> ResponseEnvelope:
    """Turn whatever the function returned into a response envelope."""
    status, headers = 200, {}
    if isinstance(result, tuple):
        if not 2 <= len(result) <= 3 or not isinstance(result[1], int):
            raise TypeError("a tuple return must be (body, status) or (body, status, headers)")
        if len(result) == 3:
            headers = {str(name).lower(): str(value) for name, value in dict(result[2]).items()}
        result, status = result[0], result[1]
    return _response_for_body(result, status, headers, request)


def _response_for_body(
    result: Any, status: int, headers: dict[str, str], request: RequestEnvelope
) -> ResponseEnvelope:
    if result is None:
        return ResponseEnvelope(
            status=204 if status == 200 else status, request_id=request.request_id, headers=headers
        )
    if isinstance(result, dict | list):
        body, media_type = Body.from_json(result), "application/json"
    elif isinstance(result, str):
        body, media_type = Body.from_text(result), "text/plain; charset=utf-8"
    elif isinstance(result, bytes | bytearray):
        body, media_type = Body.from_bytes(bytes(result)), "application/octet-stream"
    else:
        raise TypeError(
            f"cannot send a {type(result).__name__} as a reply; "
            "return a dict, list, str, bytes or a (body, status[, headers]) tuple"
        )
    headers.setdefault("content-type", media_type)
    return ResponseEnvelope(
        status=status, request_id=request.request_id, headers=headers, body=body
    )


async def call_operation(
    function: Callable[..., Any], call: FuncCall, executor: Executor
) -> ResponseEnvelope:
    """Call one operation and always come back with a response envelope."""
    request = call.request
    try:
        arguments = build_arguments(function, call)
    except InvalidRequestBody as err:
        return problem_response(request.request_id, 400, "Bad Request", str(err), func=call.func)
    try:
        if inspect.iscoroutinefunction(function):
            result = await function(**arguments)
        else:
            context = contextvars.copy_context()
            result = await asyncio.get_running_loop().run_in_executor(
                executor, functools.partial(context.run, function, **arguments)
            )
        response = to_response(result, request)
    except Exception as err:  # a Func's failure must never take the worker down
        logger.exception(
            "request %s: %s (Func %s@%s) raised",
            request.request_id,
            call.func.operation,
            call.func.name,
            call.func.sha[:12],
        )
        extra = {"traceback": traceback.format_exc()} if call.settings.dev_mode else None
        return problem_response(
            request.request_id,
            500,
            "Internal Server Error",
            f"{call.func.operation} raised {type(err).__name__}",
            func=call.func,
            extra=extra,
        )
    response.func = call.func
    return response
