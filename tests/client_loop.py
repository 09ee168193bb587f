"""Clients in a loop against an HTTP front while something happens to the
platform (a process killed): what each request got and how long it took.
Used by the failover tests and by bench/failover.py."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx


@dataclass
class Answer:
    sent: float  # time.monotonic()
    took: float  # seconds
    status: int  # 0: no answer at all (a lost request counts against, not for)
    text: str = ""  # the reply's body


def answers_while(
    url: str, host: str, path: str, meanwhile: Callable[[], None], *, clients: int = 4
) -> list[Answer]:
    """``clients`` threads GET ``path`` in a loop until ``meanwhile()`` returns."""
    answers: list[Answer] = []
    stop = threading.Event()

    def client() -> None:
        with httpx.Client(base_url=url, timeout=60) as http:
            while not stop.is_set():
                sent = time.monotonic()
                try:
                    response = http.get(path, headers={"host": host})
                    status, text = response.status_code, response.text
                except httpx.HTTPError:
                    status, text = 0, ""
                answers.append(Answer(sent, time.monotonic() - sent, status, text))

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    try:
        meanwhile()
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    return answers


def assert_rode_it_out(answers: list[Answer], *, slow: float) -> None:
    """Every request answered 200, none slower than ``slow`` seconds.

    With Temporal's 10 s defaults back, every request in flight when a Tron
    dies (one per client) would wait 10 s; with the front trusting the
    server to wake its history long-poll, about one run in fifty had a
    request wait the poll's 20 s (docs/performance.md).
    """
    assert {answer.status for answer in answers} == {200}
    slower = sorted(answer.took for answer in answers if answer.took >= slow)
    assert not slower, f"requests slower than {slow} s: {slower}"
