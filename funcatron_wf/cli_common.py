"""What every command shares: running a coroutine with user mistakes as one
line, the options several commands take, settings, and the exit that skips
the SDK's teardown."""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import click
from temporalio.client import Client

from funcatron_wf.engine.blobs import BlobStore
from funcatron_wf.engine.errors import FuncatronError
from funcatron_wf.engine.settings import Settings, load_settings
from funcatron_wf.engine.spec_store import SpecStore


def run_command(coroutine: Coroutine[Any, Any, Any]) -> Any:
    try:
        return asyncio.run(coroutine)
    except FuncatronError as err:
        raise click.ClickException(str(err)) from err


def exit_without_teardown(code: int) -> None:
    """End a command that used a Temporal client, once its work is done.

    The SDK's Rust threads can outlive CPython's finalization and crash the
    process (SIGABRT/SIGSEGV) after it has printed its answer, turning a
    success into a failed exit code (temporalio/sdk-python#300, seen here in
    about one run in eight). So we flush everything and skip the teardown.
    """
    from funcatron_wf.engine.tracing import shutdown_tracing

    shutdown_tracing()  # a process's last spans
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def temporal_options(command: Callable[..., Any]) -> Callable[..., Any]:
    @click.option(
        "--temporal",
        metavar="HOST:PORT",
        help="A Temporal frontend HOST:PORT (env FUNCATRON_TEMPORAL). Default: dev's and "
        "up's own embedded server (127.0.0.1:7233); for the deploy commands, the platform "
        "running in --state-dir.",
    )
    @click.option(
        "--namespace", help="Temporal namespace (env FUNCATRON_NAMESPACE; default 'default')."
    )
    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return command(*args, **kwargs)

    return wrapper


def command_settings(**flags: Any) -> Settings:
    try:
        return load_settings(**flags)
    except FuncatronError as err:
        raise click.ClickException(str(err)) from err


def blob_dir_option(command: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--blob-dir",
        type=click.Path(path_type=Path),
        help="The blob store for large bodies (env FUNCATRON_BLOB_DIR), shared with the front.",
    )(command)


def ready_file_option(command: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--ready-file", type=click.Path(path_type=Path), help="Written once the worker polls."
    )(command)


def blob_store_of(settings: Settings) -> BlobStore | None:
    return BlobStore(settings.blob_dir) if settings.blob_dir else None


def bundle_store_option(command: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--bundle-store",
        type=click.Path(path_type=Path),
        help="The bundle store (env FUNCATRON_BUNDLE_STORE): deployed bundles and their specs.",
    )(command)


def spec_store_of(settings: Settings) -> SpecStore | None:
    return SpecStore(settings.bundle_store) if settings.bundle_store else None


def platform_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Where a platform on this machine listens (`dev`, `up`)."""
    options = [
        click.option("--port", type=int, help="Port of the HTTP front (env FUNCATRON_PORT; default 8080)."),
        click.option("--listen", help="Address of the HTTP front (default 127.0.0.1)."),
        click.option("--temporal-http", metavar="HOST:PORT", help="HTTP API of the --temporal cluster."),
        click.option("--temporal-port", type=int, help="Embedded Temporal gRPC port (default 7233)."),
        click.option("--temporal-ui-port", type=int, help="Embedded Temporal UI port (default 8233)."),
        click.option("--temporal-http-port", type=int, help="Embedded Temporal HTTP API port (default 7243)."),
    ]  # fmt: skip
    for option in reversed(options):
        command = option(command)
    return command


def rewrite_option(command: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--rewrite",
        "rewrites",
        multiple=True,
        metavar="'TARGET s/PATTERN/REPLACEMENT/'",
        help="Rewrite a spec field before registering (repeatable; env FUNCATRON_SPEC_REWRITE, "
        "one per line). TARGET: host, basePath or a JSON pointer such as /info/title.",
    )(command)


def queue_option(command: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--queue",
        "queues",
        multiple=True,
        metavar="NAME",
        help="Also run a queue source on this RabbitMQ queue (repeatable); the broker is "
        "FUNCATRON_AMQP_URL, or a throw-away one started here.",
    )(command)


def state_dir_option(command: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--state-dir",
        type=click.Path(path_type=Path),
        help="The local platform's directory (env FUNCATRON_STATE_DIR; default "
        "~/.local/state/funcatron-wf).",
    )(command)


def platform_settings_of(flags: dict[str, Any]) -> Settings:
    """The settings of a command run against a platform: the one running in
    the state directory, or the cluster --temporal names."""
    from funcatron_wf.deploy.platform import platform_settings

    try:
        return platform_settings(command_settings(**flags))
    except FuncatronError as err:
        raise click.ClickException(str(err)) from err


def inspect_settings_of(flags: dict[str, Any]) -> Settings:
    """The settings of a command that looks at requests or changes a Func's
    settings: the platform running in the state directory, or the cluster
    --temporal names, or else `dev`'s embedded Temporal (127.0.0.1:7233)."""
    from funcatron_wf.deploy.platform import platform_settings
    from funcatron_wf.engine.errors import ConfigError

    settings = command_settings(**flags)
    try:
        return platform_settings(settings)
    except ConfigError:
        return settings  # no platform: dev's server, at its default address


async def client_of(settings: Settings) -> Client:
    from funcatron_wf.engine.temporal_client import connect_with

    return await connect_with(settings)


def registry_change(
    what: str, name: str, flags: dict[str, Any], *, dev_too: bool = False, **change: Any
) -> Any:
    """One Registry change; the Func's Deployment after it (None once
    undeployed). ``dev_too``: a change that makes sense on `dev`'s Temporal
    too, when no platform runs (a log level, capture)."""
    from funcatron_wf.engine.contracts import FuncChange
    from funcatron_wf.engine.registry_client import change_func

    settings = inspect_settings_of(flags) if dev_too else platform_settings_of(flags)

    async def go() -> Any:
        state = await change_func(await client_of(settings), what, FuncChange(name=name, **change))
        return next((d for d in state.deployments if d.name == name), None)

    return run_command(go())
