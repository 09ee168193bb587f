"""Looking at requests: `show REQUEST_ID` tells one request from its
workflow's history (engine/request_history.py)."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import click

from funcatron_wf.cli_common import (
    client_of,
    exit_without_teardown,
    platform_settings_of,
    run_command,
    state_dir_option,
    temporal_options,
)
from funcatron_wf.engine.contracts import Body, is_request_id
from funcatron_wf.engine.errors import FuncatronError


def _body_text(body: Body | None, limit: int = 2000) -> str:
    if body is None:
        return "(no body)"
    if body.encoding == "ref":
        return f"(in the blob store: {body.data})"
    text = (
        body.raw().decode("utf-8", errors="replace")
        if body.encoding != "base64"
        else f"({len(body.raw())} bytes)"
    )
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} characters)"


def _ui_url(state_dir: Path | None, namespace: str, request_id: str) -> str | None:
    from funcatron_wf.cli_common import command_settings
    from funcatron_wf.deploy.platform import PlatformInfo, state_dir_of

    info = PlatformInfo.read(state_dir_of(command_settings(state_dir=state_dir)))
    for line in info.lines if info else []:
        if line.startswith("Temporal UI: "):
            return f"{line.removeprefix('Temporal UI: ')}/namespaces/{namespace}/workflows/{request_id}"
    return None


@click.command()
@click.argument("request_id")
@click.option("--json", "as_json", is_flag=True, help="Print the whole story as JSON.")
@state_dir_option
@temporal_options
def show(request_id: str, as_json: bool, **flags: Any) -> None:
    """Show one request: what arrived, where it was routed, each step with its
    times and attempts, and the response (from its workflow's history)."""
    from temporalio.service import RPCError

    from funcatron_wf.engine.request_history import request_story

    if not is_request_id(request_id[:32]):
        raise click.BadParameter("a request id is 32 lowercase hex digits", param_hint="REQUEST_ID")
    settings = platform_settings_of(flags)

    async def go() -> Any:
        client = await client_of(settings)
        try:
            history = await client.get_workflow_handle(request_id).fetch_history()
        except RPCError as err:
            raise FuncatronError(
                f"no request {request_id} in namespace {settings.namespace} ({err})"
            ) from err
        return request_story(history, client.data_converter.payload_converter)

    story = run_command(go())
    if as_json:
        click.echo(json.dumps(asdict(story), default=str, indent=1))
        exit_without_teardown(0)
    took = (
        f", took {(story.closed - story.started).total_seconds() * 1000:.0f} ms"
        if story.closed
        else ", still running"
    )
    click.echo(
        f"request {story.request_id} ({story.workflow_type}), {story.started:%Y-%m-%d %H:%M:%S} UTC{took}"
    )
    if story.request is not None:
        request = story.request
        click.echo(f"  {request.method} {request.host}{request.path}  (from {request.source})")
        click.echo(f"  body: {_body_text(request.body)}")
    decision = story.decision
    if decision is not None and decision.target is not None and decision.answer is None:
        what = f"chain {decision.chain.name}" if decision.chain else decision.operation_id
        canary = " (canary)" if decision.canary else ""
        click.echo(
            f"  routed to {what} of {decision.target.name}@{decision.target.sha[:12]}{canary}"
        )
    click.echo("steps:")
    for step in story.steps:
        took_ms = f"{step.took * 1000:.0f} ms" if step.took is not None else "-"
        label = step.summary or step.name
        click.echo(f"  {label:50} attempt {step.attempt}  {step.outcome:9} {took_ms}")
    if not story.steps:
        click.echo("  (none: answered by the routing step)")
    response = story.response
    if response is not None:
        func = (
            f" by {response.func.name}@{response.func.sha[:12]} {response.func.operation}"
            if response.func
            else ""
        )
        click.echo(f"response: {response.status} {response.headers.get('content-type', '')}{func}")
        click.echo(f"  {_body_text(response.body)}")
    url = _ui_url(flags.get("state_dir"), settings.namespace, request_id)
    if url:
        click.echo(f"Temporal UI: {url}")
    exit_without_teardown(0)


COMMANDS = [show]
