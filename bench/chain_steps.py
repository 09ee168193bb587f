"""A chain's per-step cost: one client, in turns, (1) GET /echo/hi, (2) the
same three times one by one, (3) GET /chain3/hi, the chain of three echo
steps. Used by bench/run.py each round; its p50s over a run:

    .venv/bin/python bench/chain_steps.py URL HOST SECONDS
"""

from __future__ import annotations

import json
import statistics
import sys
import time

import httpx


def chain_against_calls(url: str, host: str, seconds: float) -> dict[str, float]:
    """p50 in ms of one call, three calls one by one, and the three-step chain."""
    took: dict[str, list[float]] = {"one call": [], "three calls": [], "chain of three": []}
    with httpx.Client(base_url=url, headers={"host": host}, timeout=30) as http:

        def get(path: str) -> None:
            response = http.get(path)
            if response.status_code != 200:
                raise SystemExit(f"GET {path}: {response.status_code} {response.text}")

        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            for name, paths in (
                ("one call", ["/echo/hi"]),
                ("three calls", ["/echo/hi"] * 3),
                ("chain of three", ["/chain3/hi"]),
            ):
                started = time.perf_counter()
                for path in paths:
                    get(path)
                took[name].append((time.perf_counter() - started) * 1000)
    return {name: statistics.median(values) for name, values in took.items()}


if __name__ == "__main__":
    print(json.dumps(chain_against_calls(sys.argv[1], sys.argv[2], float(sys.argv[3]))))
