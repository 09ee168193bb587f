"""The search attributes every request carries, so the Temporal UI (and
`funcatron-wf requests`) finds requests by Func, status, host or path:

    FuncName="pets" AND HttpStatus>=500

They are custom search attributes: a namespace must have them registered
before a workflow may carry them, or the start fails. The Tron registers
them when it starts (so `dev` and `up` do); where it may not (a cluster
whose operator API is closed to it) it says so, and requests run without
them rather than fail: whether they are set travels in each routing
decision (``RouteDecision.search_attributes``).

Set at start when the request was routed before it started (the front
door); otherwise by the request's workflow once it has routed. The status
is upserted by the workflow with its response.
"""

from __future__ import annotations

import logging
from typing import Any

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import Client
from temporalio.common import (
    SearchAttributeKey,
    SearchAttributePair,
    SearchAttributeUpdate,
    TypedSearchAttributes,
)
from temporalio.service import RPCError, RPCStatusCode

from funcatron_wf.engine.contracts import RequestEnvelope, RouteDecision

logger = logging.getLogger(__name__)

FUNC_NAME = SearchAttributeKey.for_keyword("FuncName")
FUNC_SHA = SearchAttributeKey.for_keyword("FuncSha")
OPERATION = SearchAttributeKey.for_keyword("Operation")
HTTP_STATUS = SearchAttributeKey.for_int("HttpStatus")
HOST = SearchAttributeKey.for_keyword("Host")
PATH = SearchAttributeKey.for_keyword("Path")
SOURCE = SearchAttributeKey.for_keyword("Source")
CAPTURED = SearchAttributeKey.for_bool("Captured")  # `funcatron-wf capture` chose it

_INDEX_TYPES: dict[SearchAttributeKey[Any], IndexedValueType.ValueType] = {
    FUNC_NAME: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    FUNC_SHA: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    OPERATION: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    HTTP_STATUS: IndexedValueType.INDEXED_VALUE_TYPE_INT,
    HOST: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    PATH: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    SOURCE: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    CAPTURED: IndexedValueType.INDEXED_VALUE_TYPE_BOOL,
}


async def register_request_attributes(client: Client) -> bool:
    """Make sure the client's namespace has the request search attributes;
    False (and a warning) when they are missing and cannot be added."""
    namespace = client.namespace
    try:
        known = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=namespace)
        )
        missing = {
            key.name: kind
            for key, kind in _INDEX_TYPES.items()
            if key.name not in known.custom_attributes
        }
        if missing:
            await client.operator_service.add_search_attributes(
                AddSearchAttributesRequest(search_attributes=missing, namespace=namespace)
            )
            logger.info("registered search attributes %s in %s", ", ".join(missing), namespace)
    except RPCError as err:
        if err.status == RPCStatusCode.ALREADY_EXISTS:  # another Tron, just now
            return True
        logger.warning(
            "requests run without search attributes: cannot register %s in namespace %s "
            "(%s); an operator can: temporal operator search-attribute create --name ... ",
            ", ".join(key.name for key in _INDEX_TYPES),
            namespace,
            err,
        )
        return False
    return True


def _routed(decision: RouteDecision) -> list[SearchAttributePair[Any]]:
    """The Func version and operation whose route matched (a chain's name for
    a chain), also for a request answered without running it (a 400)."""
    matched = decision.matched
    if matched is None:
        return []
    pairs: list[SearchAttributePair[Any]] = [
        SearchAttributePair(FUNC_NAME, matched.name),
        SearchAttributePair(FUNC_SHA, matched.sha),
        SearchAttributePair(OPERATION, matched.operation),
    ]
    if decision.capture:
        pairs.append(SearchAttributePair(CAPTURED, True))
    return pairs


def _arrived(request: RequestEnvelope) -> list[SearchAttributePair[Any]]:
    return [
        SearchAttributePair(HOST, request.host),
        SearchAttributePair(PATH, request.path),
        SearchAttributePair(SOURCE, request.source),
    ]


def at_start(request: RequestEnvelope, decision: RouteDecision) -> TypedSearchAttributes | None:
    """What a request routed before its start carries from the start."""
    if not decision.search_attributes:
        return None
    answered = [SearchAttributePair(HTTP_STATUS, decision.answer.status)] if decision.answer else []
    return TypedSearchAttributes(_arrived(request) + _routed(decision) + answered)


def after_routing(
    request: RequestEnvelope, decision: RouteDecision
) -> list[SearchAttributeUpdate[Any]]:
    """What a request that routed itself (RequestWorkflow) upserts once routed."""
    if not decision.search_attributes:
        return []
    pairs = _arrived(request) + _routed(decision)
    return [pair.key.value_set(pair.value) for pair in pairs]


def with_status(decision: RouteDecision, status: int) -> list[SearchAttributeUpdate[Any]]:
    """The response's status, upserted with the response."""
    return [HTTP_STATUS.value_set(status)] if decision.search_attributes else []
