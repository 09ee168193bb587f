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
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # for tests/dev_process.py, which runs dev as a user does

from tests.client_loop import answers_while  # noqa: E402
from tests.dev_process import DevProcess  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--after", type=float, default=20.0, help="seconds to watch after the kill")
    options = parser.parse_args()
    dev = DevProcess([REPO / "examples" / "hello"], Path(tempfile.mkdtemp()) / "dev.log")
    killed = 0.0

    def kill_the_tron() -> None:
        nonlocal killed
        time.sleep(3)
        killed = time.monotonic()
        os.kill(dev.child_pids()["tron"], signal.SIGKILL)
        time.sleep(options.after)

    try:
        dev.wait_ready()
        answers = answers_while(
            dev.url, "hello.local", "/v1/greet/x", kill_the_tron, clients=options.clients
        )
    finally:
        dev.interrupt()
    after = [a for a in answers if a.sent + a.took > killed]
    print("slowest requests (sent after the kill, s; took, s; status, 0: no answer):")
    for answer in sorted(after, key=lambda a: a.took, reverse=True)[:5]:
        print(f"  {answer.sent - killed:+6.2f}  {answer.took:6.2f}  {answer.status}")
    stalled_until = max((a.sent + a.took for a in after if a.took > 1.0), default=killed)
    print(f"every request under 1 s again {stalled_until - killed:.2f} s after the kill")
    statuses: dict[int, int] = {}
    for answer in after:
        statuses[answer.status] = statuses.get(answer.status, 0) + 1
    print(f"answers after the kill: {statuses}")


if __name__ == "__main__":
    main()
