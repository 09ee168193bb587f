"""The Python language host: a Func folder's modules imported into the
Runner's own process, and each operation called with the Python calling
convention (workers/python_calling.py).

Sync functions run on a thread pool, with the caller's context variables
(the request's logging context among them); async functions run on the
worker's event loop.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import importlib
import inspect
import logging
import sys
import traceback
from collections.abc import Callable, Collection, Iterable
from concurrent.futures import Executor
from pathlib import Path
from typing import Any

from funcatron_wf.engine.contracts import Route, problem_response
from funcatron_wf.engine.errors import FuncFolderError
from funcatron_wf.engine.responses import HTTPError
from funcatron_wf.workers.hosts import FuncRaised, HostCall, HostReply
from funcatron_wf.workers.python_calling import (
    InvalidRequestBody,
    build_arguments,
    http_error_response,
    snake_case,
    to_response,
)
from funcatron_wf.workers.runaway_funcs import AbandonedCalls

logger = logging.getLogger(__name__)


def load_operations(
    folder: Path, routes: Iterable[Route], *, broken_ok: bool = False
) -> dict[str, Callable[..., Any]]:
    """Import the folder's code and map each route's operationId to its
    function (an operation served by a chain has none).

    The folder goes on sys.path, so Func modules import each other as
    usual. Two folders in one process must not share a top-level module
    name; that is refused rather than silently serving the wrong code.
    ``broken_ok`` (a reload in `dev`): an operation whose code does not load
    answers 500 saying why, instead of stopping the Runner.
    """
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
    operations: dict[str, Callable[..., Any]] = {}
    problems: list[FuncFolderError] = []
    for route in routes:
        if route.chain is None and route.operation_id not in operations:
            try:
                operations[route.operation_id] = _resolve(folder, route)
            except FuncFolderError as err:
                if not broken_ok:
                    problems.append(err)
                    continue
                logger.error("%s", err)
                operations[route.operation_id] = _broken(err)
    if problems:  # every one at once, not one per try
        first = problems[0]
        raise FuncFolderError(
            first.folder,
            "; ".join(problem.problem for problem in problems),
            operation_id=first.operation_id,
        ) from first
    return operations


def _broken(error: FuncFolderError) -> Callable[..., Any]:
    """Stands in for an operation whose code does not load."""
    rendered = "".join(traceback.format_exception(error.__cause__ or error))

    def broken(request: Any) -> Any:
        raise HTTPError(500, f"the code of this operation does not load: {error.problem}") from None

    broken.load_error = rendered  # type: ignore[attr-defined]
    return broken


def _resolve(folder: Path, route: Route) -> Callable[..., Any]:
    operation_id = route.operation_id
    where = f"operationId {operation_id!r} ({route.method} {route.path_template})"

    def problem(text: str) -> FuncFolderError:
        return FuncFolderError(str(folder), f"{where}{text}", operation_id=operation_id)

    if route.handler is not None:  # a controller module names the module
        module_name, function_name = route.handler[: -len(operation_id) - 1], operation_id
    else:
        module_name, _, function_name = operation_id.rpartition(".")
    if not module_name:
        raise problem(
            f" must be module.function (e.g. handlers.{snake_case(operation_id)}), or name "
            "its module with x-openapi-router-controller / x-funcatron-module or dev --module"
        )
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        if err.name != module_name:  # the module is there; something it imports is not
            raise problem(
                f": importing {module_name!r} failed: {type(err).__name__}: {err}"
            ) from err
        raise problem(
            f" names module {module_name!r}, which is not in this folder ({err})"
        ) from err
    except Exception as err:
        raise problem(f": importing {module_name!r} failed: {type(err).__name__}: {err}") from err
    module_file = Path(getattr(module, "__file__", "") or "").resolve()
    if not module_file.is_relative_to(folder):
        raise problem(
            f": module {module_name!r} is already loaded from {module_file}; give the module "
            "a name unique to this Func, or serve the folders from separate runners"
        )
    for candidate in dict.fromkeys((function_name, snake_case(function_name))):
        function: Callable[..., Any] | None = getattr(module, candidate, None)
        if callable(function):
            return function
    tried = " or ".join(repr(c) for c in dict.fromkeys((function_name, snake_case(function_name))))
    raise problem(f": module {module_name!r} has no function {tried}")


class PythonHost:
    """A Func folder's functions, called in this process."""

    def __init__(
        self,
        operations: dict[str, Callable[..., Any]],
        executor: Executor,
        abandoned: AbandonedCalls | None = None,
    ) -> None:
        self._operations = operations
        self._executor = executor
        self._abandoned = abandoned or AbandonedCalls()

    @classmethod
    def load(
        cls,
        folder: Path,
        routes: Iterable[Route],
        executor: Executor,
        *,
        broken_ok: bool = False,
        abandoned: AbandonedCalls | None = None,
    ) -> PythonHost:
        """``abandoned``: where calls given up on are kept (workers/runaway_funcs.py)."""
        return cls(load_operations(folder, routes, broken_ok=broken_ok), executor, abandoned)

    @property
    def operation_ids(self) -> Collection[str]:
        return self._operations.keys()

    async def close(self) -> None:
        """Nothing to release: the functions live in this process."""

    async def call(self, call: HostCall) -> HostReply:
        operation_id = call.call.func.operation
        function = self._operations[operation_id]
        request = call.call.request
        try:
            arguments = build_arguments(function, call)
        except InvalidRequestBody as err:
            answer = problem_response(request.request_id, 400, "Bad Request", str(err))
            return HostReply(answer, from_func=False)
        try:
            if inspect.iscoroutinefunction(function):
                result = await function(**arguments)
            else:
                context = contextvars.copy_context()
                running = self._executor.submit(
                    functools.partial(context.run, function, **arguments)
                )
                try:
                    result = await asyncio.wrap_future(running)
                except asyncio.CancelledError:  # given up (its timeout): the thread runs on
                    self._abandoned.add(operation_id, running)
                    raise
            return HostReply(to_response(result, request, text_as_json=call.text_as_json))
        except HTTPError as err:
            answer = http_error_response(err, request)
            load_error = getattr(function, "load_error", None)
            if load_error is not None and call.call.settings.dev_mode:
                answer = problem_response(
                    request.request_id, 500, "Internal Server Error", err.detail,
                    extra={"traceback": load_error},
                )  # fmt: skip
            return HostReply(answer, from_func=False)
        except Exception as err:  # a Func's failure must never take the worker down
            raise FuncRaised(
                f"{operation_id} raised {type(err).__name__}", traceback.format_exc()
            ) from err
