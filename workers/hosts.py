"""The seam between the Runner and a language host.

The Runner (workers/runner.py) keeps everything that is not
language-specific: the activity, heartbeats, timeouts, bodies in and out of
the blob store, reply checks against the spec, the logging context, and
turning a Func's failure into a 500 or a retry. A host only loads a Func's
code, calls an operation with a ``HostCall`` and answers with a response
envelope. Python is hosted in the Runner's own process
(workers/python_host.py); Node and the JVM will be hosts over a small
protocol to a process the Runner supervises.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Literal, Protocol

from funcatron_wf.engine.contracts import Body, FuncCall, ResponseEnvelope

# How a host should read the body's bytes: parsed JSON, text, or bytes as they are.
BodyKind = Literal["json", "text", "bytes"]


@dataclass
class HostCall:
    """One call, as a host gets it: the Func call (its operation is
    ``call.func.operation``), and its body's bytes, already read out of the
    blob store when it was too large to travel inline. A form arrives parsed
    in ``call.form_body`` instead."""

    call: FuncCall
    body: bytes | None = None
    body_kind: BodyKind = "bytes"
    # the operation documents JSON replies only: a string it returns is a JSON string
    text_as_json: bool = False


@dataclass
class HostReply:
    """A host's answer. ``from_func`` False: the host answered for the Func
    (an HTTP error it raised, a body that does not parse), so the Runner does
    not check it against the operation's documented responses."""

    response: ResponseEnvelope
    from_func: bool = True


def body_kind(body: Body, content_type: str) -> BodyKind:
    """How to read a body: by its encoding when it travelled inline (the
    source chose it), by its content type when it is a blob ref."""
    if body.encoding == "json":
        return "json"
    if body.encoding == "text":
        return "text"
    if body.encoding == "ref" and "json" in content_type:
        return "json"
    if body.encoding == "ref" and content_type.startswith("text/"):
        return "text"
    return "bytes"


class FuncRaised(Exception):
    """The Func raised something other than an HTTP error. ``detail`` names
    the operation and the error's type; ``traceback`` is the host's own
    rendering (shown to callers only in dev mode)."""

    def __init__(self, detail: str, traceback: str) -> None:
        super().__init__(detail)
        self.detail = detail
        self.traceback = traceback


class HostLost(Exception):
    """The host itself failed (its process died, its protocol broke): not the
    Func's doing. The Runner has Temporal retry the call, as for a lost Runner."""


class LanguageHost(Protocol):
    """A Func version's code, loaded and callable."""

    @property
    def operation_ids(self) -> Collection[str]:
        """The operations this host can call."""
        ...

    async def call(self, call: HostCall) -> HostReply:
        """Call the operation. Answers a response envelope (an inline body; an
        HTTP error as problem+json; a body that does not parse as 400); raises
        FuncRaised when the Func raised anything else, HostLost when the host
        could not call it. Cancellation (a timeout, a shutdown) arrives as
        asyncio.CancelledError and must reach the Func's process."""
        ...

    async def close(self) -> None:
        """Stop taking calls and release what the host holds (its process)."""
        ...
