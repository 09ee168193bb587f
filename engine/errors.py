"""One root exception for the project, with typed subclasses.

Messages say what happened, where (file, operationId, port) and how to fix it,
so the CLI can print them as one line.
"""

from __future__ import annotations


class FuncatronError(Exception):
    """Root of every error funcatron-wf raises on purpose."""


class ConfigError(FuncatronError):
    """A setting (flag, environment variable) is missing or invalid."""


class SpecError(FuncatronError):
    """An OpenAPI file is missing, unreadable or invalid."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


class FuncFolderError(FuncatronError):
    """A Func folder's code does not match its spec (e.g. an operationId names no function)."""

    def __init__(self, folder: str, problem: str, *, operation_id: str | None = None) -> None:
        super().__init__(f"{folder}: {problem}")
        self.folder = folder
        self.problem = problem
        self.operation_id = operation_id


class PortInUseError(FuncatronError):
    """A port we were asked to listen on is taken."""

    def __init__(self, port: int, what: str, flag: str) -> None:
        super().__init__(f"port {port} ({what}) is already in use; choose another with {flag}")
        self.port = port


class ServiceStartError(FuncatronError):
    """A process we started (Temporal, nginx, a worker) did not become ready."""


class ChainError(FuncatronError):
    """A chain file (NAME.chain.yaml) is unreadable or invalid; names the file and line."""

    def __init__(self, path: str, problem: str, *, line: int | None = None) -> None:
        super().__init__(f"{path}:{line}: {problem}" if line else f"{path}: {problem}")
        self.path = path
        self.line = line
        self.problem = problem


class BundleError(FuncatronError):
    """A bundle cannot be built, stored or trusted (a bad archive, a SHA that
    does not match its content, a dependency that cannot be vendored)."""
