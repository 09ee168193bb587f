"""Funcs that record each call (request id, Func, attempt) in the file named
by CHAIN_TEST_CALLS, so a test can count how often each step ran."""

import os
import time

from funcatron_wf import forward


def _record(step: str, request) -> None:
    with open(os.environ["CHAIN_TEST_CALLS"], "a") as calls:
        calls.write(f"{request.request_id} {step} {request.attempt}\n")


def first(request) -> dict:
    _record("first", request)
    return {"attempt": request.attempt}


def slow_second(body: dict, request) -> dict:
    _record("second", request)
    if request.attempt == 1:
        time.sleep(4)  # the test kills the Runner now
    return {"attempt": request.attempt, "got": body}


def slow_audit(request) -> dict:
    time.sleep(3)  # the chain's reply is long gone by now
    _record("later", request)
    return {"audited": request.request_id}


def boom() -> dict:
    raise RuntimeError("this step always fails")


def ping():
    return forward("recording.pong")


def pong():
    return forward("chain-faults:recording.ping")
