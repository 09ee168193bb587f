"""The request and response envelopes: the contract between every source,
the engine and the Func hosts (see DESIGN.md, "Contracts").

They cross Temporal as JSON. Temporal's HTTP API turns payloads into plain
JSON values and back, which loses big-integer precision and turns empty
arrays into null; so a JSON body always travels as JSON *text* in
``Body.data`` and is parsed only by the Func host.
"""

import base64
import json
from dataclasses import dataclass, field
from typing import Any, Literal

BodyEncoding = Literal["json", "text", "base64", "ref"]


@dataclass
class Body:
    """A message body. ``data`` is JSON text (json), text (text) or base64 (base64);
    its media type travels in the envelope's ``content-type`` header."""

    encoding: BodyEncoding
    data: str = ""

    @classmethod
    def from_json(cls, value: Any) -> "Body":
        return cls(encoding="json", data=json.dumps(value))

    @classmethod
    def from_text(cls, text: str) -> "Body":
        return cls(encoding="text", data=text)

    @classmethod
    def from_bytes(cls, raw: bytes) -> "Body":
        return cls(encoding="base64", data=base64.b64encode(raw).decode("ascii"))

    def raw(self) -> bytes:
        """The body's bytes as they travel over HTTP."""
        if self.encoding == "base64":
            return base64.b64decode(self.data)
        return self.data.encode("utf-8")


@dataclass
class RequestEnvelope:
    """One request, whatever its source. ``request_id`` is 32 lowercase hex and
    is also the workflow id."""

    request_id: str
    source: str
    host: str
    method: str
    path: str
    query: dict[str, list[str]] | None = None
    headers: dict[str, str] | None = None
    body: Body | None = None
    reply: bool = True
    traceparent: str | None = None


@dataclass
class FuncRef:
    """Which Func (name and bundle SHA-256) and which operation answered."""

    name: str
    sha: str
    operation: str


@dataclass
class ResponseEnvelope:
    status: int
    request_id: str
    headers: dict[str, str] = field(default_factory=dict)
    body: Body | None = None
    func: FuncRef | None = None


def problem_response(
    request_id: str,
    status: int,
    title: str,
    detail: str | None = None,
    *,
    func: FuncRef | None = None,
    extra: dict[str, Any] | None = None,
) -> ResponseEnvelope:
    """An RFC 9457 problem document carrying the request id, as every error reply is."""
    document: dict[str, Any] = {"type": "about:blank", "title": title, "status": status}
    if detail is not None:
        document["detail"] = detail
    document["request_id"] = request_id
    document.update(extra or {})
    return ResponseEnvelope(
        status=status,
        request_id=request_id,
        headers={"content-type": "application/problem+json"},
        body=Body.from_json(document),
        func=func,
    )
