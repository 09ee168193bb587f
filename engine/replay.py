"""Replaying cases (engine/cases.py) against a version of a Func: each
case's request runs again, under a new request id, through the same start
as any request (engine/starting.py), and its response is compared with the
captured one. Where it runs: the live version (routing as usual), or one
deployed version, pinned by routing on a view that holds only it
(``pinned_to``); a folder served for the occasion is the CLI's to start
(funcatron_wf/cli_capture.py) and replays here like the live version."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from temporalio.client import Client

from funcatron_wf.engine.blobs import BlobStore, body_bytes
from funcatron_wf.engine.cases import Case, CaseResponse, body_case, response_diff
from funcatron_wf.engine.contracts import (
    DEFAULT_INLINE_BODY_MAX,
    RegistrySnapshot,
    RequestEnvelope,
    RouteDecision,
)
from funcatron_wf.engine.errors import FuncatronError
from funcatron_wf.engine.registry_client import read_registry_state
from funcatron_wf.engine.routing import RegistryView, decide
from funcatron_wf.engine.spec_store import SpecStore
from funcatron_wf.engine.starting import start_request

Decider = Callable[[RequestEnvelope], Awaitable[RouteDecision]]


@dataclass
class Replayed:
    case: Case
    request_id: str  # the replay's own
    response: CaseResponse
    diff: str  # '' when the response is the captured one


async def pinned_to(
    client: Client, func: str, sha: str, specs: SpecStore | None, blobs: BlobStore | None
) -> Decider:
    """Routing that sends every request to version ``sha`` (a prefix will
    do) of ``func``, which must have Runners (live, canary or pending)."""
    state = await read_registry_state(client)
    deployment = next((d for d in state.deployments if d.name == func), None)
    if deployment is None:
        raise FuncatronError(f"no Func {func!r} is deployed")
    versions = [version for version in deployment.versions if version.sha.startswith(sha)]
    if len(versions) != 1:
        known = ", ".join(version.sha[:12] for version in deployment.versions)
        what = "no version" if not versions else "more than one version"
        raise FuncatronError(f"{func} has {what} starting with {sha!r} (its versions: {known})")
    version = versions[0]
    if version not in deployment.serving():
        raise FuncatronError(
            f"{func} {version.sha[:12]} is retired: no Runners serve it. Deploy it again "
            "as a canary taking no requests (funcatron-wf deploy BUNDLE --canary 0) to replay on it"
        )
    view = RegistryView(RegistrySnapshot(generation=0, funcs=[version]), specs)

    async def pinned(request: RequestEnvelope) -> RouteDecision:
        return decide(request, view, blobs=blobs)

    return pinned


async def replay(
    client: Client,
    cases: list[Case],
    *,
    decider: Decider | None,
    blobs: BlobStore | None,
    inline_body_max: int = DEFAULT_INLINE_BODY_MAX,
) -> AsyncIterator[Replayed]:
    """Each case run again, in order (``decider`` None: routed as usual)."""
    for case in cases:
        request = case.envelope(blobs, inline_body_max)
        decision = None if decider is None else await decider(request)
        response = await (await start_request(client, request, decision)).response()
        content_type = response.headers.get("content-type", "")
        raw = None if response.body is None else body_bytes(response.body, blobs)
        got = CaseResponse(response.status, content_type, body_case(raw, content_type))
        yield Replayed(case, request.request_id, got, response_diff(case, got, request.request_id))
