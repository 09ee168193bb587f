"""The Python calling convention (Connexion's, so users already know it).

Arguments: path, query, header and cookie parameters by name, typed by their
schema (a name that is not an identifier, such as ``X-Trace`` or ``pet-id``,
also arrives as ``x_trace`` / ``pet_id``, and camelCase ``petId`` as ``pet_id``); the request body as ``body``
(parsed JSON, a dict for forms, text, or bytes); the whole envelope as
``request`` for a function that declares it. Returns: dict/list -> 200 JSON,
str -> text, bytes -> octet-stream, None -> 204, ``(body, status[,
headers])``, a ``Response``, or ``forward(...)`` to hand the request to
another operation. ``raise HTTPError(status, detail)`` answers
that status. Any other exception is the Runner's to answer
(workers/runner.py): a 500 carrying the request id, or a retry.
"""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Callable
from typing import Any

from funcatron_wf.engine.contracts import (
    Body,
    Forward,
    RequestEnvelope,
    ResponseEnvelope,
    problem_response,
)
from funcatron_wf.engine.responses import Forwarded, HTTPError, Response
from funcatron_wf.workers.hosts import HostCall


class InvalidRequestBody(ValueError):
    """The body does not decode as its kind says (e.g. malformed JSON)."""


def body_argument(host_call: HostCall) -> Any:
    """The ``body`` argument: a parsed form, parsed JSON, text or bytes."""
    if host_call.call.form_body is not None:
        return host_call.call.form_body
    raw = host_call.body
    if raw is None:
        return None
    if host_call.body_kind == "json":
        try:
            return json.loads(raw) if raw else None
        except ValueError as err:
            raise InvalidRequestBody(f"the JSON body does not parse: {err}") from err
    if host_call.body_kind == "text":
        return raw.decode("utf-8", errors="replace")
    return raw


def snake_case(name: str) -> str:
    """'listPets' -> 'list_pets', 'list-data-sets' -> 'list_data_sets',
    'find pet by id' -> 'find_pet_by_id': what a Python function is called."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name)
    return re.sub(r"\W+", "_", spaced).strip("_").lower()


def _python_names(name: str) -> set[str]:
    identifier = re.sub(r"\W", "_", name)
    return {name, identifier, identifier.lower(), snake_case(name)}


def build_arguments(function: Callable[..., Any], host_call: HostCall) -> dict[str, Any]:
    """Keyword arguments for ``function``: only those it declares, unless it takes **kwargs."""
    call = host_call.call
    available: dict[str, Any] = {}
    for name, value in call.parameters.items():
        for python_name in _python_names(name):
            available.setdefault(python_name, value)
    if call.form_body is not None or host_call.body is not None:
        available["body"] = body_argument(host_call)
    parameters = inspect.signature(function).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        chosen = {name: value for name, value in available.items() if name.isidentifier()}
        if "request" in parameters:
            chosen["request"] = call.request
        return chosen
    available["request"] = call.request
    return {name: available[name] for name in parameters if name in available}


def to_response(
    result: Any, request: RequestEnvelope, *, text_as_json: bool = False
) -> ResponseEnvelope:
    """Turn whatever the function returned into a response envelope.
    ``text_as_json``: the operation documents JSON replies only, so a str is
    sent as a JSON string (not as text/plain its documentation refuses)."""
    if text_as_json and isinstance(result, str):
        return _response_for_body(
            Body.from_json(result), 200, {"content-type": "application/json"}, request
        )
    if isinstance(result, Forwarded):
        return _forward_response(result, request)
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


def body_of(result: Any) -> tuple[Body | None, str | None]:
    """A returned value as a body and its media type (None: no body)."""
    if result is None:
        return None, None
    if isinstance(result, Body):  # already encoded (a JSON string)
        return result, None
    if isinstance(result, dict | list):
        return Body.from_json(result), "application/json"
    if isinstance(result, str):
        return Body.from_text(result), "text/plain; charset=utf-8"
    if isinstance(result, bytes | bytearray):
        return Body.from_bytes(bytes(result)), "application/octet-stream"
    raise TypeError(
        f"cannot send a {type(result).__name__} as a reply; return a dict, list, str, "
        "bytes, None, a Response, a (body, status[, headers]) tuple or forward(...)"
    )


def _response_for_body(
    result: Any, status: int, headers: dict[str, str], request: RequestEnvelope
) -> ResponseEnvelope:
    body, media_type = body_of(result)
    if body is None:
        return ResponseEnvelope(
            status=204 if status == 200 else status, request_id=request.request_id, headers=headers
        )
    headers.setdefault("content-type", media_type or "application/octet-stream")
    return ResponseEnvelope(
        status=status, request_id=request.request_id, headers=headers, body=body
    )


def _forward_response(forwarded: Forwarded, request: RequestEnvelope) -> ResponseEnvelope:
    body, media_type = body_of(forwarded.body)
    return ResponseEnvelope(
        status=200,
        request_id=request.request_id,
        forward=Forward(
            call=forwarded.call, body=body, content_type=media_type, args=forwarded.args or {}
        ),
    )


def http_error_response(error: HTTPError, request: RequestEnvelope) -> ResponseEnvelope:
    response = problem_response(request.request_id, error.status, error.title, error.detail)
    response.headers.update({name.lower(): value for name, value in error.headers.items()})
    return response
