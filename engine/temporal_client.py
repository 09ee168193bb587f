"""Connecting to Temporal, with an error that says where and what to do."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from temporalio.client import Client
from temporalio.service import TLSConfig

from funcatron_wf.engine.errors import FuncatronError
from funcatron_wf.engine.settings import Settings
from funcatron_wf.engine.tracing import client_interceptors


class TemporalUnreachable(FuncatronError):
    pass


@dataclass(frozen=True)
class TemporalSecurity:
    """How to reach a production cluster: TLS (and mTLS), or an API key."""

    tls: TLSConfig | bool = False
    api_key: str | None = None

    @classmethod
    def of(cls, settings: Settings) -> TemporalSecurity:
        if not settings.temporal_uses_tls:
            return cls()

        def read(path: Path | None) -> bytes | None:
            return None if path is None else path.read_bytes()

        return cls(
            tls=TLSConfig(
                server_root_ca_cert=read(settings.temporal_tls_ca),
                client_cert=read(settings.temporal_tls_cert),
                client_private_key=read(settings.temporal_tls_key),
                domain=settings.temporal_tls_server_name,
            ),
            api_key=settings.temporal_api_key,
        )


async def connect(
    address: str, namespace: str = "default", *, security: TemporalSecurity | None = None
) -> Client:
    security = security or TemporalSecurity()
    try:
        return await Client.connect(
            address,
            namespace=namespace,
            tls=security.tls,
            api_key=security.api_key,
            interceptors=client_interceptors(),  # tracing's, when on (engine/tracing.py)
        )
    except RuntimeError as err:
        raise TemporalUnreachable(
            f"cannot reach Temporal at {address}"
            f"{' with TLS' if security.tls else ''}: {err}; start `funcatron-wf dev` "
            "or point --temporal at a running cluster (and its FUNCATRON_TEMPORAL_TLS_* settings)"
        ) from err


async def connect_with(settings: Settings) -> Client:
    """The Temporal client a process's settings describe (address, namespace, TLS)."""
    return await connect(
        settings.temporal_address, settings.namespace, security=TemporalSecurity.of(settings)
    )


async def connect_when_ready(
    address: str,
    namespace: str = "default",
    *,
    timeout: float = 60.0,
    still_starting: Callable[[], bool] = lambda: True,
) -> Client:
    """Connect to a server we just started: its port opens before its frontend
    is healthy ("Frontend is not healthy yet"), so retry until it answers, the
    deadline passes, or ``still_starting`` says the server process is gone."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return await connect(address, namespace)
        except TemporalUnreachable:
            if time.monotonic() > deadline or not still_starting():
                raise
        await asyncio.sleep(0.2)
