"""JSON bodies shown as JSON in the Temporal UI, with nothing changed in
what is stored or what a Func receives.

A JSON body travels as its exact text (``Body.data``), so a Func gets the
bytes the client sent: large integers, key order, spacing. The UI would show
that text as one escaped string (``"data": "{\\"name\\": \\"Rex\\"}"``). So
the Tron's front door also serves Temporal's remote codec protocol
(``POST .../decode``): the UI hands it the payloads it is about to show, and
it answers the same payloads with each JSON body's text parsed into the
document (``"data": {"name": "Rex"}``) -- for display only. `dev` and `up`
start the embedded Temporal with ``--ui-codec-endpoint`` pointing here; a
cluster's UI takes the same URL in its codec settings.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from aiohttp import web

CODEC_PATH = "/_funcatron/codec"
_JSON_PLAIN = "json/plain"


def _readable(value: Any) -> Any:
    """``value`` with every JSON body's text parsed, where it parses."""
    if isinstance(value, list):
        return [_readable(item) for item in value]
    if not isinstance(value, dict):
        return value
    if value.get("encoding") == "json" and isinstance(value.get("data"), str):
        try:
            return {**value, "data": json.loads(value["data"])}
        except ValueError:
            return value  # a malformed JSON body is shown as the text it is
    return {key: _readable(item) for key, item in value.items()}


def readable_payload(payload: dict[str, Any]) -> dict[str, Any]:
    """One payload in proto3 JSON (base64 metadata values and data), with its
    JSON bodies parsed when it is JSON; any other payload as it came."""
    try:
        encoding = base64.b64decode(payload.get("metadata", {}).get("encoding", "")).decode()
        if encoding != _JSON_PLAIN:
            return payload
        document = json.loads(base64.b64decode(payload.get("data", "")))
    except ValueError:
        return payload
    readable = _readable(document)
    if readable == document:
        return payload  # no JSON body in it: exactly as it came
    shown = json.dumps(readable, ensure_ascii=False).encode()
    return {**payload, "data": base64.b64encode(shown).decode("ascii")}


def _cors(request: web.Request, response: web.StreamResponse) -> web.StreamResponse:
    """The UI calls from the browser, from its own origin. The codec only
    reshapes what it is sent and needs no credentials, so any origin may,
    without them."""
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.headers["Access-Control-Allow-Methods"] = "POST, OPTIONS"
    response.headers["Access-Control-Allow-Headers"] = request.headers.get(
        "Access-Control-Request-Headers", "content-type, x-namespace, authorization"
    )
    return response


def _not_payloads(request: web.Request) -> web.StreamResponse:
    return _cors(request, web.json_response({"error": "not {payloads: [...]}"}, status=400))


async def _decode(request: web.Request) -> web.StreamResponse:
    try:
        payloads = (await request.json())["payloads"]
        shown = [readable_payload(payload) for payload in payloads]
    except (ValueError, KeyError, TypeError, AttributeError):
        return _not_payloads(request)
    return _cors(request, web.json_response({"payloads": shown}))


async def _encode(request: web.Request) -> web.StreamResponse:
    """Payloads the UI sends (a signal's input, say) are stored as they are."""
    try:
        document = await request.json()
    except ValueError:
        return _not_payloads(request)
    return _cors(request, web.json_response(document))


async def _preflight(request: web.Request) -> web.StreamResponse:
    return _cors(request, web.Response(status=204))


def add_codec_routes(app: web.Application) -> None:
    for action, handler in (("decode", _decode), ("encode", _encode)):
        app.router.add_post(f"{CODEC_PATH}/{action}", handler)
        app.router.add_options(f"{CODEC_PATH}/{action}", _preflight)
