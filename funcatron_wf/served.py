"""Func folders served by a `funcatron-wf dev` of their own, for a while:
what ``funcatron_wf.testing`` serves tests with, and what `funcatron-wf
replay --to DIR` replays against. No pytest here (the CLI uses it)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from funcatron_wf.deploy.processes import any_free_port
from funcatron_wf.engine.cases import Case
from funcatron_wf.workers.func_folder import FuncFolder


class ServedFuncs:
    """Func folders served by a `dev` of their own; ``get``/``post``/
    ``request`` send HTTP through its front, with the spec's host by default
    (or, served with ``front=False``, run the request through Temporal as
    `funcatron-wf invoke` does, and answer the same way)."""

    def __init__(self, url: str | None, host: str, log: Path, temporal: str) -> None:
        self.url = url
        self.host = host
        self.log = log
        self.temporal_address = temporal
        self._http: Any = None

    @property
    def http(self) -> Any:
        """An httpx client for the front (httpx: a test dependency, not the platform's)."""
        if self._http is None:
            import httpx

            self._http = httpx.Client(base_url=self.url or "http://no-front.invalid", timeout=60)
        return self._http

    def replay(self, case: Case) -> str:
        """Send a captured case's request again (through the front, or without
        one through Temporal); '' when the response is the one captured, else
        a unified diff from it."""
        import asyncio
        from urllib.parse import urlencode

        from funcatron_wf.engine.cases import CaseResponse, body_case, response_diff

        if self.url is None:  # the replay through Temporal, as `funcatron-wf replay` runs it
            return asyncio.run(self._replay_without_front(case))
        envelope = case.envelope()
        query = urlencode(envelope.query or {}, doseq=True)
        reply = self.http.request(
            envelope.method,
            envelope.path + (f"?{query}" if query else ""),
            # the case's host, whether or not its headers name it
            headers={
                **(envelope.headers or {}),
                "host": envelope.host,
                "x-request-id": envelope.request_id,
            },
            content=None if envelope.body is None else envelope.body.raw(),
        )
        content_type = reply.headers.get("content-type", "")
        got = CaseResponse(
            reply.status_code, content_type, body_case(reply.content or None, content_type)
        )
        return response_diff(case, got, reply.headers.get("x-request-id", envelope.request_id))

    async def _replay_without_front(self, case: Case) -> str:
        from funcatron_wf.engine.replay import replay
        from funcatron_wf.engine.temporal_client import connect_with

        client = await connect_with(self.settings())
        replayed = [done async for done in replay(client, [case], decider=None, blobs=None)]
        return replayed[0].diff

    def settings(self) -> Any:
        """Settings that reach its Temporal (for a client of ours)."""
        from funcatron_wf.engine.settings import Settings

        return Settings(temporal=self.temporal_address, temporal_http="127.0.0.1:1")

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

        if rest:
            raise TypeError(f"without a front, requests take json= only, not {sorted(rest)}")
        request = build_request(
            method,
            path,
            host=headers.pop("host"),
            json_text=None if body is None else json.dumps(body),
            headers={name.lower(): value for name, value in headers.items()},
        )
        response = asyncio.run(invoke_request(self.settings(), request))
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
        if served._http is not None:
            served._http.close()
        if dev.poll() is None:
            dev.send_signal(signal.SIGINT)  # as Ctrl-C: it stops everything it started
            try:
                dev.wait(60)
            except subprocess.TimeoutExpired:
                os.kill(dev.pid, signal.SIGKILL)
                dev.wait()
        shutil.rmtree(runtime, ignore_errors=True)
