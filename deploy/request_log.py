"""`dev` prints one line per request as the nginx front serves it (time,
method, host, path, status, duration, request id), read from the front's
JSON access log, and for a 5xx the Temporal UI page of that request."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from funcatron_wf.deploy.stack import Say


def request_line(entry: dict[str, str], ui_url: str | None, namespace: str) -> str:
    clock = entry["time"][11:19]
    duration_ms = float(entry.get("duration") or 0) * 1000
    line = (
        f"{clock} {entry['method']:6} {entry['host']}{entry['path']} -> {entry['status']} "
        f"in {duration_ms:.0f} ms  {entry.get('request_id') or '-'}"
    )
    if entry["status"].startswith("5") and ui_url and entry.get("request_id"):
        line += f"\n         {ui_url}/namespaces/{namespace}/workflows/{entry['request_id']}"
    return line


async def print_requests(
    access_log: Path, say: Say, *, ui_url: str | None, namespace: str, every: float = 0.1
) -> None:
    """Follow the access log (from its end) until cancelled."""
    while not access_log.exists():
        await asyncio.sleep(every)
    with open(access_log, encoding="utf-8", errors="replace") as log:
        log.seek(0, 2)
        pending = ""
        while True:
            chunk = log.read()
            if not chunk:
                await asyncio.sleep(every)
                continue
            pending += chunk
            *lines, pending = pending.split("\n")
            for raw in lines:
                try:
                    say(request_line(json.loads(raw), ui_url, namespace))
                except (ValueError, KeyError):
                    continue  # not one of ours
