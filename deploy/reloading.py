"""Reload on save for `funcatron-wf dev`: the endpoint is live on save.

A change in a Func folder makes a new version of that Func (its SHA moves):
its spec and chains are read again (a mistake is printed and the old
version keeps serving), a changed ``requirements.txt`` is installed into
the Func's own environment, the new version gets a Runner of its own, and
once that Runner polls the version is registered live: new and changed
operations serve, removed ones answer 404. Requests in flight finish on the
version they started with: the previous Runner is stopped with SIGTERM,
which drains what it holds.

Starting a Python Runner takes seconds (imports, connecting); so dev keeps
one *standby* Runner warm (`runner --standby`), which gets the folder on
stdin and only imports the Func's own code. Code that does not load does
not stop the new Runner (`--tolerate-broken`): the error is printed with
its file and line, and a request needing it gets a 500 saying so.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import logging
import shutil
import time
from pathlib import Path

import watchfiles
from temporalio.client import Client

from funcatron_wf.deploy.bundles import vendor_requirements
from funcatron_wf.deploy.processes import ManagedProcess, wait_until
from funcatron_wf.deploy.stack import LocalStack, Say, worker_command
from funcatron_wf.engine.contracts import FuncChange, FuncSettings, Route
from funcatron_wf.engine.errors import FuncatronError
from funcatron_wf.engine.registry_client import add_version, change_func
from funcatron_wf.engine.spec_rewriting import SpecRewrite
from funcatron_wf.workers.func_folder import FuncFolder, link_chains

logger = logging.getLogger(__name__)
STANDBY = "runner-standby"
# seconds a replaced Runner keeps polling: Trons may route to its version until they refresh
RETIRE_AFTER = 5.0


def func_environment(folder: FuncFolder, runtime_dir: Path, say: Say) -> Path | None:
    """The Func's own environment: its requirements.txt installed into a
    folder of its own (reused while the file is unchanged); None without one."""
    requirements = folder.path / "requirements.txt"
    if not requirements.is_file():
        return None
    digest = hashlib.sha256(requirements.read_bytes()).hexdigest()[:12]
    target = runtime_dir / "envs" / f"{folder.name}-{digest}"
    if not target.is_dir():
        partial = target.with_name(target.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)  # what a failed install left
        vendor_requirements(requirements, partial, say=say)
        partial.rename(target)
    return target


def _route_key(route: Route) -> str:
    return f"{route.method} {route.host or '*'}{route.base_path}{route.path_template}"


class Reloader:
    def __init__(
        self,
        stack: LocalStack,
        client: Client,
        folders: list[FuncFolder],
        settings: FuncSettings,
        *,
        rewrites: list[SpecRewrite],
        module: str | None = None,
    ) -> None:
        self.module = module
        self.stack = stack
        self.client = client
        self.folders = {folder.name: folder for folder in folders}
        self.func_settings = settings
        self.rewrites = rewrites
        self.runners: dict[str, ManagedProcess] = {}  # Func -> its own Runner, once reloaded
        self.standby: ManagedProcess | None = None
        self._numbers = itertools.count(1)
        self.standby_ready = stack.runtime_dir / "standby.ready"
        stack.expendable.add(STANDBY)

    def _runner_argv(self, ready_file: Path, *extra: str) -> list[str]:
        return worker_command(
            "runner", self.stack.settings, ready_file, "--tolerate-broken", *extra
        )

    def start_standby(self) -> None:
        """A warm Runner waiting for its folder (not waited for: it gets ready meanwhile)."""
        ready_file = self.stack.runtime_dir / f"{STANDBY}-{time.monotonic_ns()}.ready"
        self.standby = self.stack.start_process(
            ManagedProcess(STANDBY, self._runner_argv(ready_file, "--standby"), stdin_pipe=True)
        )
        self.standby_ready = ready_file

    def _take_standby(self, name: str, folder: FuncFolder, env: Path | None) -> ManagedProcess:
        """The standby, told to serve ``folder`` and renamed as that Func's
        Runner (a plain Runner when no standby is warm), once it polls."""
        standby, ready_file = self.standby, self.standby_ready
        self.standby = None
        paths = [f"--path={env}"] if env else []
        argv = self._runner_argv(ready_file, str(folder.path), *paths)
        self.stack.expendable.add(name)  # until it polls: its failure is the reload's
        warm = ready_file.with_suffix(".standby")
        if standby is not None:
            # still warming up (a save right after the last): sooner than a fresh Runner
            deadline = time.monotonic() + 15
            while not warm.exists() and standby.exit_code() is None and time.monotonic() < deadline:
                time.sleep(0.02)
        if standby is not None and standby.exit_code() is None and warm.exists():
            standby.send(
                json.dumps({"folders": [str(folder.path)], "paths": [str(env)] if env else []})
            )
            process, process.name = standby, name
            process.argv = argv  # a restart runs it as a plain Runner of this folder
        else:
            if standby is not None:
                self.stack.forget(standby)
                standby.stop()
            process = self.stack.start_process(ManagedProcess(name, argv))
        try:
            wait_until(ready_file.exists, process=process, what="ready", timeout=60)
        except FuncatronError:
            self.stack.forget(process)
            process.stop()
            raise
        finally:
            self.stack.expendable.discard(name)
        self.stack.restartable[name] = ready_file
        return process

    async def watch(self) -> None:
        """Reload each folder that changes, until cancelled."""
        paths = [str(folder.path) for folder in self.folders.values()]
        async for changes in watchfiles.awatch(*paths, debounce=50, step=20, recursive=True):
            changed = {Path(path) for _, path in changes}
            for name, folder in list(self.folders.items()):
                if any(
                    path.is_relative_to(folder.path) and "__pycache__" not in path.parts
                    for path in changed
                ):
                    await self.reload(name)

    async def reload(self, name: str) -> None:
        old = self.folders[name]
        started = time.monotonic()
        try:
            others = [folder for other, folder in self.folders.items() if other != name]
            fresh = FuncFolder.load(old.path, self.rewrites, module=self.module)
            new = link_chains([fresh, *others])[0]
        except FuncatronError as err:
            self.stack.say(f"not reloaded: {err}")
            return
        if new.sha == old.sha:
            return
        try:
            env = await asyncio.to_thread(
                func_environment, new, self.stack.runtime_dir, self.stack.say
            )
        except FuncatronError as err:
            self.stack.say(f"not reloaded: {err}")
            return
        # a name of its own, even for a version seen before (an undo)
        runner_name = f"runner-{name}-{new.sha[:12]}-{next(self._numbers)}"
        try:
            # pending first: the new Runner reads its spec from the Registry
            await add_version(self.client, new.registration(self.func_settings))
            process = await asyncio.to_thread(self._take_standby, runner_name, new, env)
            await change_func(self.client, "activate", FuncChange(name=name, sha=new.sha))
        except FuncatronError as err:
            self.stack.say(f"not reloaded: {err}")
            if self.standby is None:
                self.start_standby()
            return
        self.folders[name] = new
        self.stack.say(self._describe(old, new, time.monotonic() - started))
        previous = self.runners.get(name)
        self.runners[name] = process
        self.start_standby()
        if previous is not None:  # once no Tron can still route to its version
            self.stack.retire(previous, after=RETIRE_AFTER)

    @staticmethod
    def _describe(old: FuncFolder, new: FuncFolder, took: float) -> str:
        before = {_route_key(r): r for r in old.routes}
        after = {_route_key(r): r for r in new.routes}
        changes = [f"+{key}" for key in after.keys() - before.keys()]
        changes += [f"-{key}" for key in before.keys() - after.keys()]
        return f"reloaded {new.name} ({old.sha[:12]} -> {new.sha[:12]}) in {took:.2f} s" + (
            f": {', '.join(sorted(changes))}" if changes else ""
        )
