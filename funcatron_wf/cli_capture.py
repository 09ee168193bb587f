"""Capture and replay: `capture NAME all|0.1|off` chooses which of a Func's
requests are kept as test cases (engine/capture.py), `capture export`
writes them out (engine/cases.py), `replay` runs them again against a
version and shows what changed (engine/replay.py)."""

from __future__ import annotations

import contextlib
import re
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from funcatron_wf.cli_common import (
    blob_dir_option,
    blob_store_of,
    client_of,
    exit_without_teardown,
    inspect_settings_of,
    registry_change,
    run_command,
    spec_store_of,
    state_dir_option,
    temporal_options,
)
from funcatron_wf.engine.contracts import is_request_id
from funcatron_wf.engine.errors import FuncatronError

console = Console(stderr=True)


class _SetByDefault(click.Group):
    """`capture NAME SHARE` sets; `capture export ...` exports: a first word
    that names no subcommand is the Func of `capture set`."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["set", *args]
        return super().parse_args(ctx, args)


@click.group(cls=_SetByDefault)
def capture() -> None:
    """Capture a Func's requests as test cases, and export them.

    \b
      funcatron-wf capture NAME all|0.1|10%|off   which share of its requests
      funcatron-wf capture export NAME -o CASES.jsonl

    The choice is made when a request is routed and recorded with it
    (search attribute Captured); a captured request's history holds it
    until the namespace's retention ends, so export what you keep.
    """


@capture.command("set")
@click.argument("name")
@click.argument("share")
@state_dir_option
@temporal_options
def capture_set(name: str, share: str, **flags: Any) -> None:
    """Capture SHARE of NAME's requests from its next one: all, off, 0.1 or 10%."""
    from funcatron_wf.engine.capture import share_of

    try:
        chosen = share_of(share)
    except ValueError as err:
        raise click.BadParameter(str(err), param_hint="SHARE") from err
    registry_change("set_capture", name, flags, dev_too=True, capture=chosen)
    what = "no" if chosen == 0 else "all" if chosen == 1 else f"{chosen * 100:g}% of"
    console.print(f"{name}: capturing {what} requests from its next one")
    exit_without_teardown(0)


@capture.command("export")
@click.argument("name")
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, allow_dash=True),
    required=True,
    help="The cases file (JSON lines; - for standard output).",
)
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=1000,
    show_default=True,
    help="At most this many, the newest ones.",
)
@blob_dir_option
@state_dir_option
@temporal_options
def capture_export(name: str, output: Path, limit: int, **flags: Any) -> None:
    """Write NAME's captured requests that have finished as test cases, in
    the order they arrived: one JSON object per line with the request and the
    response's status, content type and body. Bodies kept in the blob store
    need it (--blob-dir; `dev` prints its own). The file is written whole or
    not at all."""
    from funcatron_wf.engine.capture import captured_cases

    to_stdout = str(output) == "-"
    if not to_stdout and not output.parent.is_dir():
        raise click.BadParameter(f"no folder {output.parent}", param_hint="--output")
    settings = inspect_settings_of(flags)

    async def go() -> list[str]:
        client = await client_of(settings)
        try:
            found = [
                case async for case in captured_cases(client, name, blob_store_of(settings), limit)
            ]
        except ValueError as err:
            raise click.BadParameter(str(err), param_hint="NAME") from err
        return [case.to_line() for case in reversed(found)]  # oldest first: as they ran

    lines = run_command(go())
    if to_stdout:
        click.echo("\n".join(lines))
    else:
        partial = output.with_name(output.name + ".partial")
        partial.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        partial.replace(output)
    console.print(f"{len(lines)} captured request(s) of {name} written to {output}")
    if not lines:
        console.print(
            f"none captured: is capture on for {name} (`funcatron-wf capture {name} 0.1`), "
            "and do requests carry search attributes (FUNCATRON_SEARCH_ATTRIBUTES)?"
        )
    exit_without_teardown(0)


@click.command()
@click.argument("what")
@click.option(
    "--to",
    "to",
    metavar="SHA|DIR",
    help="Run them on a deployed version of their Func that has Runners (its SHA or "
    "a prefix of 6 or more hex digits), or on a Func folder served for the occasion "
    "by a `dev` of its own (about 10 s to start). Default: the live version.",
)
@click.option("--quiet", is_flag=True, help="Print only the requests whose response changed.")
@blob_dir_option
@state_dir_option
@temporal_options
def replay(what: str, to: str | None, quiet: bool, **flags: Any) -> None:
    """Run captured requests again and diff each response (status, content
    type, body) with the captured one. WHAT is a request id or a cases file
    (`capture export`). Each replay is a real request that runs the Func
    again, with source "replay" (never captured itself). Exits 1 when any
    response differs, for CI."""
    from funcatron_wf.engine.capture import request_case
    from funcatron_wf.engine.cases import read_cases
    from funcatron_wf.engine.replay import pinned_to
    from funcatron_wf.engine.replay import replay as replay_cases
    from funcatron_wf.engine.temporal_client import connect_with

    settings = inspect_settings_of(flags)
    folder = Path(to) if to is not None and Path(to).is_dir() else None
    if to is not None and folder is None and not re.fullmatch(r"[0-9a-fA-F]{6,64}", to):
        raise click.BadParameter(
            f"{to!r} is neither a folder nor a SHA prefix of 6 or more hex digits",
            param_hint="--to",
        )

    async def go() -> tuple[int, int]:
        client = await client_of(settings)
        blobs = blob_store_of(settings)
        if is_request_id(what.lower()):
            cases = [await request_case(client, what.lower(), blobs)]
        else:
            cases = read_cases(Path(what))
        with contextlib.ExitStack() as stack:
            decider, target = None, client
            if folder is not None:
                from funcatron_wf.served import serve_funcs

                console.print(f"serving {folder} for the replay...")
                try:
                    served = stack.enter_context(serve_funcs(folder, front=False))
                except RuntimeError as err:
                    raise FuncatronError(f"cannot serve {folder} for the replay: {err}") from err
                target = await connect_with(served.settings())
            elif to is not None:
                funcs = {case.func for case in cases}
                if len(funcs) != 1:
                    raise click.UsageError(
                        f"--to SHA needs the cases of one Func, not {sorted(funcs)}"
                    )
                decider = await pinned_to(
                    client, funcs.pop(), to.lower(), spec_store_of(settings), blobs
                )
            changed = total = 0
            replays = replay_cases(
                target,
                cases,
                decider=decider,
                blobs=blobs,
                inline_body_max=settings.inline_body_max,
            )
            async for done in replays:
                total += 1
                request = done.case.request
                line = f"{request.method} {request.host}{request.path} ({done.case.request_id})"
                if done.diff:
                    changed += 1
                    click.echo(f"CHANGED {line}: {done.response.status}\n{done.diff}\n")
                elif not quiet:
                    click.echo(f"same    {line}: {done.response.status}")
        return changed, total

    changed, total = run_command(go())
    console.print(f"{changed} of {total} replayed response(s) changed")
    exit_without_teardown(1 if changed else 0)


COMMANDS = [capture, replay]
