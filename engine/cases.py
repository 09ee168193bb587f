"""Test cases from real requests: a captured request and the response it
got, as one JSON object per line (`funcatron-wf capture export`), and how a
new response compares with the one captured (`funcatron-wf replay`,
``funcatron_wf.testing``).

A case is meant to be read and edited by people, so bodies are written as
what they are: ``{"json": ...}``, ``{"text": "..."}`` or ``{"base64": "..."}``.
"""

from __future__ import annotations

import base64
import difflib
import json
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from funcatron_wf.engine.blobs import BlobStore
from funcatron_wf.engine.contracts import (
    DEFAULT_INLINE_BODY_MAX,
    REPLAY_SOURCE,
    Body,
    RequestEnvelope,
    ResponseEnvelope,
)
from funcatron_wf.engine.errors import FuncatronError

# Headers a replay must not send again: the new request gets its own id,
# and an idempotency key would hand back the first run's answer.
_NOT_REPLAYED = {"x-request-id", "idempotency-key", "content-length", "traceparent"}
_BODY_KINDS = ("json", "text", "base64")


class CaseError(FuncatronError):
    """A cases file that cannot be read: names the file and line."""


def body_case(raw: bytes | None, content_type: str) -> dict[str, Any] | None:
    """A body as a case writes it."""
    if raw is None:
        return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return {"base64": base64.b64encode(raw).decode("ascii")}
    if "json" in content_type.lower():
        try:
            return {"json": json.loads(text)}
        except ValueError:
            pass  # a malformed JSON body is a fine test case too: keep its text
    return {"text": text}


def checked_body(case_body: Any, where: str) -> dict[str, Any] | None:
    """A case's body as written by hand: null, or one of {"json": ...},
    {"text": "..."}, {"base64": "..."}."""
    if case_body is None:
        return None
    if (
        not isinstance(case_body, dict)
        or len(case_body) != 1
        or next(iter(case_body)) not in _BODY_KINDS
    ):
        raise ValueError(
            f'{where} is not null, {{"json": ...}}, {{"text": "..."}} or {{"base64": "..."}}'
        )
    if "text" in case_body and not isinstance(case_body["text"], str):
        raise ValueError(f"{where}: text is not a string")
    if "base64" in case_body:
        try:
            base64.b64decode(case_body["base64"], validate=True)
        except (ValueError, TypeError) as err:
            raise ValueError(f"{where}: base64 that does not decode ({err})") from err
    return case_body


def body_bytes_of(case_body: dict[str, Any] | None) -> bytes | None:
    """The bytes a case's body sends: a JSON body as its value serialized
    (the same value the Func parses, not byte for byte what was captured)."""
    if case_body is None:
        return None
    if "json" in case_body:
        return json.dumps(case_body["json"]).encode()
    if "text" in case_body:
        return str(case_body["text"]).encode()
    return base64.b64decode(case_body["base64"])


@dataclass
class CaseRequest:
    method: str
    host: str
    path: str
    query: dict[str, list[str]] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    body: dict[str, Any] | None = None
    source: str = "http"


@dataclass
class CaseResponse:
    status: int
    content_type: str = ""
    body: dict[str, Any] | None = None


@dataclass
class Case:
    request_id: str  # the captured request's
    func: str
    sha: str
    operation: str
    request: CaseRequest
    response: CaseResponse

    def to_line(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)

    @classmethod
    def from_dict(cls, document: Any) -> Case:
        """A case from its JSON object; ValueError naming what is wrong."""
        if not isinstance(document, dict):
            raise ValueError("not a JSON object")
        request, response = document.get("request"), document.get("response")
        if not isinstance(request, dict) or not isinstance(response, dict):
            raise ValueError('needs a "request" and a "response" object')
        missing = [
            key for key in ("method", "host", "path") if not isinstance(request.get(key), str)
        ]
        if missing:
            raise ValueError(f"the request has no {', '.join(missing)}")
        if not isinstance(response.get("status"), int):
            raise ValueError("the response has no status")
        headers = request.get("headers") or {}
        if not isinstance(headers, dict):
            raise ValueError("the request's headers are not an object")
        return cls(
            request_id=str(document.get("request_id", "")),
            func=str(document.get("func", "")),
            sha=str(document.get("sha", "")),
            operation=str(document.get("operation", "")),
            request=CaseRequest(
                method=request["method"].upper(),
                host=request["host"],
                path=request["path"],
                query=request.get("query") or {},
                headers={str(name).lower(): str(value) for name, value in headers.items()},
                body=checked_body(request.get("body"), "the request's body"),
                source=str(request.get("source", "http")),
            ),
            response=CaseResponse(
                status=response["status"],
                content_type=str(response.get("content_type", "")),
                body=checked_body(response.get("body"), "the response's body"),
            ),
        )

    def envelope(
        self, blobs: BlobStore | None = None, inline_body_max: int = DEFAULT_INLINE_BODY_MAX
    ) -> RequestEnvelope:
        """The captured request again, under a new request id, as a replay; a
        body over the inline limit goes through ``blobs``."""
        request = self.request
        headers = {
            name: value for name, value in request.headers.items() if name not in _NOT_REPLAYED
        }
        if request.body is not None and "json" in request.body:
            headers.setdefault("content-type", "application/json")
        raw = body_bytes_of(request.body)
        request_id = uuid.uuid4().hex
        body = None if raw is None else Body.for_content(raw, headers.get("content-type", ""))
        if raw is not None and len(raw) > inline_body_max:
            if blobs is None:
                raise CaseError(
                    f"case {self.request_id}: its body ({len(raw)} bytes) is over the inline "
                    f"limit ({inline_body_max}): give the platform's blob store (--blob-dir)"
                )
            body = blobs.write_request(request_id, raw)
        return RequestEnvelope(
            request_id=request_id,
            source=REPLAY_SOURCE,
            host=request.host,
            method=request.method,
            path=request.path,
            query=request.query,
            headers=headers,
            body=body,
        )


def case_of(
    request: RequestEnvelope,
    request_bytes: bytes | None,
    response: ResponseEnvelope,
    response_bytes: bytes | None,
) -> Case:
    """A case from a request and its response, with their bodies' bytes
    (read from the blob store by the caller where they travelled as refs)."""
    headers = request.headers or {}
    content_type = response.headers.get("content-type", "")
    func = response.func
    return Case(
        request_id=request.request_id,
        func=func.name if func else "",
        sha=func.sha if func else "",
        operation=func.operation if func else "",
        request=CaseRequest(
            method=request.method,
            host=request.host,
            path=request.path,
            query=request.query or {},
            headers=headers,
            body=body_case(request_bytes, headers.get("content-type", "")),
            source=request.source,
        ),
        response=CaseResponse(
            status=response.status,
            content_type=content_type,
            body=body_case(response_bytes, content_type),
        ),
    )


def read_cases(path: Path) -> list[Case]:
    """Every case in a JSON-lines file; a bad line is a CaseError naming it."""
    cases = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise CaseError(f"{path}: cannot read it ({err})") from err
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            cases.append(Case.from_dict(json.loads(line)))
        except ValueError as err:
            raise CaseError(f"{path}:{number}: not a case: {err}") from err
    if not cases:
        raise CaseError(f"{path}: no cases in it (one JSON object per line, from `capture export`)")
    return cases


def _rendered(response: CaseResponse) -> list[str]:
    body = response.body
    if body is None:
        shown = "(no body)"
    elif "json" in body:
        value = body["json"]
        if isinstance(value, dict) and "traceback" in value:
            # dev mode's traceback names files where they are: not the Func's answer
            value = {key: item for key, item in value.items() if key != "traceback"}
        shown = json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)
    else:
        shown = str(body.get("text", body.get("base64")))
    return [
        f"status: {response.status}",
        f"content-type: {response.content_type}",
        *shown.splitlines(),
    ]


def response_diff(case: Case, replayed: CaseResponse, replayed_id: str) -> str:
    """A unified diff from the captured response to the replayed one ('' when
    they agree). The replay's own request id (problem documents carry it)
    reads as the captured one's, so it is no difference."""
    if replayed.body is not None:
        text = json.dumps(replayed.body).replace(replayed_id, case.request_id)
        replayed = CaseResponse(replayed.status, replayed.content_type, json.loads(text))
    lines = difflib.unified_diff(
        _rendered(case.response),
        _rendered(replayed),
        fromfile=f"captured {case.request_id}",
        tofile="replayed",
        lineterm="",
    )
    return "\n".join(lines)
