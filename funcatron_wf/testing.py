"""Testing Funcs end to end, in a few lines of pytest: the real pipeline
(the embedded Temporal server, a Tron, Runners and the nginx front, as
`funcatron-wf dev` runs them, reloading included) on free ports for a test
session, and an HTTP client for it.

    def test_greet(funcatron_serve):
        hello = funcatron_serve("examples/hello")          # started once a session
        reply = hello.get("/v1/greet/Ada")                  # Host: the spec's own
        assert reply.json() == {"greeting": "Hello, Ada"}

Installed with funcatron-wf as a pytest plugin (the ``funcatron_serve``
fixture); ``serve_funcs`` is the same as a context manager. A Func is also
a plain function: unit tests call it directly, with no platform at all.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from funcatron_wf.deploy.processes import any_free_port
from funcatron_wf.workers.func_folder import FuncFolder


class ServedFuncs:
    """Func folders served by a `dev` of their own; ``get``/``post``/
    ``request`` send HTTP through its front, with the spec's host by default
    (or, served with ``front=False``, run the request through Temporal as
    `funcatron-wf invoke` does, and answer the same way)."""

    def __init__(self, url: str | None, host: str, log: Path, temporal: str) -> None:
        import httpx  # a test dependency, not the platform's

        self.url = url
        self.host = host
        self.log = log
        self.temporal_address = temporal
        self.http = httpx.Client(base_url=url or "http://no-front.invalid", timeout=60)

    def output(self) -> str:
        """What `dev` printed: its URLs, routes, reloads, a line per request."""
        return self.log.read_text(errors="replace")

    def request(self, method: str, path: str, *, host: str | None = None, **kwargs: Any) -> Any:
        headers = {"host": host or self.host, **kwargs.pop("headers", {})}
        if self.url is None:
            return self._invoke(method, path, headers, kwargs.pop("json", None), kwargs)
        return self.http.request(method, path, headers=headers, **kwargs)

    def _invoke(
        self, method: str, path: str, headers: dict[str, str], body: Any, rest: dict[str, Any]
    ) -> Any:
        import asyncio
        import json

        import httpx

        from funcatron_wf.engine.invoking import build_request, invoke_request
        from funcatron_wf.engine.settings import Settings

        if rest:
            raise TypeError(f"without a front, requests take json= only, not {sorted(rest)}")
        request = build_request(
            method,
            path,
            host=headers.pop("host"),
            json_text=None if body is None else json.dumps(body),
            headers={name.lower(): value for name, value in headers.items()},
        )
        settings = Settings(temporal=self.temporal_address, temporal_http="127.0.0.1:1")
        response = asyncio.run(invoke_request(settings, request))
        return httpx.Response(
            response.status,
            headers={**response.headers, "x-request-id": response.request_id},
            content=b"" if response.body is None else response.body.raw(),
            request=httpx.Request(method, f"http://{request.host}{path}"),
        )

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Any:
        return self.request("POST", path, **kwargs)


@contextlib.contextmanager
def serve_funcs(
    *folders: str | Path, module: str | None = None, front: bool = True, timeout: float = 120.0
) -> Iterator[ServedFuncs]:
    """Serve the folders for the duration of the block (``front=False``: no
    nginx; requests run through Temporal)."""
    first = FuncFolder.load(folders[0])
    host = next((route.host for route in first.routes if route.host), "localhost")
    runtime = Path(tempfile.mkdtemp(prefix="funcatron-testing-"))
    log = runtime / "dev.log"
    port, temporal = any_free_port(), any_free_port()
    argv = [
        sys.executable, "-m", "funcatron_wf", "dev", *map(str, folders),
        "--port", str(port), "--temporal-port", str(temporal),
        "--temporal-ui-port", str(any_free_port()), "--temporal-http-port", str(any_free_port()),
    ]  # fmt: skip
    if module:
        argv += ["--module", module]
    if not front:
        argv.append("--no-front")
    with open(log, "wb") as out:
        dev = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}" if front else None
    served = ServedFuncs(url, host, log, f"127.0.0.1:{temporal}")
    try:
        deadline = time.monotonic() + timeout
        while "ready; Ctrl-C" not in served.output():
            if dev.poll() is not None:
                raise RuntimeError(
                    f"funcatron-wf dev exited with {dev.returncode}:\n{served.output()}"
                )
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"funcatron-wf dev not ready in {timeout:.0f} s:\n{served.output()}"
                )
            time.sleep(0.1)
        yield served
    finally:
        served.http.close()
        if dev.poll() is None:
            dev.send_signal(signal.SIGINT)  # as Ctrl-C: it stops everything it started
            try:
                dev.wait(60)
            except subprocess.TimeoutExpired:
                os.kill(dev.pid, signal.SIGKILL)
                dev.wait()
        shutil.rmtree(runtime, ignore_errors=True)


@pytest.fixture(scope="session")
def funcatron_serve() -> Iterator[Callable[..., ServedFuncs]]:
    """``funcatron_serve(*folders, module=None, front=True)``: those folders
    served for the session (one stack per set of folders and options, started
    on first use)."""
    with contextlib.ExitStack() as stacks:
        served: dict[tuple[tuple[str, ...], str | None, bool], ServedFuncs] = {}

        def serve(
            *folders: str | Path, module: str | None = None, front: bool = True
        ) -> ServedFuncs:
            key = (tuple(str(Path(f).resolve()) for f in folders), module, front)
            if key not in served:
                served[key] = stacks.enter_context(
                    serve_funcs(*folders, module=module, front=front)
                )
            return served[key]

        yield serve
