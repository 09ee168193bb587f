"""Operations for the HTTP contract tests: each exercises one line of it."""

import asyncio
import hashlib
import os
import random
import tempfile
import time
from pathlib import Path

from funcatron_wf import HTTPError, Response

STATE = Path(tempfile.gettempdir()) / "funcatron-contract-state"


def params(item_id, limit, x_trace, tags=None, session=None):
    return {"item_id": item_id, "tags": tags, "limit": limit, "trace": x_trace, "session": session}


def body_echo(body):
    return {"type": type(body).__name__, "body": body if not isinstance(body, bytes) else len(body)}


RETURNS = {
    "dict": lambda: {"a": 1},
    "list": lambda: [1, 2],
    "empty-list": lambda: [],
    "big-int": lambda: {"n": 2**60},
    "str": lambda: "plain text",
    "bytes": lambda: b"\x00\x01\xff",
    "none": lambda: None,
    "empty-500": lambda: (None, 500),  # the Func's own, not the front's
    "tuple": lambda: ({"created": True}, 201),
    "tuple-headers": lambda: ("teapot", 418, {"X-Brew": "earl grey"}),
    "response": lambda: Response({"r": 1}, status=202, headers={"X-Kind": "response"}),
    "response-type": lambda: Response("<p>hi</p>", content_type="text/html"),
}


def returns(form):
    if form == "http-error":
        raise HTTPError(409, "the thing already exists", headers={"X-Conflict": "yes"})
    if form == "raise":
        raise ValueError("broken")
    return RETURNS[form]()


def whole_request(request):
    return {"request_id": request.request_id, "method": request.method, "source": request.source}


async def slow(seconds):
    await asyncio.sleep(seconds)
    return {"slept": seconds}


def never_returns():
    while True:  # a thread nothing can stop
        pass


async def blocks_the_loop():
    time.sleep(3600)  # blocks the Runner's event loop: a bug an async Func can have


async def blocks_the_loop_later():
    # long enough for the SDK to complete the first workflow task, as it does
    # while a local activity runs: a later Runner replays it, not the call
    await asyncio.sleep(3)
    time.sleep(3600)


def later(request, seconds):
    time.sleep(seconds)
    STATE.mkdir(exist_ok=True)
    (STATE / request.request_id).write_text("done")
    return {"finished": request.request_id}


def flaky(key, failures):
    """Fails ``failures`` times for ``key``, then succeeds; counts attempts in a file."""
    STATE.mkdir(exist_ok=True)
    counter = STATE / f"flaky-{key}"
    attempt = int(counter.read_text()) + 1 if counter.exists() else 1
    counter.write_text(str(attempt))
    if attempt <= failures:
        raise RuntimeError(f"attempt {attempt} fails")
    return {"attempts": attempt}


def not_retried(key, failures):
    return flaky(key, failures)


def bad_reply():
    return {"count": "not a number"}


async def pid_then_wait(request, seconds):
    STATE.mkdir(exist_ok=True)
    (STATE / f"pid-{request.request_id}-{os.getpid()}").write_text("")
    await asyncio.sleep(seconds)
    return {"pid": os.getpid(), "attempt": request.attempt}


def digest(body: bytes):
    return {"size": len(body), "sha256": hashlib.sha256(body).hexdigest()}


def download(size: int) -> bytes:
    return random.Random(size).randbytes(size)
