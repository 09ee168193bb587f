"""Looking at requests: `requests` lists recent ones by their search
attributes (engine/request_listing.py), `show REQUEST_ID` tells one from its
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
    inspect_settings_of,
    run_command,
    state_dir_option,
    temporal_options,
)
from funcatron_wf.engine.contracts import Body, is_request_id


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
    from funcatron_wf.engine.request_history import fetch_story

    if not is_request_id(request_id[:32]):
        raise click.BadParameter("a request id is 32 lowercase hex digits", param_hint="REQUEST_ID")
    settings = inspect_settings_of(flags)

    async def go() -> Any:
        return await fetch_story(await client_of(settings), request_id)

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


@click.command()
@click.option("--func", metavar="NAME", help="Only this Func's requests.")
@click.option(
    "--status", metavar="S", help="Only these HTTP statuses: 404, 5xx or >=500 (also >, <, <=)."
)
@click.option("--since", metavar="AGE", help="Only requests started in the last 30s, 10m, 2h, 1d.")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per request.")
@state_dir_option
@temporal_options
def requests(
    func: str | None, status: str | None, since: str | None, limit: int, as_json: bool, **flags: Any
) -> None:
    """List recent requests, newest first: id, status, Func version, where it
    arrived, how long it took. The filters are search attributes: the query
    printed at the end works in the Temporal UI's search box too."""
    import datetime

    from rich.console import Console
    from rich.table import Table

    from funcatron_wf.engine.request_listing import list_requests, since_cutoff, visibility_query

    try:
        cutoff = since_cutoff(since, datetime.datetime.now(datetime.UTC)) if since else None
        query = visibility_query(func=func, status=status, since=cutoff)
    except ValueError as err:
        raise click.UsageError(str(err)) from err
    settings = inspect_settings_of(flags)

    async def go() -> Any:
        client = await client_of(settings)
        return [listed async for listed in list_requests(client, query, limit)]

    listed = run_command(go())
    if as_json:
        for one in listed:
            document = {
                **asdict(one),
                "took_ms": None if one.took_ms is None else round(one.took_ms, 1),
            }
            document["started"] = one.started.isoformat()
            document["closed"] = one.closed.isoformat() if one.closed else None
            click.echo(json.dumps(document))
        exit_without_teardown(0)
    table = Table("started (UTC)", "request id", "status", "Func", "operation", "request", "took")
    for one in listed:
        table.add_row(
            f"{one.started:%Y-%m-%d %H:%M:%S}", one.request_id,
            str(one.http_status or one.state), f"{one.func}@{(one.sha or '')[:12]}" if one.func else "",
            one.operation or "", f"{one.host or ''}{one.path or ''} ({one.source or '?'})",
            f"{one.took_ms:.0f} ms" if one.took_ms is not None else "running",
        )  # fmt: skip
    out = Console()
    if not out.is_terminal:
        out = Console(width=200)  # piped: do not squeeze the table into 80 columns
    out.print(table)
    click.echo(f"{len(listed)} request(s); Temporal UI query: {query}", err=True)
    exit_without_teardown(0)


COMMANDS = [show, requests]
