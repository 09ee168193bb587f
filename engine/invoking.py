"""Running one request through Temporal without HTTP (`funcatron-wf invoke`)."""

from __future__ import annotations

import uuid
from urllib.parse import parse_qs

from funcatron_wf.engine.contracts import Body, RequestEnvelope, ResponseEnvelope
from funcatron_wf.engine.settings import Settings
from funcatron_wf.engine.starting import start_request
from funcatron_wf.engine.temporal_client import connect_with
from funcatron_wf.engine.tracing import request_span


async def invoke_request(settings: Settings, request: RequestEnvelope) -> ResponseEnvelope:
    """Start the request (it routes itself) and wait for its final response."""
    client = await connect_with(settings)
    with request_span("invoke", request):
        started = await start_request(client, request)
        return await started.response()


def build_request(
    method: str,
    path: str,
    *,
    host: str,
    json_text: str | None = None,
    headers: dict[str, str] | None = None,
) -> RequestEnvelope:
    """The envelope the HTTP front would build for the same request."""
    header_map = {"host": host, **(headers or {})}
    if json_text is not None:
        header_map.setdefault("content-type", "application/json")
    path_only, _, query_string = path.partition("?")
    return RequestEnvelope(
        request_id=uuid.uuid4().hex,
        source="cli",
        host=host,
        method=method.upper(),
        path=path_only,
        query=parse_qs(query_string, keep_blank_values=True),
        headers=header_map,
        body=None if json_text is None else Body(encoding="json", data=json_text),
    )
