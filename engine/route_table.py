"""Route matching: (host, base path, method, path) -> Func + operation.

Routes come from the Registry. Matching is by host (a route without a host
matches any), then base path, then the OpenAPI path template; among several
matches the most specific wins (a named host over any host, a longer base
path, more literal segments), as OpenAPI says concrete paths beat templated
ones.
"""

import re
from dataclasses import dataclass, field
from urllib.parse import unquote

from funcatron_wf.engine.contracts import RegisteredFunc, Route

TEMPLATE_PARAM = re.compile(r"\{([^{}/]+)\}")


@dataclass
class RouteMatch:
    """What matching found. ``func`` is None when nothing matched: then
    ``allowed_methods`` is empty (404) or lists the methods the path has (405)."""

    func: RegisteredFunc | None = None
    route: Route | None = None
    path_params: dict[str, str] = field(default_factory=dict)
    operation_path: str = ""  # the request path below the route's base path
    allowed_methods: list[str] = field(default_factory=list)
    canary: bool = False  # matched on the Func's canary version

    @property
    def operation_id(self) -> str:
        return self.route.operation_id if self.route else ""


@dataclass(frozen=True)
class _CompiledRoute:
    func: RegisteredFunc
    route: Route
    pattern: re.Pattern[str]
    param_names: tuple[str, ...]
    specificity: tuple[int, int, int]


def _compile(func: RegisteredFunc, route: Route) -> _CompiledRoute:
    names: list[str] = []
    pattern = ""
    position = 0
    for found in TEMPLATE_PARAM.finditer(route.path_template):
        pattern += re.escape(route.path_template[position : found.start()]) + "([^/]+)"
        names.append(found.group(1))
        position = found.end()
    pattern += re.escape(route.path_template[position:])
    literal_segments = sum(
        1 for segment in route.path_template.split("/") if segment and "{" not in segment
    )
    return _CompiledRoute(
        func=func,
        route=route,
        pattern=re.compile(pattern),
        param_names=tuple(names),
        specificity=(1 if route.host else 0, len(route.base_path), literal_segments),
    )


def request_host(host_header: str) -> str:
    """'Hello.Local:8080' -> 'hello.local' (ports are not part of the routing key)."""
    host = host_header.strip().lower()
    if host.startswith("["):
        return host.split("]")[0] + "]"
    return host.rsplit(":", 1)[0] if ":" in host else host


class RouteTable:
    """An immutable index of the Registry's routes, built once per snapshot."""

    def __init__(self, funcs: list[RegisteredFunc]) -> None:
        self.funcs = list(funcs)
        compiled = [_compile(func, route) for func in funcs for route in func.routes]
        self._routes = sorted(compiled, key=lambda c: c.specificity, reverse=True)

    def match(self, host_header: str, method: str, path: str) -> RouteMatch:
        host = request_host(host_header)
        method = method.upper()
        allowed: list[str] = []
        matched_specificity = None
        for candidate in self._routes:
            route = candidate.route
            if route.host and route.host != host:
                continue
            if matched_specificity is not None and candidate.specificity < matched_specificity:
                break
            rest = _strip_base_path(path, route.base_path)
            if rest is None:
                continue
            found = candidate.pattern.fullmatch(rest)
            if found is None:
                continue
            if route.method != method:
                matched_specificity = candidate.specificity
                allowed.append(route.method)
                continue
            return RouteMatch(
                func=candidate.func,
                route=route,
                operation_path=rest,
                path_params={
                    name: unquote(value)
                    for name, value in zip(candidate.param_names, found.groups(), strict=True)
                },
            )
        return RouteMatch(allowed_methods=sorted(set(allowed)))


def _strip_base_path(path: str, base_path: str) -> str | None:
    if not base_path:
        return path
    if path == base_path:
        return "/"
    if path.startswith(base_path + "/"):
        return path[len(base_path) :]
    return None
