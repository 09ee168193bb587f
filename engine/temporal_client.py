"""Connecting to Temporal, with an error that says where and what to do."""

from __future__ import annotations

from temporalio.client import Client

from funcatron_wf.engine.errors import FuncatronError


class TemporalUnreachable(FuncatronError):
    pass


async def connect(address: str, namespace: str = "default") -> Client:
    try:
        return await Client.connect(address, namespace=namespace)
    except RuntimeError as err:
        raise TemporalUnreachable(
            f"cannot reach Temporal at {address}: {err}; start `funcatron-wf dev` "
            "or point --temporal at a running cluster"
        ) from err
