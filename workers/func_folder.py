"""A Func folder: an OpenAPI file, the Python code its operationIds name,
and its chains (``NAME.chain.yaml``, compiled by chains/).

``dev`` loads it to register the Func (its spec, rewritten and converted);
a Runner needs only its identity and code: it takes the spec as registered.

Its identity is a SHA-256 over the folder's files, so the same code gets the
same task queue everywhere. (Bundles, the deployable archive with vendored
dependencies, build on this in deploy/.)
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from funcatron_wf.chains.compiler import KnownOperations, compile_chain
from funcatron_wf.chains.loader import ChainFile, chain_files, load_chain_file
from funcatron_wf.engine.contracts import (
    ChainPlan,
    FuncSettings,
    RegisteredFunc,
    Route,
    ScalePolicy,
    func_task_queue,
)
from funcatron_wf.engine.errors import ChainError, FuncFolderError
from funcatron_wf.engine.spec_rewriting import SpecRewrite
from funcatron_wf.engine.specs import Spec, find_spec_file, load_spec
from funcatron_wf.workers.jvm_host import check_jvm_folder, is_jvm_folder
from funcatron_wf.workers.node_host import check_node_folder, is_node_folder
from funcatron_wf.workers.python_host import load_operations

_IGNORED_PARTS = {"__pycache__", ".git", ".venv", "node_modules"}


def iter_folder_files(folder: Path) -> Iterator[tuple[str, Path]]:
    """(relative path, path) of the folder's own files, in a fixed order: no
    caches, virtualenvs, VCS, node_modules, hidden files or editors' backups."""
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        relative = path.relative_to(folder)
        if (
            _IGNORED_PARTS & set(relative.parts)
            or any(part.startswith(".") for part in relative.parts)
            or path.suffix in (".pyc", ".swp", ".swo")
            or path.name.endswith("~")
        ):
            continue
        yield relative.as_posix(), path


def folder_sha(folder: Path) -> str:
    """SHA-256 over every file's relative path and content, in a fixed order."""
    digest = hashlib.sha256()
    for relative, path in iter_folder_files(folder):
        try:
            content = path.read_bytes()
        except FileNotFoundError:  # gone since it was listed (an editor's temp file)
            continue
        digest.update(relative.encode() + b"\0")
        digest.update(hashlib.sha256(content).digest())
    return digest.hexdigest()


def folder_language(folder: Path) -> str:
    """ "javascript" (a package.json), "jvm" (JARs, or Clojure sources in
    src/), else "python": which language host serves the folder."""
    if is_node_folder(folder):
        return "javascript"
    if is_jvm_folder(folder):
        return "jvm"
    return "python"


def func_name_for(folder: Path) -> str:
    return re.sub(r"[^a-z0-9-]+", "-", folder.resolve().name.lower()).strip("-") or "func"


@dataclass(frozen=True)
class FuncFolder:
    path: Path
    name: str
    sha: str
    spec: Spec
    routes: tuple[Route, ...]
    scale: ScalePolicy = ScalePolicy()
    chain_files: tuple[ChainFile, ...] = ()
    chains: tuple[ChainPlan, ...] = ()

    @classmethod
    def load(
        cls,
        folder: str | Path,
        rewrites: list[SpecRewrite] | None = None,
        *,
        identity: tuple[str, str] | None = None,
        module: str | None = None,
    ) -> FuncFolder:
        """Read, rewrite and validate the folder's spec (not its code: see
        ``resolve_operations``). ``identity``: (name, SHA) when the folder is
        an unpacked bundle's, which has its own; ``module``: the module bare
        operationIds name functions in, unless the spec names one."""
        path = Path(folder).resolve()
        if not path.is_dir():
            raise FuncFolderError(str(folder), "not a folder; give the folder holding openapi.yaml")
        spec = load_spec(find_spec_file(path), rewrites)
        name, sha = identity or (func_name_for(path), folder_sha(path))
        loaded = cls(
            path=path,
            name=name,
            sha=sha,
            spec=spec,
            routes=tuple(spec.routes(default_module=module)),
            scale=spec.scale_policy(),
            chain_files=tuple(load_chain_file(file) for file in chain_files(path)),
        )
        return loaded.with_chains_compiled({loaded.name: loaded.operations()})

    def operations(self) -> dict[str, str | None]:
        """operationId -> the chain serving it (None: this folder's code does)."""
        return {route.operation_id: route.chain for route in self.routes}

    def with_chains_compiled(self, known: KnownOperations) -> FuncFolder:
        """Compile the chain files, checking steps against ``known`` Funcs'
        operations (this one's among them), or raise ChainError."""
        chains: dict[str, ChainPlan] = {}
        for file in self.chain_files:
            plan = compile_chain(file, self.name, known)
            if plan.name in chains:
                raise ChainError(
                    str(file.path),
                    f"chain {plan.name!r} is also declared in {chains[plan.name].source}",
                    line=file.line("chain"),
                )
            chains[plan.name] = plan
        return dataclasses.replace(self, chains=tuple(chains.values()))

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
            chains=list(self.chains),
            scale=self.scale,
        )

    @property
    def language(self) -> str:
        return folder_language(self.path)

    def resolve_operations(self) -> dict[str, Callable[..., Any] | None]:
        """Load the folder's code and map each operationId to its function
        (workers/python_host.py; a JavaScript or JVM Func's are loaded by its
        host and checked, None here), raising FuncFolderError naming the
        operation."""
        if self.language == "python":
            return dict(load_operations(self.path, self.routes))
        check = check_node_folder if self.language == "javascript" else check_jvm_folder
        check(self.path, self.routes)
        return {route.operation_id: None for route in self.routes if route.chain is None}


def link_chains(folders: list[FuncFolder]) -> list[FuncFolder]:
    """Check the folders' chains against each other: a step calling another
    of these Funcs calls an operation it has, chain names are unique, and
    every ``x-funcatron-chain`` names a chain one of them declares."""
    known = {folder.name: folder.operations() for folder in folders}
    linked = [folder.with_chains_compiled(known) for folder in folders]
    declared: dict[str, str] = {}
    for folder in linked:
        for plan in folder.chains:
            if declared.setdefault(plan.name, plan.source) != plan.source:
                raise ChainError(
                    plan.source, f"chain {plan.name!r} is also declared in {declared[plan.name]}"
                )
    for folder in linked:
        for route in folder.routes:
            if route.chain is not None and route.chain not in declared:
                raise FuncFolderError(
                    str(folder.spec.path),
                    f"{route.method} {route.path_template} has x-funcatron-chain {route.chain!r}, "
                    f"but no {route.chain}.chain.yaml declares it"
                    + (f" (chains: {', '.join(sorted(declared))})" if declared else ""),
                )
    return linked
