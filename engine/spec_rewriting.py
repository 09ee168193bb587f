"""Rewriting spec fields with sed-style expressions before a Func is
registered, so one Func folder serves test, staging and production under
different hosts and base paths.

``FUNCATRON_SPEC_REWRITE`` (or ``dev --rewrite``, repeatable) holds one rule
per line: ``TARGET s<d>PATTERN<d>REPLACEMENT<d>[FLAGS]``.

- TARGET ``host``: Swagger 2.0 ``host``, or the host of every OpenAPI 3
  ``servers[].url``; ``basePath``: Swagger 2.0 ``basePath``, or the path of
  every server URL; or a JSON pointer (``/info/title``) to any string field.
- PATTERN is a Python regular expression; REPLACEMENT may use ``&`` (the
  whole match) and ``\\1``..``\\9``; FLAGS: ``g`` (every match, not the
  first) and ``i`` (ignore case). ``<d>`` is any delimiter character.

Example: ``host s/\\.local$/.staging.example.com/``
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import jsonpointer

from funcatron_wf.engine.errors import ConfigError

SETTING = "FUNCATRON_SPEC_REWRITE"


@dataclass(frozen=True)
class SpecRewrite:
    target: str  # "host", "basePath" or a JSON pointer
    pattern: re.Pattern[str]
    replacement: str  # in Python's re.sub syntax
    count: int  # 0: every match
    rule: str  # as written, for error messages

    def apply(self, value: str) -> str:
        return self.pattern.sub(self.replacement, value, count=self.count)


def _split_sed(expression: str, rule: str) -> tuple[str, str, str]:
    if len(expression) < 4 or expression[0] != "s":
        raise ConfigError(
            f"{SETTING}: {rule!r}: the expression must look like s/PATTERN/REPLACEMENT/"
        )
    delimiter = expression[1]
    parts, current, escaped = [], "", False
    for char in expression[2:]:
        if escaped:
            current += char if char == delimiter else "\\" + char
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == delimiter:
            parts.append(current)
            current = ""
        else:
            current += char
    if len(parts) != 2:
        raise ConfigError(
            f"{SETTING}: {rule!r}: expected s{delimiter}PATTERN{delimiter}REPLACEMENT{delimiter}FLAGS"
        )
    return parts[0], parts[1], current


def _python_replacement(sed_replacement: str) -> str:
    # sed's & is the whole match; \& is a literal &.
    return re.sub(
        r"(\\\\)|\\&|&",
        lambda m: m.group(1) or ("&" if m.group(0) == "\\&" else r"\g<0>"),
        sed_replacement,
    )


def parse_rewrites(text: str) -> list[SpecRewrite]:
    rewrites = []
    for line in text.splitlines():
        rule = line.strip()
        if not rule or rule.startswith("#"):
            continue
        target, _, expression = rule.partition(" ")
        if target not in ("host", "basePath") and not target.startswith("/"):
            raise ConfigError(
                f"{SETTING}: {rule!r}: the target must be host, basePath or a JSON pointer like /info/title"
            )
        pattern, replacement, flags = _split_sed(expression.strip(), rule)
        unknown = set(flags) - {"g", "i"}
        if unknown:
            raise ConfigError(
                f"{SETTING}: {rule!r}: unknown flag(s) {''.join(sorted(unknown))}; use g or i"
            )
        try:
            compiled = re.compile(pattern, re.IGNORECASE if "i" in flags else 0)
        except re.error as err:
            raise ConfigError(f"{SETTING}: {rule!r}: bad pattern: {err}") from err
        rewrites.append(
            SpecRewrite(
                target=target,
                pattern=compiled,
                replacement=_python_replacement(replacement),
                count=0 if "g" in flags else 1,
                rule=rule,
            )
        )
    return rewrites


def _rewrite_server_url(url: str, rewrite: SpecRewrite) -> str:
    parts = urlsplit(url)
    if rewrite.target == "host":
        host = rewrite.apply(parts.hostname or "")
        netloc = host + (f":{parts.port}" if parts.port else "")
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    return urlunsplit(
        (parts.scheme, parts.netloc, rewrite.apply(parts.path), parts.query, parts.fragment)
    )


def apply_rewrites(
    document: dict[str, Any], rewrites: list[SpecRewrite], *, source: str
) -> dict[str, Any]:
    """A rewritten copy of ``document`` (the original is left as it is)."""
    if not rewrites:
        return document
    result = copy.deepcopy(document)
    swagger2 = "swagger" in result
    for rewrite in rewrites:
        if rewrite.target in ("host", "basePath") and swagger2:
            result[rewrite.target] = rewrite.apply(str(result.get(rewrite.target, "")))
        elif rewrite.target in ("host", "basePath"):
            servers = result.get("servers") or [{"url": "/"}]
            for server in servers:
                server["url"] = _rewrite_server_url(server["url"], rewrite)
            result["servers"] = servers
        else:
            try:
                value = jsonpointer.resolve_pointer(result, rewrite.target)
            except jsonpointer.JsonPointerException as err:
                raise ConfigError(
                    f"{SETTING}: {rewrite.rule!r}: {source} has no field {rewrite.target}"
                ) from err
            if not isinstance(value, str):
                raise ConfigError(
                    f"{SETTING}: {rewrite.rule!r}: {rewrite.target} in {source} is not a string"
                )
            jsonpointer.set_pointer(result, rewrite.target, rewrite.apply(value))
    return result
