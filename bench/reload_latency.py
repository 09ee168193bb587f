"""Save-to-served latency of `funcatron-wf dev`: a served function's file is
saved 20 times with a new reply, and each time the clock runs from the save
to the first request that gets the new reply (requests every 20 ms).

    .venv/bin/python bench/reload_latency.py [--saves 20]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from funcatron_wf.testing import serve_funcs

SPEC = """openapi: 3.1.0
info: {title: saved, version: '1'}
servers: [{url: 'http://saved.bench/'}]
paths:
  /word:
    get:
      operationId: saved_ops.word
      responses: {'200': {description: the word}}
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--saves", type=int, default=20)
    options = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="funcatron-reload-bench-"))
    folder = root / "saved"
    folder.mkdir()
    (folder / "openapi.yaml").write_text(SPEC)
    code = folder / "saved_ops.py"
    code.write_text('def word():\n    return {"word": 0}\n')
    took: list[float] = []
    try:
        with serve_funcs(folder) as served:
            for save in range(1, options.saves + 1):
                time.sleep(1.0)  # let the previous reload settle
                code.write_text(f'def word():\n    return {{"word": {save}}}\n')
                saved = time.monotonic()
                while served.get("/word").json() != {"word": save}:
                    time.sleep(0.02)
                took.append(time.monotonic() - saved)
                print(f"  save {save:2}: served after {took[-1]:.2f} s", flush=True)
            reloads = [line for line in served.output().splitlines() if "reloaded" in line]
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(
        "\nwhat dev said (the reload's own time; the rest is noticing the save and the Trons' refresh):"
    )
    print("\n".join(f"  {line}" for line in reloads))
    print(
        f"\nsave to served over {len(took)} saves: median {statistics.median(took):.2f} s, "
        f"worst {max(took):.2f} s (target: under 1 s)"
    )


if __name__ == "__main__":
    main()
