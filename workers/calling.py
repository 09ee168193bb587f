"""The Python calling convention (Connexion's, so users already know it).

Arguments: path, query, header and cookie parameters by name, typed by their
schema (a name that is not an identifier, such as ``X-Trace`` or ``pet-id``,
also arrives as ``x_trace`` / ``pet_id``); the request body as ``body``
(parsed JSON, a dict for forms, text, or bytes); the whole envelope as
``request`` for a function that declares it. Returns: dict/list -> 200 JSON,
str -> text, bytes -> octet-stream, None -> 204, ``(body, status[,
headers])``, or a ``Response``. ``raise HTTPError(status, detail)`` answers
that status.

Any other exception gets a 500 reply carrying the request id; the traceback
goes to the log, and into the reply only in dev mode. For an operation marked
``x-funcatron-retry`` the exception is raised to Temporal instead, which
retries the call.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import json
import logging
import re
import traceback
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

from temporalio.exceptions import ApplicationError

from funcatron_wf.engine.blobs import DEFAULT_INLINE_BODY_MAX, BlobStore
from funcatron_wf.engine.envelopes import Body, RequestEnvelope, ResponseEnvelope, problem_response
from funcatron_wf.engine.request_workflow import FUNC_ERROR, FuncCall
from funcatron_wf.engine.responses import HTTPError, Response

logger = logging.getLogger(__name__)

ReplyCheck = Callable[[FuncCall, ResponseEnvelope], ResponseEnvelope]


class InvalidRequestBody(ValueError):
    """The body does not decode as its encoding says (e.g. malformed JSON)."""


@dataclass
class CallEnvironment:
    """What every call on one Runner shares."""

    executor: Executor
    blobs: BlobStore | None = None
    inline_body_max: int = DEFAULT_INLINE_BODY_MAX
    check_reply: ReplyCheck | None = None  # sees only what the function returned


def decode_body(body: Body | None, content_type: str, blobs: BlobStore | None) -> Any:
    if body is None:
        return None
    if body.encoding == "ref":
        if blobs is None:
            raise InvalidRequestBody("the body is in the blob store, which this Runner lacks")
        raw = blobs.body_bytes(body)
        if "json" in content_type:
            body = Body(encoding="json", data=raw.decode("utf-8", errors="replace"))
        elif content_type.startswith("text/"):
            return raw.decode("utf-8", errors="replace")
        else:
            return raw
    if body.encoding == "json":
        try:
            return json.loads(body.data) if body.data else None
        except ValueError as err:
            raise InvalidRequestBody(f"the JSON body does not parse: {err}") from err
    if body.encoding == "text":
        return body.data
    return body.raw()


def _python_names(name: str) -> set[str]:
    identifier = re.sub(r"\W", "_", name)
    return {name, identifier, identifier.lower()}


def build_arguments(
    function: Callable[..., Any], call: FuncCall, blobs: BlobStore | None = None
) -> dict[str, Any]:
    """Keyword arguments for ``function``: only those it declares, unless it takes **kwargs."""
    available: dict[str, Any] = {}
    for name, value in call.parameters.items():
        for python_name in _python_names(name):
            available.setdefault(python_name, value)
    if call.form_body is not None:
        available["body"] = call.form_body
    elif call.request.body is not None:
        content_type = (call.request.headers or {}).get("content-type", "").lower()
        available["body"] = decode_body(call.request.body, content_type, blobs)
    parameters = inspect.signature(function).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        chosen = {name: value for name, value in available.items() if name.isidentifier()}
        if "request" in parameters:
            chosen["request"] = call.request
        return chosen
    available["request"] = call.request
    return {name: available[name] for name in parameters if name in available}


def to_response(result: Any, request: RequestEnvelope) -> ResponseEnvelope:
    """Turn whatever the function returned into a response envelope."""
    if isinstance(result, Response):
        headers = {name.lower(): str(value) for name, value in (result.headers or {}).items()}
        if result.content_type:
            headers["content-type"] = result.content_type
        return _response_for_body(result.body, result.status, headers, request)
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
            f"cannot send a {type(result).__name__} as a reply; return a dict, list, str, "
            "bytes, None, a Response or a (body, status[, headers]) tuple"
        )
    headers.setdefault("content-type", media_type)
    return ResponseEnvelope(
        status=status, request_id=request.request_id, headers=headers, body=body
    )


def http_error_response(error: HTTPError, call: FuncCall) -> ResponseEnvelope:
    response = problem_response(
        call.request.request_id, error.status, error.title, error.detail, func=call.func
    )
    response.headers.update({name.lower(): value for name, value in error.headers.items()})
    return response


def offload_large_body(response: ResponseEnvelope, environment: CallEnvironment) -> None:
    """A reply body over the inline limit goes to the blob store, not into Temporal."""
    body = response.body
    if body is None or body.encoding == "ref" or len(body.data) <= environment.inline_body_max:
        return
    if environment.blobs is None:
        raise ValueError("the reply is too large to send without a blob store (--blob-dir)")
    response.body = environment.blobs.write_response(response.request_id, body.raw())


async def call_operation(
    function: Callable[..., Any], call: FuncCall, environment: CallEnvironment
) -> ResponseEnvelope:
    """Call one operation and come back with a response envelope (or, for a
    retryable operation whose Func raised, an ApplicationError to retry)."""
    request = call.request
    executor = environment.executor
    try:
        arguments = build_arguments(function, call, environment.blobs)
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
        if environment.check_reply is not None:
            response = environment.check_reply(call, response)
        offload_large_body(response, environment)
    except HTTPError as err:
        return http_error_response(err, call)
    except Exception as err:  # a Func's failure must never take the worker down
        logger.exception(
            "request %s: %s (Func %s@%s) raised",
            request.request_id,
            call.func.operation,
            call.func.name,
            call.func.sha[:12],
        )
        extra = {"traceback": traceback.format_exc()} if call.settings.dev_mode else None
        detail = f"{call.func.operation} raised {type(err).__name__}"
        if call.retry_on_error:
            raise ApplicationError(detail, extra or {}, type=FUNC_ERROR) from err
        return problem_response(
            request.request_id, 500, "Internal Server Error", detail, func=call.func, extra=extra
        )
    response.func = call.func
    return response
