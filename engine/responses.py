"""What Func code may return or raise besides plain values (exported as
``funcatron_wf.Response``, ``funcatron_wf.HTTPError`` and
``funcatron_wf.forward``)."""

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


@dataclass
class Forwarded:
    """A Func's answer that hands the request on (made by ``forward``)."""

    call: str
    body: Any = None
    args: dict[str, Any] | None = None


def forward(call: str, body: Any = None, **args: Any) -> Forwarded:
    """Return this from a Func to hand the request to another operation:
    ``return forward("inventory:stock.reserve", {"sku": sku}, warehouse="b")``.

    ``call`` is an operationId of the same Func or ``FUNC:operationId``;
    ``body`` any body a Func may return (dict, list, str, bytes, None);
    ``args`` the operation's parameters by name. That operation's reply is
    the request's reply. Forwards are bounded (8 hops) and a loop is answered
    508, naming the path.
    """
    return Forwarded(call, body, args)
