"""What Func code may return or raise besides plain values (exported as
``funcatron_wf.Response`` and ``funcatron_wf.HTTPError``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from funcatron_wf.engine.errors import FuncatronError


@dataclass
class Response:
    """A reply with full control: any body form a Func may return (dict, list,
    str, bytes, None), a status, headers and, optionally, the content type."""

    body: Any = None
    status: int = 200
    headers: Mapping[str, str] | None = None
    content_type: str | None = None


class HTTPError(FuncatronError):
    """Raise from Func code to answer with an HTTP error, as problem+json.

    ``raise HTTPError(404, "no pet 7")`` -> 404 ``{"title": "Not Found",
    "detail": "no pet 7", "request_id": ...}``.
    """

    def __init__(
        self,
        status: int,
        detail: str | None = None,
        *,
        title: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        if not 400 <= status <= 599:
            raise ValueError(f"HTTPError status must be 4xx or 5xx, not {status}")
        self.status = status
        self.detail = detail
        self.title = title or HTTPStatus(status).phrase
        self.headers = dict(headers or {})
        super().__init__(f"{status} {self.title}" + (f": {detail}" if detail else ""))
