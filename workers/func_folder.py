"""A Func folder: an OpenAPI file plus the Python code its operationIds name.

Its identity is a SHA-256 over the folder's files, so the same code gets the
same task queue everywhere. (Bundles, the deployable archive with vendored
dependencies, build on this in deploy/.)
"""

from __future__ import annotations

import hashlib
import importlib
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from funcatron_wf.engine.errors import FuncFolderError
from funcatron_wf.engine.queues import func_task_queue
from funcatron_wf.engine.routing import FuncSettings, RegisteredFunc, Route
from funcatron_wf.engine.spec_rewriting import SpecRewrite
from funcatron_wf.engine.specs import Spec, find_spec_file, load_spec

_IGNORED_PARTS = {"__pycache__", ".git", ".venv", "node_modules"}


def folder_sha(folder: Path) -> str:
    """SHA-256 over every file's relative path and content, in a fixed order."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        relative = path.relative_to(folder)
        if _IGNORED_PARTS & set(relative.parts) or path.suffix == ".pyc":
            continue
        digest.update(relative.as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def func_name_for(folder: Path) -> str:
    return re.sub(r"[^a-z0-9-]+", "-", folder.resolve().name.lower()).strip("-") or "func"


@dataclass(frozen=True)
class FuncFolder:
    path: Path
    name: str
    sha: str
    spec: Spec
    routes: tuple[Route, ...]

    @classmethod
    def load(cls, folder: str | Path, rewrites: list[SpecRewrite] | None = None) -> FuncFolder:
        """Read, rewrite and validate the folder's spec (not its code: see
        ``resolve_operations``)."""
        path = Path(folder).resolve()
        if not path.is_dir():
            raise FuncFolderError(str(folder), "not a folder; give the folder holding openapi.yaml")
        spec = load_spec(find_spec_file(path), rewrites)
        return cls(
            path=path,
            name=func_name_for(path),
            sha=folder_sha(path),
            spec=spec,
            routes=tuple(spec.routes()),
        )

    @property
    def task_queue(self) -> str:
        return func_task_queue(self.name, self.sha)

    def registration(self, settings: FuncSettings | None = None) -> RegisteredFunc:
        return RegisteredFunc(
            name=self.name,
            sha=self.sha,
            task_queue=self.task_queue,
            routes=list(self.routes),
            settings=settings or FuncSettings(),
            openapi=self.spec.openapi,
        )

    def resolve_operations(self) -> dict[str, Callable[..., Any]]:
        """Import the folder's code and map each operationId to its function.

        The folder goes on sys.path, so Func modules import each other as
        usual. Two folders in one process must not share a top-level module
        name; that is refused rather than silently serving the wrong code.
        """
        if str(self.path) not in sys.path:
            sys.path.insert(0, str(self.path))
        operations: dict[str, Callable[..., Any]] = {}
        for route in self.routes:
            if route.operation_id not in operations:
                operations[route.operation_id] = self._resolve(route)
        return operations

    def _resolve(self, route: Route) -> Callable[..., Any]:
        operation_id = route.operation_id
        where = f"operationId {operation_id!r} ({route.method} {route.path_template})"
        module_name, _, function_name = operation_id.rpartition(".")
        if not module_name:
            raise FuncFolderError(
                str(self.path),
                f"{where} must be module.function, e.g. handlers.{operation_id}",
                operation_id=operation_id,
            )
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as err:
            raise FuncFolderError(
                str(self.path),
                f"{where} names module {module_name!r}, which is not in this folder ({err})",
                operation_id=operation_id,
            ) from err
        except Exception as err:
            raise FuncFolderError(
                str(self.path),
                f"{where}: importing {module_name!r} failed: {type(err).__name__}: {err}",
                operation_id=operation_id,
            ) from err
        module_file = Path(getattr(module, "__file__", "") or "").resolve()
        if not module_file.is_relative_to(self.path):
            raise FuncFolderError(
                str(self.path),
                f"{where}: module {module_name!r} is already loaded from {module_file}; "
                "give the module a name unique to this Func, or serve the folders "
                "from separate runners",
                operation_id=operation_id,
            )
        function = getattr(module, function_name, None)
        if not callable(function):
            raise FuncFolderError(
                str(self.path),
                f"{where}: module {module_name!r} has no function {function_name!r}",
                operation_id=operation_id,
            )
        return function
