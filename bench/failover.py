"""How long requests stall when the Tron dies: `funcatron-wf dev examples/hello`,
four clients in a loop, the Tron SIGKILLed (dev restarts it); prints the
slowest requests around the kill and when every request was fast again.

    .venv/bin/python bench/failover.py [--clients 4] [--after 20]
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # for tests/dev_process.py, which runs dev as a user does

from tests.dev_process import DevProcess  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--after", type=float, default=20.0, help="seconds to watch after the kill")
    options = parser.parse_args()
    dev = DevProcess([REPO / "examples" / "hello"], Path(tempfile.mkdtemp()) / "dev.log")
    results: list[tuple[float, float, int | str]] = []  # sent, answered, status
    stop = threading.Event()

    def client() -> None:
        with httpx.Client(base_url=dev.url, timeout=60) as http:
            while not stop.is_set():
                sent = time.monotonic()
                try:
                    status: int | str = http.get(
                        "/v1/greet/x", headers={"host": "hello.local"}
                    ).status_code
                except httpx.HTTPError as err:
                    status = type(err).__name__
                results.append((sent, time.monotonic(), status))

    try:
        dev.wait_ready()
        threads = [threading.Thread(target=client) for _ in range(options.clients)]
        for thread in threads:
            thread.start()
        time.sleep(3)
        killed = time.monotonic()
        os.kill(dev.child_pids()["tron"], signal.SIGKILL)
        time.sleep(options.after)
        stop.set()
        for thread in threads:
            thread.join()
    finally:
        dev.interrupt()
    after = [r for r in results if r[1] > killed]
    slowest = sorted(after, key=lambda r: r[1] - r[0], reverse=True)[:5]
    print("slowest requests (sent after the kill, s; took, s; status):")
    for sent, answered, status in slowest:
        print(f"  {sent - killed:+6.2f}  {answered - sent:6.2f}  {status}")
    stalled_until = max((r[1] for r in after if r[1] - r[0] > 1.0), default=killed)
    print(f"every request under 1 s again {stalled_until - killed:.2f} s after the kill")
    statuses: dict[int | str, int] = {}
    for _, _, status in after:
        statuses[status] = statuses.get(status, 0) + 1
    print(f"answers after the kill: {statuses}")


if __name__ == "__main__":
    main()
