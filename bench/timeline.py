"""Where a request's time goes, from Temporal's own event timestamps.

    .venv/bin/python bench/timeline.py HTTP_API_ADDRESS REQUEST_ID [REQUEST_ID ...]

Prints the median time between consecutive history events of the given
requests (workflow ids), e.g. how long the first workflow task ran on the
Tron, or how long an activity task waited for a Runner.
"""

from __future__ import annotations

import datetime
import json
import statistics
import sys
import urllib.request


def event_times(http_api: str, request_id: str) -> list[tuple[str, float]]:
    url = f"http://{http_api}/api/v1/namespaces/default/workflows/{request_id}/history"
    with urllib.request.urlopen(url) as reply:
        events = json.load(reply)["history"]["events"]
    times = []
    for event in events:
        stamp = event["eventTime"].rstrip("Z")
        whole, _, fraction = stamp.partition(".")
        moment = datetime.datetime.fromisoformat(whole).timestamp() + float(
            "0." + (fraction or "0")
        )
        times.append((event["eventType"].removeprefix("EVENT_TYPE_"), moment))
    return times


def main() -> None:
    http_api, request_ids = sys.argv[1], sys.argv[2:]
    # Per request, the time spent in each kind of step (summed when a step
    # happens more than once, e.g. two workflow tasks); then medians.
    phases: dict[str, list[float]] = {}
    totals = []
    for request_id in request_ids:
        times = event_times(http_api, request_id)
        totals.append((times[-1][1] - times[0][1]) * 1000)
        spent: dict[str, float] = {}
        for (before, at), (after, until) in zip(times, times[1:], strict=False):
            step = f"{before} -> {after}"
            spent[step] = spent.get(step, 0.0) + (until - at) * 1000
        for step, milliseconds in spent.items():
            phases.setdefault(step, []).append(milliseconds)
    for step, values in sorted(phases.items(), key=lambda item: -statistics.median(item[1])):
        share = f"{len(values)}/{len(totals)}"
        print(f"{statistics.median(values):8.2f} ms  {step}  (in {share} requests)")
    print(f"{statistics.median(totals):8.2f} ms  total on the server (median of {len(totals)})")


if __name__ == "__main__":
    main()
