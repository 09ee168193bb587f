"""The fault suite's Func: each call appends one JSON line (its step, the
caller's token, the request id) to ledger.log beside this Func's folder
(not in it: the folder's content is its version). One write with O_APPEND,
so lines from several Runner processes never interleave."""

import json
import os
import time
from pathlib import Path

LEDGER = Path(__file__).resolve().parent.parent / "ledger.log"


def _append(step: str, token: str, request) -> None:
    line = json.dumps({"step": step, "token": token, "request_id": request.request_id})
    fd = os.open(LEDGER, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


def record(body: dict, request) -> dict:
    _append("record", body["token"], request)
    # a window after the side effect: a Runner killed in it leaves a call
    # Temporal runs again, under the same request id
    time.sleep(0.05)
    return {"token": body["token"], "request_id": request.request_id}


def large(body: dict, request) -> dict:
    _append("large", body["token"], request)
    return {"token": body["token"], "request_id": request.request_id, "pad": body["pad"]}


def first(body: dict, request) -> dict:
    _append("first", body["token"], request)
    return {"token": body["token"]}


def second(body: dict, request) -> dict:
    _append("second", body["token"], request)
    return {"token": body["token"], "request_id": request.request_id}
