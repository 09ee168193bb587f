"""A request as its workflow's history tells it (`funcatron-wf show`): the
request, the routing decision, each step (routing, the operation or a
chain's steps, forwards) with its times and attempts, and the response.
Read-only: nothing here changes a workflow."""

from __future__ import annotations

import datetime
import json
from dataclasses import dataclass, field
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client, WorkflowHistory
from temporalio.converter import PayloadConverter
from temporalio.service import RPCError

from funcatron_wf.engine.contracts import (
    FAST_REQUEST_WORKFLOW_TYPE,
    ROUTE_ACTIVITY,
    ROUTED_REQUEST_WORKFLOW_TYPE,
    RequestEnvelope,
    ResponseEnvelope,
    RouteDecision,
    RoutedRequest,
)
from funcatron_wf.engine.errors import FuncatronError


@dataclass
class Step:
    """One activity of the request's workflow."""

    name: str  # the operation (activity type), or the routing step
    summary: str  # e.g. 'checkout: step quote (shop:pricing.quote)'
    task_queue: str
    scheduled: datetime.datetime
    started: datetime.datetime | None = None
    closed: datetime.datetime | None = None
    attempt: int = 1
    outcome: str = "running"  # completed, failed, timed out, canceled, running

    @property
    def took(self) -> float | None:
        return None if self.closed is None else (self.closed - self.scheduled).total_seconds()


@dataclass
class RequestStory:
    request_id: str
    workflow_type: str
    started: datetime.datetime
    closed: datetime.datetime | None
    request: RequestEnvelope | None = None
    decision: RouteDecision | None = None
    response: ResponseEnvelope | None = None
    steps: list[Step] = field(default_factory=list)


def _time(event: HistoryEvent) -> datetime.datetime:
    return event.event_time.ToDatetime(datetime.UTC)


async def fetch_story(client: Client, request_id: str) -> RequestStory:
    """The story of request ``request_id`` from the client's namespace; a
    FuncatronError naming it when there is no such request."""
    try:
        history = await client.get_workflow_handle(request_id).fetch_history()
    except RPCError as err:
        raise FuncatronError(
            f"no request {request_id} in namespace {client.namespace} ({err})"
        ) from err
    return request_story(history, client.data_converter.payload_converter)


def request_story(history: WorkflowHistory, converter: PayloadConverter) -> RequestStory:
    events = list(history.events)
    first = events[0]
    started = first.workflow_execution_started_event_attributes
    workflow_type = started.workflow_type.name
    story = RequestStory(
        request_id=history.workflow_id,
        workflow_type=workflow_type,
        started=_time(first),
        closed=None,
    )
    if started.input.payloads:
        payload = started.input.payloads[0]
        if workflow_type in (ROUTED_REQUEST_WORKFLOW_TYPE, FAST_REQUEST_WORKFLOW_TYPE):
            routed = converter.from_payload(payload, RoutedRequest)
            story.request, story.decision = routed.request, routed.decision
        else:
            story.request = converter.from_payload(payload, RequestEnvelope)
    steps: dict[int, Step] = {}
    for event in events:
        kind = event.event_type
        if kind == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            scheduled = event.activity_task_scheduled_event_attributes
            summary = event.user_metadata.summary
            steps[event.event_id] = Step(
                name=scheduled.activity_type.name,
                summary=converter.from_payload(summary, str) if summary.data else "",
                task_queue=scheduled.task_queue.name,
                scheduled=_time(event),
            )
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            attributes = event.activity_task_started_event_attributes
            step = steps[attributes.scheduled_event_id]
            step.started, step.attempt = _time(event), attributes.attempt
        elif kind in _ACTIVITY_CLOSES:
            attributes = getattr(event, _ACTIVITY_CLOSES[kind][0])
            step = steps[attributes.scheduled_event_id]
            step.closed, step.outcome = _time(event), _ACTIVITY_CLOSES[kind][1]
        elif kind == EventType.EVENT_TYPE_MARKER_RECORDED:  # a local activity
            story.steps.append(_local_step(event, converter, story.started))
        elif kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
            story.closed = _time(event)
            result = event.workflow_execution_completed_event_attributes.result
            if result.payloads:
                story.response = converter.from_payload(result.payloads[0], ResponseEnvelope)
        elif kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
            story.closed = _time(event)
    story.steps += sorted(steps.values(), key=lambda step: step.scheduled)
    return story


def _local_step(
    event: HistoryEvent, converter: PayloadConverter, workflow_started: datetime.datetime
) -> Step:
    """The routing step, or (the fast path) the operation run inside the
    workflow's first task: its name is in the marker's data."""
    marker = event.marker_recorded_event_attributes
    data: dict[str, Any] = {}
    if "data" in marker.details and marker.details["data"].payloads:
        try:
            data = json.loads(marker.details["data"].payloads[0].data)
        except ValueError:
            data = {}
    name = str(data.get("activity_type") or ROUTE_ACTIVITY)
    outcome = "failed" if marker.HasField("failure") else "completed"
    if name == ROUTE_ACTIVITY:
        return Step(name="routing", summary="", task_queue="(local)", scheduled=_time(event),
                    closed=_time(event), outcome=outcome)  # fmt: skip
    summary = event.user_metadata.summary
    return Step(
        name=name,
        summary=converter.from_payload(summary, str) if summary.data else "",
        task_queue="(local, in the workflow task)",
        scheduled=workflow_started,
        closed=_time(event),
        attempt=int(data.get("attempt") or 1),
        outcome=outcome,
    )


_ACTIVITY_CLOSES: dict[Any, tuple[str, str]] = {
    EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED: ("activity_task_completed_event_attributes", "completed"),
    EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED: ("activity_task_failed_event_attributes", "failed"),
    EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT: ("activity_task_timed_out_event_attributes", "timed out"),
    EventType.EVENT_TYPE_ACTIVITY_TASK_CANCELED: ("activity_task_canceled_event_attributes", "canceled"),
}  # fmt: skip
