"""Captured requests as test cases. Which requests are captured is decided
in the routing step (``RouteDecision.capture``, from the share set with
`funcatron-wf capture NAME all|0.1|off`) and recorded as the request's
``Captured`` search attribute; the request and its response are in its
workflow's history already, so capture costs nothing more. They last as long
as the namespace keeps histories: `capture export` writes them out as cases
(engine/cases.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from temporalio.client import Client

from funcatron_wf.engine.blobs import BlobStore, MissingBlobStore, body_bytes
from funcatron_wf.engine.cases import Case, case_of
from funcatron_wf.engine.errors import FuncatronError
from funcatron_wf.engine.request_history import fetch_story
from funcatron_wf.engine.request_listing import list_requests, visibility_query


def share_of(text: str) -> float:
    """'all', 'off', '0.1' or '10%' as a share in [0, 1]."""
    word = text.strip().lower()
    if word in ("all", "on"):
        return 1.0
    if word == "off":
        return 0.0
    try:
        share = float(word[:-1]) / 100 if word.endswith("%") else float(word)
    except ValueError:
        share = -1.0
    if not 0 <= share <= 1:
        raise ValueError(f"{text!r} is not all, off, a share like 0.1 or a percentage like 10%")
    return share


async def request_case(client: Client, request_id: str, blobs: BlobStore | None) -> Case:
    """One finished request as a case, from its workflow's history."""
    story = await fetch_story(client, request_id)
    if story.request is None or story.response is None:
        raise FuncatronError(f"request {request_id} has not finished: no response to compare with")
    request, response = story.request, story.response
    try:
        return case_of(
            request,
            None if request.body is None else body_bytes(request.body, blobs),
            response,
            None if response.body is None else body_bytes(response.body, blobs),
        )
    except (MissingBlobStore, OSError) as err:
        raise FuncatronError(f"request {request_id}: {err}") from err


async def captured_cases(
    client: Client, func: str, blobs: BlobStore | None, limit: int
) -> AsyncIterator[Case]:
    """The Func's captured requests that have finished, newest first."""
    query = visibility_query(func=func, captured=True) + " AND ExecutionStatus = 'Completed'"
    async for listed in list_requests(client, query, limit):
        yield await request_case(client, listed.request_id, blobs)
