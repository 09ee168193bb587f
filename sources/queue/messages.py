"""AMQP message -> request envelope: identity, routing and body.

Identity: a message's ``message_id`` (any string a client sends: a UUID,
``order-42``) is its request id when it already has the request id's form
(32 lowercase hex), and otherwise a digest of the queue's name and the id;
a message without one gets a digest of its queue, content and properties.
So a redelivered or republished message maps to the same request id, and
``start_request`` runs it at most once.

Routing: the headers ``x-funcatron-host``, ``x-funcatron-method`` (default
POST) and ``x-funcatron-path`` (a query string allowed), or the operation
the queue is bound to (``--operation FUNC:OPERATION_ID``, or an operation's
``x-funcatron-queue``) whose host, method and path fill what the headers
leave out. Other headers become request headers; the body and content type
are the request's.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

from funcatron_wf.engine.blobs import BlobStore
from funcatron_wf.engine.contracts import (
    DEFAULT_INLINE_BODY_MAX,
    Body,
    RequestEnvelope,
    is_request_id,
)

SOURCE = "queue"
HOST_HEADER = "x-funcatron-host"
METHOD_HEADER = "x-funcatron-method"
PATH_HEADER = "x-funcatron-path"
ROUTING_HEADERS = (HOST_HEADER, METHOD_HEADER, PATH_HEADER)
DEFAULT_METHOD = "POST"


class UnusableMessage(Exception):
    """The message cannot become a request; the reason goes with its dead letter."""


class Message(Protocol):
    """The parts of an AMQP message we read (aio-pika's IncomingMessage has them)."""

    @property
    def body(self) -> bytes: ...
    @property
    def content_type(self) -> str | None: ...
    @property
    def headers(self) -> Mapping[str, Any] | None: ...
    @property
    def message_id(self) -> str | None: ...
    @property
    def correlation_id(self) -> str | None: ...
    @property
    def reply_to(self) -> str | None: ...


@dataclass(frozen=True)
class Binding:
    """The operation a queue is bound to: where its messages go by default."""

    host: str
    method: str
    path: str  # base path + template; a template with parameters needs x-funcatron-path


def request_id_for(queue: str, message: Message) -> str:
    if message.message_id:
        if is_request_id(message.message_id):
            return message.message_id
        return _digest({"queue": queue, "message_id": message.message_id})
    return _digest(
        {
            "queue": queue,
            "body": hashlib.sha256(message.body).hexdigest(),
            "content_type": message.content_type,
            "headers": _text_headers(message.headers),
            "correlation_id": message.correlation_id,
            "reply_to": message.reply_to,
        }
    )


def _digest(parts: dict[str, Any]) -> str:
    canonical = json.dumps(parts, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def _header_text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, list | tuple):
        return ", ".join(_header_text(item) for item in value)
    return str(value)


def _text_headers(headers: Mapping[str, Any] | None) -> dict[str, str]:
    return {str(name).lower(): _header_text(value) for name, value in (headers or {}).items()}


def message_envelope(
    message: Message,
    *,
    queue: str,
    binding: Binding | None = None,
    blobs: BlobStore | None = None,
    inline_body_max: int = DEFAULT_INLINE_BODY_MAX,
) -> RequestEnvelope:
    """The request envelope of ``message``, or UnusableMessage saying why not."""
    headers = _text_headers(message.headers)
    routing = {name: headers.pop(name) for name in ROUTING_HEADERS if name in headers}
    host = routing.get(HOST_HEADER, binding.host if binding else None)
    target = routing.get(PATH_HEADER, binding.path if binding else None)
    method = routing.get(METHOD_HEADER, binding.method if binding else DEFAULT_METHOD)
    if host is None or target is None:
        missing = [
            name for name, value in ((HOST_HEADER, host), (PATH_HEADER, target)) if not value
        ]
        raise UnusableMessage(
            f"no route: the message has no {' or '.join(missing)} header and queue "
            f"{queue!r} is bound to no operation (--operation FUNC:OPERATION_ID, or "
            "x-funcatron-queue on an operation)"
        )
    if binding is not None and "{" in target:
        raise UnusableMessage(
            f"queue {queue!r} is bound to {binding.method} {binding.path}, whose path has "
            f"parameters: give the path in a {PATH_HEADER} header"
        )
    parts = urlsplit(target)
    if not parts.path.startswith("/"):
        raise UnusableMessage(f"{PATH_HEADER} {target!r} is not a path (it must start with /)")
    request_id = request_id_for(queue, message)
    content_type = message.content_type or "application/octet-stream"
    headers["content-type"] = content_type
    headers.setdefault("host", host)
    return RequestEnvelope(
        request_id=request_id,
        source=SOURCE,
        host=host,
        method=method.upper(),
        path=parts.path,
        query=parse_qs(parts.query, keep_blank_values=True),
        headers=headers,
        body=_body(request_id, message.body, content_type, blobs, inline_body_max),
        source_id=message.message_id if message.message_id != request_id else None,
    )


def _body(
    request_id: str,
    raw: bytes,
    content_type: str,
    blobs: BlobStore | None,
    inline_body_max: int,
) -> Body | None:
    if not raw:
        return None
    if len(raw) <= inline_body_max:
        return Body.for_content(raw, content_type)
    if blobs is None:
        raise UnusableMessage(
            f"the body ({len(raw)} bytes) is over the inline limit ({inline_body_max}) "
            "and this source has no blob store (--blob-dir)"
        )
    return blobs.write_request(request_id, raw)  # a redelivery: the first body stays
