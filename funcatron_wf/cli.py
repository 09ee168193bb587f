"""The `funcatron-wf` command, on top of every package: each command parses
its options and calls one library function; user mistakes come back as one
line naming the problem."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

import click

from funcatron_wf import __version__
from funcatron_wf.cli_capture import COMMANDS as CAPTURE_COMMANDS
from funcatron_wf.cli_cluster import COMMANDS as CLUSTER_COMMANDS
from funcatron_wf.cli_common import (
    blob_dir_option,
    blob_store_of,
    bundle_store_option,
    command_settings,
    exit_without_teardown,
    platform_options,
    queue_option,
    ready_file_option,
    rewrite_option,
    run_command,
    spec_store_of,
    temporal_options,
)
from funcatron_wf.cli_containers import COMMANDS as CONTAINER_COMMANDS
from funcatron_wf.cli_deploy import COMMANDS as DEPLOY_COMMANDS
from funcatron_wf.cli_inspect import COMMANDS as INSPECT_COMMANDS
from funcatron_wf.engine.errors import FuncatronError
from funcatron_wf.engine.settings import split_host_port
from funcatron_wf.workers.log_context import configure_logging


def traced(service_name: str) -> None:
    """This process's spans, when the OTEL_* environment asks for traces."""
    from funcatron_wf.engine.tracing import configure_tracing

    try:
        configure_tracing(service_name)
    except FuncatronError as err:
        raise click.ClickException(str(err)) from err


@click.group()
@click.version_option(__version__, prog_name="funcatron-wf")
def main() -> None:
    """funcatron-wf: OpenAPI endpoints served by plain functions, on Temporal."""


for command in [
    *DEPLOY_COMMANDS,
    *INSPECT_COMMANDS,
    *CAPTURE_COMMANDS,
    *CONTAINER_COMMANDS,
    *CLUSTER_COMMANDS,
]:
    main.add_command(command)


def run() -> None:
    """The `funcatron-wf` command: click's main, ended on every path (an
    error's too) without the interpreter's teardown, which the Temporal SDK's
    threads can crash after the answer is out (exit_without_teardown)."""
    try:
        code = main.main(standalone_mode=False)
    except click.ClickException as err:
        err.show()
        code = err.exit_code
    except click.Abort:
        click.echo("Aborted!", err=True)
        code = 1
    exit_without_teardown(code if isinstance(code, int) else 0)


@main.command()
@click.argument("folders", nargs=-1, required=True, type=click.Path(path_type=Path))
@platform_options
@rewrite_option
@queue_option
@click.option(
    "--module",
    metavar="NAME",
    help="The module bare operationIds (listPets) name functions in, for a spec that does "
    "not say (x-openapi-router-controller / x-funcatron-module); a name that is no Python "
    "identifier, or camelCase, also finds its snake_case function.",
)
@click.option(
    "--no-front",
    is_flag=True,
    help="No nginx front: requests run through Temporal (`invoke`, the testing fixture).",
)
@temporal_options
def dev(
    folders: tuple[Path, ...],
    rewrites: tuple[str, ...],
    queues: tuple[str, ...],
    module: str | None,
    no_front: bool,
    **flags: Any,
) -> None:
    """Serve Func FOLDERS: Temporal, Tron and Runner workers and the nginx front.

    Each folder holds an OpenAPI file (openapi.yaml or swagger.yaml) and the
    Python modules its operationIds name (module.function). Prints the
    front's URL and the Temporal UI's; Ctrl-C stops everything it started.
    """
    from funcatron_wf.deploy.dev import run_dev

    os.environ.setdefault("FUNCATRON_LOG_FORMAT", "text")  # dev's workers too: readable lines
    settings = command_settings(spec_rewrite="\n".join(rewrites) if rewrites else None, **flags)
    configure_logging(logging.WARNING, settings.log_format)
    run_command(
        run_dev(
            settings,
            list(folders),
            queues=list(queues),
            module=module,
            front=not no_front,
            say=lambda line: click.echo(line),
        )
    )
    exit_without_teardown(0)


@main.command()
@click.argument("name")
@click.option(
    "--lang",
    "language",
    type=click.Choice(["python", "js", "java", "scala", "clojure"]),
    default="python",
    show_default=True,
    help="The Func's language.",
)
@click.option(
    "--dir",
    "directory",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("."),
    help="Where to create the folder NAME (default: here).",
)
def new(name: str, language: str, directory: Path) -> None:
    """Create a Func folder NAME: an OpenAPI 3.1 spec with a GET and a POST,
    their functions, a unit test and a README, ready for `dev`."""
    from funcatron_wf.scaffold import scaffold

    try:
        folder = scaffold(name, directory, language)
    except FuncatronError as err:
        raise click.ClickException(str(err)) from err
    unit_tests = (
        f"`cd {folder} && npm install && npm test`" if language == "js" else f"`pytest {folder}`"
    )
    click.echo(
        f"created {folder}: serve it with `funcatron-wf dev {folder}`, test it with {unit_tests}"
    )


@main.command()
@click.argument("method")
@click.argument("path")
@click.option("--host", required=True, help="Host the request is for (the spec's host/servers).")
@click.option("--data", help="JSON request body.")
@click.option(
    "--header", "headers", multiple=True, metavar="NAME:VALUE", help="Extra header (repeatable)."
)
@temporal_options
def invoke(
    method: str, path: str, host: str, data: str | None, headers: tuple[str, ...], **flags: Any
) -> None:
    """Run one request through Temporal (no HTTP) and print the response.

    Exits 0 for a status below 400, 1 otherwise. Example:

        funcatron-wf invoke GET /v1/greet/Ada --host hello.local
    """
    from funcatron_wf.engine.invoking import build_request, invoke_request

    header_map = {}
    for header in headers:
        name, sep, value = header.partition(":")
        if not sep or not name.strip():
            raise click.BadParameter(f"{header!r} is not NAME:VALUE", param_hint="--header")
        header_map[name.strip().lower()] = value.strip()
    if data is not None:
        try:
            json.loads(data)
        except ValueError as err:
            raise click.BadParameter(f"not valid JSON: {err}", param_hint="--data") from err
    request = build_request(method, path, host=host, json_text=data, headers=header_map)
    settings = command_settings(**flags)
    traced("funcatron-invoke")
    response = run_command(invoke_request(settings, request))
    click.echo(f"HTTP {response.status}")
    for name, value in sorted(response.headers.items()):
        click.echo(f"{name}: {value}")
    click.echo(f"x-request-id: {response.request_id}")
    click.echo("")
    if response.body is not None:
        raw = response.body.raw()
        click.echo(
            raw.decode("utf-8", errors="replace") if response.body.encoding != "base64" else raw
        )
    exit_without_teardown(0 if response.status < 400 else 1)


@main.command()
@ready_file_option
@blob_dir_option
@bundle_store_option
@click.option(
    "--front-door",
    metavar="HOST:PORT",
    help="Also take requests from the HTTP front here, routing them before they start "
    "(the front's FUNCATRON_TRON_HTTP).",
)
@temporal_options
def tron(ready_file: Path | None, front_door: str | None, **flags: Any) -> None:
    """Run a Tron worker: request workflows, routing and the Registry."""
    from funcatron_wf.engine.temporal_client import connect_with
    from funcatron_wf.workers.tron import run_tron

    settings = command_settings(**flags)
    configure_logging(logging.INFO, settings.log_format)
    traced("funcatron-tron")
    try:
        door = split_host_port(front_door) if front_door is not None else None
    except ValueError as err:
        raise click.BadParameter(str(err), param_hint="--front-door") from err

    async def serve() -> None:
        client = await connect_with(settings)
        await run_tron(
            client,
            blobs=blob_store_of(settings),
            specs=spec_store_of(settings),
            ready_file=ready_file,
            front_door=door,
            summaries=settings.request_summaries,
            search_attributes=settings.search_attributes,
            blob_retention=settings.blob_retention,
        )

    run_command(serve())
    exit_without_teardown(0)


@main.command()
@click.option(
    "--runtime-dir",
    type=click.Path(path_type=Path),
    default=Path("/tmp/funcatron-front"),
    show_default=True,
    help="Where nginx keeps its config, logs and temp files.",
)
@click.option(
    "--front-door",
    metavar="HOST:PORT[,HOST:PORT...]",
    help="The Trons' front doors it offers requests to (env FUNCATRON_TRON_HTTP); "
    "without one, every request starts through Temporal's HTTP API.",
)
@click.option("--port", type=int, help="Port to listen on (env FUNCATRON_PORT; default 8080).")
@click.option("--listen", help="Address to listen on (env FUNCATRON_LISTEN; default 127.0.0.1).")
@click.option(
    "--temporal-http",
    metavar="HOST:PORT",
    help="Temporal's HTTP API (env FUNCATRON_TEMPORAL_HTTP).",
)
@blob_dir_option
@temporal_options
def front(runtime_dir: Path, front_door: str | None, **flags: Any) -> None:
    """Run the nginx HTTP front in the foreground (what the front's container
    runs; `dev` and `up` start it themselves)."""
    from funcatron_wf.engine.blobs import BlobStore
    from funcatron_wf.sources.http_front import nginx_front

    settings = command_settings(tron_http=front_door, **flags)
    if settings.blob_dir is None:
        raise click.UsageError("give the blob store the Trons and Runners share: --blob-dir")
    runtime_dir.mkdir(parents=True, exist_ok=True)
    runtime_dir.chmod(0o755)  # nginx workers drop root and use its temp dirs
    BlobStore(settings.blob_dir).prepare()
    try:
        nginx = nginx_front(settings, runtime_dir)
    except FuncatronError as err:
        raise click.ClickException(str(err)) from err
    click.echo(f"nginx on {settings.listen}:{settings.port}, config {runtime_dir / 'nginx.conf'}")
    sys.stdout.flush()
    os.execv(nginx.argv[0], nginx.argv)  # nginx itself takes the signals from here on


@main.command()
@click.argument("folders", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--bundle",
    "bundles",
    multiple=True,
    metavar="SHA",
    help="Serve this deployed bundle, fetched from --bundle-store and verified (repeatable).",
)
@click.option(
    "--path",
    "paths",
    multiple=True,
    type=click.Path(path_type=Path),
    help="Put this folder first on sys.path (a Func's own installed requirements).",
)
@click.option(
    "--standby",
    is_flag=True,
    help="Start, connect and wait: the folders come as one JSON line on stdin "
    '({"folders": [...], "paths": [...]}); `dev` keeps one for a fast reload.',
)
@click.option(
    "--tolerate-broken",
    is_flag=True,
    help="An operation whose code does not load answers 500 saying why (`dev` reloads).",
)
@click.option(
    "--concurrency",
    type=click.IntRange(min=1),
    help="Calls each Func takes at once (default: its spec's x-funcatron-scale concurrency).",
)
@ready_file_option
@blob_dir_option
@bundle_store_option
@temporal_options
def runner(
    folders: tuple[Path, ...],
    bundles: tuple[str, ...],
    paths: tuple[Path, ...],
    standby: bool,
    tolerate_broken: bool,
    concurrency: int | None,
    ready_file: Path | None,
    **flags: Any,
) -> None:
    """Run a Runner worker serving the task queues of Func FOLDERS (or --bundle SHAs).

    Each version must be registered already (`dev` registers its folders
    first, `deploy` its bundles): the Runner takes the Func's spec as
    registered.
    """
    from funcatron_wf.deploy.bundle_store import DirectoryBundleStore
    from funcatron_wf.engine.temporal_client import connect_with
    from funcatron_wf.workers.runner import BodyStore, FuncSource, run_runner

    settings = command_settings(**flags)
    configure_logging(logging.INFO, settings.log_format)
    traced("funcatron-runner")
    if not folders and not bundles and not standby:
        raise click.UsageError("give Func FOLDERS or --bundle SHA")
    for folder in folders:
        if not folder.is_dir():
            raise click.BadParameter(f"{folder} is not a folder", param_hint="FOLDERS")
    sources = [FuncSource.of_folder(folder) for folder in folders]
    if bundles:
        if settings.bundle_store is None:
            raise click.UsageError("--bundle needs --bundle-store (FUNCATRON_BUNDLE_STORE)")
        store = DirectoryBundleStore(settings.bundle_store, max_size=settings.max_bundle_size)
        for sha in bundles:
            try:
                bundle = store.fetch(sha)
            except FuncatronError as err:
                raise click.ClickException(str(err)) from err
            sources.append(
                FuncSource(bundle.func_dir, bundle.manifest.name, sha, bundle.vendor_dir)
            )

    async def serve() -> None:
        client = await connect_with(settings)
        extra_paths = list(paths)
        if standby:  # warm: imported and connected; now wait for what to serve
            if ready_file is not None:
                ready_file.with_suffix(".standby").write_text("standby\n")
            order = json.loads(await asyncio.to_thread(sys.stdin.readline) or "{}")
            sources.extend(FuncSource.of_folder(Path(f)) for f in order.get("folders", []))
            extra_paths += [Path(p) for p in order.get("paths", [])]
        for path in reversed(extra_paths):
            sys.path.insert(0, str(path))
        bodies = BodyStore(blob_store_of(settings), settings.inline_body_max)
        await run_runner(
            client,
            sources,
            bodies=bodies,
            specs=spec_store_of(settings),
            ready_file=ready_file,
            broken_ok=tolerate_broken,
            concurrency=concurrency,
            door_host=settings.runner_listen if settings.fast_path else None,
            summaries=settings.request_summaries,
        )

    run_command(serve())
    exit_without_teardown(0)


@main.group()
def source() -> None:
    """Run an event source: each event becomes a request."""


@source.command("queue")
@click.option("--amqp", "amqp_url", metavar="URL", help="The broker (env FUNCATRON_AMQP_URL).")
@click.option(
    "--queue", "amqp_queue", metavar="NAME", help="The durable queue (env FUNCATRON_AMQP_QUEUE)."
)
@click.option(
    "--prefetch",
    "amqp_prefetch",
    type=int,
    help="Messages worked on at once (env FUNCATRON_AMQP_PREFETCH; default 32).",
)
@click.option(
    "--operation",
    "amqp_operation",
    metavar="FUNC:OPERATION_ID",
    help="Bind the queue to one operation: its messages need no x-funcatron-* route headers "
    "(env FUNCATRON_AMQP_OPERATION; or x-funcatron-queue on the operation).",
)
@click.option(
    "--front-door",
    "tron_http",
    metavar="HOST:PORT",
    help="A Tron's front door to offer each request to first, as the nginx front does "
    "(env FUNCATRON_TRON_HTTP): it routes and starts it with eager start.",
)
@ready_file_option
@blob_dir_option
@temporal_options
def queue_source(ready_file: Path | None, **flags: Any) -> None:
    """Consume a RabbitMQ queue: each message becomes a request.

    A message routes by its x-funcatron-host, x-funcatron-method and
    x-funcatron-path headers, or to the operation the queue is bound to.
    With reply_to, the response is published there (same correlation_id;
    status in x-funcatron-status). A message that cannot be routed or
    validated goes to the exchange funcatron.dead (queue NAME.dead), with
    x-funcatron-error saying why.
    """
    from funcatron_wf.engine.temporal_client import connect_with
    from funcatron_wf.sources.queue.bindings import parse_operation
    from funcatron_wf.sources.queue.source import QueueSourceConfig, serve_queue_source

    settings = command_settings(**flags)
    configure_logging(logging.INFO, settings.log_format)
    traced("funcatron-queue-source")
    if not settings.amqp_url:
        raise click.UsageError("give the broker: --amqp URL (or FUNCATRON_AMQP_URL)")
    if not settings.amqp_queue:
        raise click.UsageError("give the queue: --queue NAME (or FUNCATRON_AMQP_QUEUE)")
    if settings.amqp_operation:
        try:
            parse_operation(settings.amqp_operation)
        except ValueError as err:
            raise click.BadParameter(str(err), param_hint="--operation") from err
    config = QueueSourceConfig(
        amqp_url=settings.amqp_url,
        queue=settings.amqp_queue,
        prefetch=settings.amqp_prefetch,
        operation=settings.amqp_operation,
        blobs=blob_store_of(settings),
        inline_body_max=settings.inline_body_max,
        front_doors=settings.front_doors,
        summaries=settings.request_summaries,
    )

    async def serve() -> None:
        client = await connect_with(settings)
        await serve_queue_source(client, config, ready_file=ready_file)

    run_command(serve())
    exit_without_teardown(0)
