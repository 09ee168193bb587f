"""Reading a Func folder's OpenAPI file (Swagger 2.0, OpenAPI 3.0/3.1) and
turning its operations into routes, each with its ``x-funcatron-*`` policy.

Validation is openapi-spec-validator's; every problem it finds is reported
at once, with the file and the place in it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from openapi_spec_validator.shortcuts import get_validator_cls
from openapi_spec_validator.validation.exceptions import ValidatorDetectError
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from funcatron_wf.engine.bounded_yaml import YamlTooLarge, load_bounded
from funcatron_wf.engine.contracts import (
    DEFAULT_OPERATION_TIMEOUT,
    OperationPolicy,
    Route,
    ScalePolicy,
)
from funcatron_wf.engine.errors import SpecError
from funcatron_wf.engine.spec_conversion import swagger2_to_openapi3
from funcatron_wf.engine.spec_rewriting import SETTING as REWRITE_SETTING
from funcatron_wf.engine.spec_rewriting import SpecRewrite, apply_rewrites

SPEC_FILE_NAMES = (
    "openapi.yaml",
    "openapi.yml",
    "openapi.json",
    "swagger.yaml",
    "swagger.yml",
    "swagger.json",
)
DEFAULT_RETRY_ATTEMPTS = 3
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


class _OperationExtensions(BaseModel):
    """The ``x-funcatron-*`` extensions an operation may carry."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    timeout: float = Field(DEFAULT_OPERATION_TIMEOUT, gt=0, alias="x-funcatron-timeout")
    reply: bool = Field(True, alias="x-funcatron-reply")
    retry: bool | int = Field(False, alias="x-funcatron-retry")
    queue: str | None = Field(None, min_length=1, alias="x-funcatron-queue")
    chain: str | None = Field(None, min_length=1, alias="x-funcatron-chain")

    def policy(self) -> OperationPolicy:
        return OperationPolicy(
            timeout=self.timeout, reply=self.reply, retry_attempts=retry_attempts(self.retry)
        )


def retry_attempts(retry: bool | int) -> int:
    """``x-funcatron-retry`` (or a chain step's ``retry``) as attempts: 0 is no retry."""
    if isinstance(retry, bool):
        return DEFAULT_RETRY_ATTEMPTS if retry else 0
    return retry


def operation_extensions(
    operation: dict[str, Any], *, source: str, where: str
) -> _OperationExtensions:
    try:
        extensions = _OperationExtensions.model_validate(operation)
    except ValidationError as err:
        problems = "; ".join(f"{e['loc'][0]}: {e['msg']}" for e in err.errors())
        raise SpecError(source, f"{where}: {problems}") from err
    if extensions.retry is not True and extensions.retry is not False and extensions.retry < 1:
        raise SpecError(source, f"{where}: x-funcatron-retry must be true, false or a count >= 1")
    return extensions


SCALE = "x-funcatron-scale"


class _ScaleFields(BaseModel):
    """``x-funcatron-scale``: ages and windows in seconds; unknown keys refused."""

    model_config = ConfigDict(extra="forbid")

    min: int = Field(ScalePolicy.min, ge=0)
    max: int = Field(ScalePolicy.max, ge=1)
    target_backlog_age: float = Field(ScalePolicy.target_backlog_age, gt=0)
    concurrency: int = Field(ScalePolicy.concurrency, ge=1)
    rate_limit: float | None = Field(ScalePolicy.rate_limit, gt=0)
    scale_down_after: float = Field(ScalePolicy.scale_down_after, ge=0)


class _ScaleExtension(_ScaleFields):
    """The merged policy: its bounds in order too."""

    @model_validator(mode="after")
    def _min_below_max(self) -> _ScaleExtension:
        if self.min > self.max:
            raise ValueError(f"min ({self.min}) is above max ({self.max})")
        return self


def scale_policy(openapi: dict[str, Any], *, source: str) -> ScalePolicy:
    """The version's pool policy: ``x-funcatron-scale`` at the spec's root,
    and on operations (their keys over the root's; two operations giving
    one key different values is refused)."""
    declared: dict[str, tuple[Any, str]] = {}  # key -> (value, where)
    places: list[tuple[str, Any]] = [("the spec's root", openapi.get(SCALE))]
    for template, path_item in (openapi.get("paths") or {}).items():
        for method in HTTP_METHODS:
            operation = path_item.get(method) if isinstance(path_item, dict) else None
            if isinstance(operation, dict) and SCALE in operation:
                places.append((f"{method.upper()} {template}", operation[SCALE]))
    for where, value in places:
        if value is None:
            continue
        if not isinstance(value, dict):
            raise SpecError(source, f"{where}: {SCALE} must be a mapping of "
                            f"{', '.join(_ScaleFields.model_fields)}")  # fmt: skip
        try:
            _ScaleFields.model_validate(value)
        except ValidationError as err:
            raise SpecError(source, f"{where}: {SCALE}: {_problems(err)}") from err
        for key, setting in value.items():
            earlier = declared.get(key)
            if earlier is not None and earlier[1] != "the spec's root" and earlier[0] != setting:
                raise SpecError(
                    source, f"{SCALE} {key} is {earlier[0]!r} on {earlier[1]} and {setting!r} on "
                    f"{where}: one pool serves the version, so give it once (at the root)",
                )  # fmt: skip
            declared[key] = (setting, where)
    merged = {key: value for key, (value, _) in declared.items()}
    try:
        extension = _ScaleExtension.model_validate(merged)
    except ValidationError as err:
        raise SpecError(source, f"{SCALE}: {_problems(err)}") from err
    return ScalePolicy(**extension.model_dump())


def _problems(err: ValidationError) -> str:
    return "; ".join(
        (
            f"{e['loc'][0]}: {e['msg']}"
            if e["loc"]
            else str(e["msg"]).removeprefix("Value error, ")
        ).replace("Extra inputs are not permitted", "unknown key")
        for e in err.errors()
    )


@dataclass(frozen=True)
class Spec:
    """A validated OpenAPI document as written (``document``) and its OpenAPI 3
    form (``openapi``: the same document, or Swagger 2.0 converted)."""

    path: Path
    document: dict[str, Any]
    openapi: dict[str, Any]

    @property
    def is_swagger2(self) -> bool:
        return "swagger" in self.document

    def routes(self, default_module: str | None = None) -> list[Route]:
        """Every (routing key, method, path template) -> operationId of this spec.
        A controller module (``x-openapi-router-controller`` or
        ``x-funcatron-module`` on the operation, its path or the root, else
        ``default_module``) makes the operationId a function name in it."""
        routes: list[Route] = []
        root_module = controller_of(self.openapi) or default_module
        for host, base_path in self._routing_keys():
            for template, path_item in (self.openapi.get("paths") or {}).items():
                path_module = controller_of(path_item) or root_module
                for method in HTTP_METHODS:
                    operation = path_item.get(method)
                    if operation is None:
                        continue
                    where = f"{method.upper()} {template}"
                    extensions = operation_extensions(operation, source=str(self.path), where=where)
                    # an operation served by a chain has no code: its operationId is optional
                    operation_id = operation.get("operationId") or (
                        extensions.chain and f"chain/{extensions.chain}"
                    )
                    if not operation_id:
                        raise SpecError(
                            str(self.path),
                            f"{where} has no operationId; "
                            "give it one naming the function (module.function)",
                        )
                    module = controller_of(operation) or path_module
                    routes.append(
                        Route(
                            host=host,
                            base_path=base_path,
                            method=method.upper(),
                            path_template=template,
                            operation_id=operation_id,
                            policy=extensions.policy(),
                            queue=extensions.queue,
                            chain=extensions.chain,
                            handler=f"{module}.{operation_id}"
                            if module and not extensions.chain
                            else None,
                        )
                    )
        bound: dict[str, str] = {}
        for route in routes:
            if (
                route.queue
                and bound.setdefault(route.queue, route.operation_id) != route.operation_id
            ):
                raise SpecError(
                    str(self.path),
                    f"x-funcatron-queue {route.queue!r} is on both {bound[route.queue]} and "
                    f"{route.operation_id}; a queue feeds one operation",
                )
        return routes

    def scale_policy(self) -> ScalePolicy:
        return scale_policy(self.openapi, source=str(self.path))

    def _routing_keys(self) -> list[tuple[str, str]]:
        keys = []
        for server in self.openapi.get("servers") or [{"url": "/"}]:
            url = server["url"]
            for name, variable in (server.get("variables") or {}).items():
                url = url.replace("{" + name + "}", str(variable.get("default", "")))
            parts = urlsplit(url)
            keys.append((parts.hostname or "", normalize_base_path(parts.path)))
        return keys


CONTROLLER_KEYS = ("x-funcatron-module", "x-openapi-router-controller")  # ours, Connexion's
JSON_MEDIA_TYPE = re.compile(r"^application/(.+\+)?json$")


def controller_of(node: dict[str, Any]) -> str | None:
    for key in CONTROLLER_KEYS:
        value = node.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def replies_json_only(openapi: dict[str, Any], operation_id: str) -> bool:
    """Does the operation document JSON replies only (so a string it returns
    is a JSON string, not text/plain)?"""
    for path_item in (openapi.get("paths") or {}).values():
        for method in HTTP_METHODS:
            operation = path_item.get(method) if isinstance(path_item, dict) else None
            if not isinstance(operation, dict) or operation.get("operationId") != operation_id:
                continue
            media_types = [
                media_type
                for response in (operation.get("responses") or {}).values()
                if isinstance(response, dict)
                for media_type in (response.get("content") or {})
            ]
            return bool(media_types) and all(
                JSON_MEDIA_TYPE.match(media_type.split(";")[0].strip())
                for media_type in media_types
            )
    return False


def normalize_base_path(base_path: str) -> str:
    """'/v1/' -> '/v1', '/' -> '' so that base path + template is the request path."""
    return "/" + base_path.strip("/") if base_path.strip("/") else ""


def find_spec_file(folder: Path) -> Path:
    for name in SPEC_FILE_NAMES:
        candidate = folder / name
        if candidate.is_file():
            return candidate
    raise SpecError(
        str(folder),
        "no OpenAPI file found; add one named "
        + " or ".join(SPEC_FILE_NAMES[:2])
        + " (or swagger.yaml)",
    )


def load_spec(path: Path, rewrites: list[SpecRewrite] | None = None) -> Spec:
    """Read an OpenAPI file, apply the rewrites, validate (raising SpecError
    listing every problem) and convert Swagger 2.0 to OpenAPI 3."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise SpecError(str(path), f"cannot read the file: {err.strerror}") from err
    try:
        document = json.loads(text) if path.suffix == ".json" else load_bounded(text)
    except YamlTooLarge as err:
        raise SpecError(str(path), f"refused: {err}") from err
    except (ValueError, yaml.YAMLError) as err:
        raise SpecError(
            str(path), f"not valid {'JSON' if path.suffix == '.json' else 'YAML'}: {err}"
        ) from err
    if not isinstance(document, dict):
        raise SpecError(str(path), "the file does not hold an OpenAPI document (a mapping)")
    document = apply_rewrites(document, rewrites or [], source=str(path))
    try:
        validator_cls = get_validator_cls(document)
    except ValidatorDetectError as err:
        raise SpecError(
            str(path), "no 'swagger: \"2.0\"' or 'openapi: 3.x' field; which OpenAPI version is it?"
        ) from err
    problems: list[str] = []
    try:
        for error in validator_cls(document).iter_errors():
            # first line only: with jsonschema_rs installed, messages carry a multi-line dump
            where = "/".join(str(p) for p in error.absolute_path) or "(top level)"
            problems.append(f"at {where}: {error.message.splitlines()[0]}")
    except (KeyError, TypeError, AttributeError) as err:
        # the validator walks the document as OpenAPI shapes it, and trips
        # over a part that has another shape (``paths: 7``)
        if not problems:
            problems.append(f"at {err.args[0] if err.args else '?'}: not shaped as OpenAPI says")
    if problems:
        rewritten = f" (after {REWRITE_SETTING})" if rewrites else ""
        raise SpecError(str(path), f"invalid OpenAPI document{rewritten}: " + "; ".join(problems))
    openapi = (
        swagger2_to_openapi3(document, source=str(path)) if "swagger" in document else document
    )
    return Spec(path=path, document=document, openapi=openapi)
