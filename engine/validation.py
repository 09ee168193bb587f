"""Request validation with openapi-core, before any Func runs.

Routing has already chosen the operation, so the validator sees a copy of
the spec with ``servers`` reset to "/" and the path below the base path:
openapi-core then matches on the path template alone, whatever host or port
the request came in on.

The result is what the Func receives: parameters typed by their schema, with
defaults applied (JSON-safe: formats such as ``date`` stay strings, because
they cross Temporal as JSON), and every violation, each with where (``in``,
``name``) and why (``reason``).
"""

from __future__ import annotations

import base64
import datetime
import decimal
import uuid
from dataclasses import dataclass, field
from http.cookies import CookieError, SimpleCookie
from typing import Any

from openapi_core import OpenAPI
from openapi_core.datatypes import RequestParameters
from openapi_core.deserializing.media_types.exceptions import MediaTypeDeserializeError
from openapi_core.templating.media_types.exceptions import MediaTypeNotFound
from openapi_core.validation.request.exceptions import (
    MissingRequestBodyError,
    ParameterValidationError,
    RequestBodyValidationError,
    SecurityValidationError,
)
from openapi_core.validation.schemas.exceptions import InvalidSchemaValue
from werkzeug.datastructures import Headers, ImmutableMultiDict

from funcatron_wf.engine.contracts import RequestEnvelope, ResponseEnvelope

FORM_MEDIA_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


@dataclass
class ValidatedRequest:
    parameters: dict[str, Any] = field(default_factory=dict)
    violations: list[dict[str, str]] = field(default_factory=list)
    unsupported_media_type: str | None = None  # the detail of a 415
    unauthorized: bool = False
    form_body: dict[str, Any] | None = None


def json_safe(value: Any) -> Any:
    """Unmarshalled values as plain JSON types (dates, UUIDs, decimals -> str)."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, datetime.date | datetime.time | uuid.UUID | decimal.Decimal):
        return value.isoformat() if hasattr(value, "isoformat") else str(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    return value


class _EnvelopeRequest:
    """openapi-core's Request protocol over a request envelope."""

    host_url = "http://funcatron.invalid"

    def __init__(self, request: RequestEnvelope, path: str, body: bytes | None) -> None:
        headers = request.headers or {}
        self.path = path
        self.method = request.method.lower()
        self.body = body
        self.content_type = headers.get("content-type", "").lower()
        cookies: SimpleCookie = SimpleCookie()
        try:
            cookies.load(headers.get("cookie", ""))
        except CookieError:
            pass  # a malformed Cookie header reads as no cookies
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(
                [
                    (name, value)
                    for name, values in (request.query or {}).items()
                    for value in values
                ]
            ),
            header=Headers(list(headers.items())),
            cookie=ImmutableMultiDict([(name, morsel.value) for name, morsel in cookies.items()]),
        )


def _message(schema_error: Exception) -> str:
    return str(getattr(schema_error, "message", schema_error))


def _path(schema_error: Exception) -> list[object]:
    return list(getattr(schema_error, "absolute_path", []))


def _violations(error: Exception) -> list[dict[str, str]]:
    # schema_errors are jsonschema ValidationErrors (typed as Exception by openapi-core)
    cause = error.__cause__
    if isinstance(error, ParameterValidationError):
        reason = str(cause) if cause is not None else str(error)
        if isinstance(cause, InvalidSchemaValue):
            return [
                {"in": error.location, "name": error.name, "reason": _message(schema_error)}
                for schema_error in cause.schema_errors
            ]
        return [{"in": error.location, "name": error.name, "reason": reason}]
    if isinstance(error, MissingRequestBodyError):
        return [{"in": "body", "name": "", "reason": "a request body is required"}]
    if isinstance(error, RequestBodyValidationError) and isinstance(cause, InvalidSchemaValue):
        return [
            {
                "in": "body",
                "name": "/" + "/".join(str(part) for part in _path(schema_error)),
                "reason": _message(schema_error),
            }
            for schema_error in cause.schema_errors
        ]
    if isinstance(cause, MediaTypeDeserializeError):
        # its own message decodes the raw bytes, which fails for non-UTF-8 bodies
        return [
            {"in": "body", "name": "", "reason": f"the body does not parse as {cause.mimetype}"}
        ]
    return [{"in": "body", "name": "", "reason": str(cause or error)}]


class OperationValidator:
    """Validates requests against one Func's OpenAPI 3 document."""

    def __init__(self, openapi: dict[str, Any]) -> None:
        self.api = OpenAPI.from_dict({**openapi, "servers": [{"url": "/"}]})

    def validate(self, request: RequestEnvelope, path: str, body: bytes | None) -> ValidatedRequest:
        adapted = _EnvelopeRequest(request, path, body)
        result = self.api.unmarshal_request(adapted)
        validated = ValidatedRequest()
        for error in result.errors:
            if isinstance(error.__cause__, MediaTypeNotFound):
                validated.unsupported_media_type = str(error.__cause__)
            elif isinstance(error, SecurityValidationError):
                validated.unauthorized = True
            else:
                validated.violations += _violations(error)
        parameters = result.parameters
        typed: dict[str, Any] = {}
        if parameters is not None:
            for location in (
                parameters.cookie,
                parameters.header,
                parameters.query,
                parameters.path,
            ):
                typed.update(location)
        validated.parameters = json_safe(typed)
        if result.body is not None and adapted.content_type.startswith(FORM_MEDIA_TYPES):
            validated.form_body = json_safe(result.body)
        return validated


class _EnvelopeResponse:
    """openapi-core's Response protocol over a response envelope."""

    def __init__(self, response: ResponseEnvelope) -> None:
        self.status_code = response.status
        self.headers = Headers(list(response.headers.items()))
        self.content_type = response.headers.get("content-type", "").lower()
        self.data = response.body.raw() if response.body is not None else b""


def response_violations(
    validator: OperationValidator, request: RequestEnvelope, path: str, response: ResponseEnvelope
) -> list[str]:
    """Why a Func's reply breaks its operation's documented responses (empty: it does not)."""
    result = validator.api.unmarshal_response(
        _EnvelopeRequest(request, path, None), _EnvelopeResponse(response)
    )
    return [str(error.__cause__ or error) for error in result.errors]
