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

Captured requests (`funcatron-wf capture export`) are test cases too:

    @pytest.mark.parametrize("case", read_cases(Path("cases.jsonl")), ids=lambda c: c.request_id)
    def test_captured(funcatron_serve, case):
        assert funcatron_serve("examples/petstore").replay(case) == ""   # '' or a diff
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from funcatron_wf.engine.cases import Case, read_cases
from funcatron_wf.served import ServedFuncs, serve_funcs

__all__ = ["Case", "ServedFuncs", "funcatron_serve", "read_cases", "serve_funcs"]


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
