"""The contracts: every type and name that crosses a process or a language
boundary, defined once. Read this module to learn what travels between the
parts (DESIGN.md, "Contracts"); it imports nothing else of ours.

- names: task queues, workflow and activity types, error types;
- bodies and the request and response envelopes (every source builds the
  same request envelope; a workflow's result is a response envelope);
- the blob store's reference layout (large bodies travel as references);
- Registry records (a Func version, its routes, its settings);
- the routing decision, the input of a routed request, and the Func call a
  Runner receives;
- the Tron's front door wire protocol, spoken by the nginx front.

The nginx front's Lua gets these values rendered into its config
(``sources/http_front.py``), so no literal is written twice.

Everything here crosses Temporal as JSON. Annotations stay evaluated (no
``from __future__ import annotations``): the SDK resolves a dataclass's type
hints on every decode, and string annotations tripled that cost
(tests/test_payload_types.py).

Temporal's HTTP API turns payloads into plain JSON values and back, which
loses big-integer precision and turns empty arrays into null; so a JSON body
always travels as JSON *text* in ``Body.data`` and is parsed only by the
Func host.
"""

import base64
import hashlib
import json
import re
from dataclasses import dataclass, field, replace
from typing import Any, Literal

# --- names ------------------------------------------------------------------

TRON_TASK_QUEUE = "funcatron.tron"
REGISTRY_WORKFLOW_ID = "funcatron-registry"
REGISTRY_WORKFLOW_TYPE = "Registry"
# Routes itself (a local activity); started when no front door routed the request.
REQUEST_WORKFLOW_TYPE = "RequestWorkflow"
# Started by the Tron's front door with the routing decision as its input.
ROUTED_REQUEST_WORKFLOW_TYPE = "RoutedRequest"
# The fast path: started by a Runner of the routed Func version on that
# version's task queue, the operation a local activity inside its first
# workflow task (workers/runner_door.py).
FAST_REQUEST_WORKFLOW_TYPE = "FastRequest"
ROUTE_ACTIVITY = "funcatron.route"
# Finds where FUNC:operationId runs now (a forward from code); a local activity on the Tron.
RESOLVE_ACTIVITY = "funcatron.resolve"
# A chain's detached step (``reply: false``): a child workflow the request never awaits.
DETACHED_STEP_WORKFLOW_TYPE = "DetachedStep"
# A forward from code may hand a request on this many times; then 508.
MAX_FORWARDS = 8
# Every operation runs as an activity named by its operationId.

# Error types of the ApplicationErrors a Runner raises to the workflow.
FUNC_ERROR = "FuncError"  # a Func's exception, raised only for retryable operations
OPERATION_NOT_FOUND = "OperationNotFound"  # the Runner has no such operation: never retried
HOST_LOST = "HostLost"  # the language host failed, not the Func: retried, as a lost Runner is
# the reply could not be written to the blob store (its disk full): for an
# operation that may run again (x-funcatron-retry), the call is retried, the
# Func with it; for any other, the Runner answers 507 at once
BLOB_STORE_FAILED = "BlobStoreFailed"

# A Runner heartbeats well inside its Func's heartbeat timeout (this by
# default; FUNCATRON_HEARTBEAT_TIMEOUT); one that stops for that long is
# taken for lost, and its call is retried on another Runner.
DEFAULT_HEARTBEAT_TIMEOUT = 5.0

REQUEST_ID_PATTERN = r"[0-9a-f]{32}"


# An HTTP request with this header gets its request id from the key and the
# route, so a retry with the same key is the same request (run once).
IDEMPOTENCY_KEY_HEADER = "idempotency-key"


def idempotent_request_id(key: str, host: str, method: str, path: str) -> str:
    """The request id of an HTTP request carrying ``Idempotency-Key: key``
    (the nginx front computes the same in Lua): SHA-1 over the header's name,
    the key, the lower-cased Host header, the method and the path, one a
    line; its first 32 hex digits."""
    parts = [IDEMPOTENCY_KEY_HEADER, key, host.lower(), method, path]
    return hashlib.sha1("\n".join(parts).encode(), usedforsecurity=False).hexdigest()[:32]


def func_task_queue(name: str, sha: str) -> str:
    """One task queue per Func bundle version, so a new version gets a new pool."""
    return f"funcatron.func.{name}.{sha[:12]}"


def is_request_id(value: str) -> bool:
    """32 lowercase hex: also the workflow id, and the W3C trace id."""
    return re.fullmatch(REQUEST_ID_PATTERN, value) is not None


# --- bodies and envelopes -----------------------------------------------------

BodyEncoding = Literal["json", "text", "base64", "ref"]


@dataclass
class Body:
    """A message body. ``data`` is JSON text (json), text (text), base64
    (base64) or a blob store reference (ref); its media type travels in the
    envelope's ``content-type`` header."""

    encoding: BodyEncoding
    data: str = ""

    @classmethod
    def from_json(cls, value: Any) -> "Body":
        return cls(encoding="json", data=json.dumps(value))

    @classmethod
    def from_text(cls, text: str) -> "Body":
        return cls(encoding="text", data=text)

    @classmethod
    def from_bytes(cls, raw: bytes) -> "Body":
        return cls(encoding="base64", data=base64.b64encode(raw).decode("ascii"))

    @classmethod
    def for_content(cls, raw: bytes, content_type: str) -> "Body":
        """A body as a source received it: JSON text for a JSON media type,
        text for text and forms, base64 otherwise or when it is not UTF-8.
        (The nginx front applies the same rule in Lua.)"""
        media_type = content_type.lower()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            return cls.from_bytes(raw)
        if "json" in media_type:
            return cls(encoding="json", data=text)
        if media_type.startswith("text/") or "x-www-form-urlencoded" in media_type:
            return cls.from_text(text)
        return cls.from_bytes(raw)

    def raw(self) -> bytes:
        """The body's bytes as they travel over HTTP (not for a ``ref``)."""
        if self.encoding == "ref":
            raise ValueError("a ref body's bytes are in the blob store")
        if self.encoding == "base64":
            return base64.b64decode(self.data)
        return self.data.encode("utf-8")


@dataclass
class RequestEnvelope:
    """One request, whatever its source. ``request_id`` is 32 lowercase hex and
    is also the workflow id. ``headers`` have lower-case names; ``query`` maps
    each name to its values. ``reply`` False: the source does not wait (the
    request runs to completion under its id)."""

    request_id: str
    source: str
    host: str
    method: str
    path: str
    query: dict[str, list[str]] | None = None
    headers: dict[str, str] | None = None
    body: Body | None = None
    reply: bool = True
    traceparent: str | None = None
    # Which attempt at running the Func this is: 2 or more when a lost Runner's
    # call (or a retryable operation) runs again. Funcs run at least once.
    attempt: int = 1
    # The source's own id for the request when the request id was derived from
    # it (an AMQP message_id such as "order-42").
    source_id: str | None = None


@dataclass
class Forward:
    """A Func's reply that hands the request on (``funcatron_wf.forward``):
    the workflow calls ``call`` ("FUNC:operationId", or an operationId of the
    same Func) with this body and these parameters, and its reply is the reply."""

    call: str
    body: Body | None = None
    content_type: str | None = None
    args: dict[str, Any] = field(default_factory=dict)


def split_call(call: str, default_func: str) -> tuple[str, str]:
    """'FUNC:operationId' -> (FUNC, operationId); 'operationId' -> (default_func, operationId)."""
    func, sep, operation_id = call.partition(":")
    return (func, operation_id) if sep else (default_func, call)


@dataclass
class FuncRef:
    """Which Func (name and bundle SHA-256) and which operation answered."""

    name: str
    sha: str
    operation: str


@dataclass
class ResponseEnvelope:
    """A request's answer: the result of its workflow, whatever its source."""

    status: int
    request_id: str
    headers: dict[str, str] = field(default_factory=dict)
    body: Body | None = None
    func: FuncRef | None = None
    # Set by a Func that forwards: the workflow calls that operation instead
    # of answering (never sent to a client).
    forward: Forward | None = None


def problem_response(
    request_id: str,
    status: int,
    title: str,
    detail: str | None = None,
    *,
    func: FuncRef | None = None,
    extra: dict[str, Any] | None = None,
) -> ResponseEnvelope:
    """An RFC 9457 problem document carrying the request id, as every error reply is."""
    document: dict[str, Any] = {"type": "about:blank", "title": title, "status": status}
    if detail is not None:
        document["detail"] = detail
    document["request_id"] = request_id
    document.update(extra or {})
    return ResponseEnvelope(
        status=status,
        request_id=request_id,
        headers={"content-type": "application/problem+json"},
        body=Body.from_json(document),
        func=func,
    )


def timed_out_response(
    request_id: str, operation_id: str, timeout: float, *, func: FuncRef | None = None
) -> ResponseEnvelope:
    """The 504 of an operation that did not answer within its timeout."""
    return problem_response(
        request_id,
        504,
        "Gateway Timeout",
        f"{operation_id} did not answer within {timeout:g} s",
        func=func,
    )


# --- the blob store's references ----------------------------------------------

# Bodies above this many bytes travel as blob refs (Temporal's payload limit is 2 MiB).
DEFAULT_INLINE_BODY_MAX = 256 * 1024
REQUEST_BODIES = "requests"  # written by the sources (nginx renames its spooled file in)
RESPONSE_BODIES = "responses"  # written by Runners, streamed out by the sources
BLOB_SUFFIX = ".body"
BLOB_REF_PATTERN = rf"({REQUEST_BODIES}|{RESPONSE_BODIES})/{REQUEST_ID_PATTERN}\{BLOB_SUFFIX}"


def request_body_ref(request_id: str) -> str:
    return f"{REQUEST_BODIES}/{request_id}{BLOB_SUFFIX}"


def response_body_ref(request_id: str) -> str:
    return f"{RESPONSE_BODIES}/{request_id}{BLOB_SUFFIX}"


# --- Registry records ---------------------------------------------------------

DEFAULT_OPERATION_TIMEOUT = 30.0


@dataclass(frozen=True)
class OperationPolicy:
    """How an operation runs, from its ``x-funcatron-*`` extensions."""

    timeout: float = DEFAULT_OPERATION_TIMEOUT  # seconds; then 504
    reply: bool = True  # False: answer 202 at once, run to completion anyway
    retry_attempts: int = 0  # >0: the Func's own exceptions are retried (idempotent ops)


@dataclass(frozen=True)
class Route:
    """One operation of one Func, as registered. ``host`` '' matches any host."""

    host: str
    base_path: str
    method: str
    path_template: str
    operation_id: str
    policy: OperationPolicy = field(default_factory=OperationPolicy)
    queue: str | None = None  # x-funcatron-queue: a queue source bound to this operation
    chain: str | None = None  # x-funcatron-chain: served by this chain, not by code
    # module.operationId when a controller module is named (x-openapi-router-controller,
    # x-funcatron-module, dev --module); None: the operationId is module.function itself
    handler: str | None = None


@dataclass
class FuncSettings:
    """Per-Func settings; routing copies them into each call, so Runners never poll."""

    dev_mode: bool = False  # tracebacks in 500 replies
    validate_responses: bool = False  # a reply that breaks its schema is logged and answered 500
    # seconds without a heartbeat before a Runner is taken for lost (its call retried)
    heartbeat_timeout: float = DEFAULT_HEARTBEAT_TIMEOUT
    log_level: str | None = None  # the Func's log level for its calls (None: the Runner's)
    capture: float = 0.0  # the share of its requests captured (`funcatron-wf capture`)


DEFAULT_CALL_CONCURRENCY = 64  # calls one Runner takes at once (workers/runner.py)


@dataclass(frozen=True)
class ScalePolicy:
    """How a Func version's pool is sized, from its spec's
    ``x-funcatron-scale`` (engine/specs.py): between ``min`` and ``max``
    Runners, enough that no call waits longer than ``target_backlog_age``
    seconds, each Runner taking ``concurrency`` calls at once, at most
    ``rate_limit`` calls a second for the version; a pool shrinks only
    after ``scale_down_after`` seconds of wanting fewer."""

    min: int = 1
    max: int = 10
    target_backlog_age: float = 1.0
    concurrency: int = DEFAULT_CALL_CONCURRENCY
    rate_limit: float | None = None
    scale_down_after: float = 60.0


@dataclass
class FuncTarget:
    """Where an operation runs: the Func version's task queue, and its settings."""

    name: str
    sha: str
    task_queue: str
    settings: FuncSettings = field(default_factory=FuncSettings)


@dataclass
class OperationTarget:
    """Where and how one operation runs now: its Func version, and the method
    and path a call to it is made with (a chain step's or a forward's)."""

    target: FuncTarget
    operation_id: str
    method: str
    base_path: str
    path_template: str
    policy: OperationPolicy = field(default_factory=OperationPolicy)


@dataclass
class ChainStep:
    """One step of a chain plan (chains/ compiles NAME.chain.yaml into these).
    Expressions are JMESPath over {request, body, steps}. ``resolved`` is
    filled by the routing step when the chain starts (its version pinned)."""

    name: str
    func: str  # the Func whose operation it calls
    operation_id: str
    line: int = 0  # where the step is declared in its chain file
    body: str | None = None  # default: the previous step's output
    args: dict[str, str] | None = None  # default: the chain request's parameters
    when: str | None = None  # false: the step is skipped
    reply: bool = True  # False: detached, started and never awaited
    timeout: float | None = None  # default: the operation's x-funcatron-timeout
    retry_attempts: int | None = None  # default: the operation's x-funcatron-retry
    resolved: OperationTarget | None = None

    @property
    def call(self) -> str:
        return f"{self.func}:{self.operation_id}"


@dataclass
class ChainStage:
    """One entry of a chain's ``steps``: one step, or parallel branches."""

    steps: list[ChainStep]
    parallel: bool = False


@dataclass
class ChainPlan:
    """A compiled chain: what the request workflow runs for an operation
    marked ``x-funcatron-chain``."""

    name: str
    source: str  # the chain file, for messages
    stages: list[ChainStage] = field(default_factory=list)
    result: str | None = None  # JMESPath; default: the last step's reply

    def steps(self) -> list[ChainStep]:
        return [step for stage in self.stages for step in stage.steps]


# Where registered specs live in the bundle store: specs/<SHA-256 of the spec's JSON>.json
SPEC_REF_PATTERN = r"specs/[0-9a-f]{64}\.json"


@dataclass
class RegisteredFunc:
    """A Func version in the Registry: its routes, the task queue of its
    Runners, and its spec as registered (rewritten, in OpenAPI 3 form), which
    the Tron validates requests against and the Runner checks replies with:
    inline in ``openapi`` (``dev``), or in the bundle store under
    ``spec_ref`` (a deploy), so the Registry stays small."""

    name: str
    sha: str
    task_queue: str
    routes: list[Route] = field(default_factory=list)
    settings: FuncSettings = field(default_factory=FuncSettings)
    openapi: dict[str, Any] = field(default_factory=dict)
    chains: list[ChainPlan] = field(default_factory=list)
    spec_ref: str | None = None
    deployed_at: str = ""  # ISO 8601, UTC
    deployed_by: str = ""  # user@host, or what deployed it
    stage: str = ""  # the stage whose spec rewrites were applied
    scale: ScalePolicy = field(default_factory=ScalePolicy)  # x-funcatron-scale

    def longest_call(self) -> float:
        """Seconds its longest call may take (its operations' timeouts): how
        long a Runner stopped by a scale-down drains, so none is cut short."""
        return max((route.policy.timeout for route in self.routes), default=0.0) or (
            DEFAULT_OPERATION_TIMEOUT
        )


@dataclass
class Canary:
    """A second version of a Func taking ``percent`` of its requests."""

    func: RegisteredFunc
    percent: float


@dataclass
class RunnerDoor:
    """A Runner's door for the fast path (workers/runner_door.py): where it
    listens, the task queues (Func versions) it serves, when it last said so.
    A Runner opens it when it starts, renews it while it runs and closes it
    when it stops; one that is not renewed expires (a Runner killed)."""

    address: str  # HOST:PORT
    task_queues: list[str]
    renewed_at: str = ""  # ISO 8601, UTC; set by the Registry


@dataclass
class RegistrySnapshot:
    """Everything routing needs: the live version of every Func and the
    canaries; ``generation`` grows with every change."""

    generation: int = 0
    funcs: list[RegisteredFunc] = field(default_factory=list)
    canaries: list[Canary] = field(default_factory=list)
    doors: list[RunnerDoor] = field(default_factory=list)


@dataclass
class PoolSize:
    """The autoscaler's last decision for one version's pool, and why."""

    replicas: int
    reason: str = ""
    decided_at: str = ""  # ISO 8601, UTC


@dataclass
class Deployment:
    """One Func in the Registry: every version deployed (oldest first), the
    live one, an optional canary, and how many Runners each serving version
    gets. A version added but not yet live or canary is pending: its pool
    starts, and the deploy switches to it once the pool polls."""

    name: str
    versions: list[RegisteredFunc] = field(default_factory=list)
    live: str | None = None  # SHA
    canary: str | None = None  # SHA
    canary_percent: float = 0.0
    pending: str | None = None  # SHA
    replicas: int = 1  # a new pool's size, before the autoscaler decides one
    log_level: str | None = None  # `funcatron-wf log-level`: travels with each request
    capture: float = 0.0  # `funcatron-wf capture`: the share of requests captured
    # `funcatron-wf scale`: bounds over the spec's x-funcatron-scale (N pins both)
    scale_min: int | None = None
    scale_max: int | None = None
    sizes: dict[str, PoolSize] = field(default_factory=dict)  # SHA -> the autoscaler's
    # `scale --concurrency/--rate-limit`: over the spec's (None: the spec's)
    concurrency: int | None = None
    rate_limit: float | None = None

    def policy(self, version: RegisteredFunc) -> ScalePolicy:
        """The version's x-funcatron-scale, within the bounds and with the
        limits `scale` set."""
        low = version.scale.min if self.scale_min is None else self.scale_min
        high = version.scale.max if self.scale_max is None else self.scale_max
        return replace(
            version.scale,
            min=min(low, high),
            max=max(high, 0),
            concurrency=self.concurrency or version.scale.concurrency,
            rate_limit=version.scale.rate_limit if self.rate_limit is None else self.rate_limit,
        )

    def pool_size(self, version: RegisteredFunc) -> int:
        """How many Runners the version's pool has now: the autoscaler's
        decision (a new pool: ``replicas``) within the bounds; a pending
        version gets one at least, so the deploy that waits for it goes on."""
        policy = self.policy(version)
        decided = self.sizes.get(version.sha)
        size = decided.replicas if decided is not None else self.replicas
        size = min(max(size, policy.min), policy.max)
        return max(size, 1) if version.sha == self.pending else size

    def version(self, sha: str | None) -> RegisteredFunc | None:
        return next((v for v in self.versions if sha is not None and v.sha == sha), None)

    def before_live(self) -> str | None:
        """The version deployed before the live one (what a rollback goes back to)."""
        shas = [version.sha for version in self.versions]
        if self.live not in shas or shas.index(self.live) == 0:
            return None
        return shas[shas.index(self.live) - 1]

    def serving(self) -> list[RegisteredFunc]:
        """The versions that need a pool: live, canary and pending."""
        shas = {self.live, self.canary, self.pending} - {None}
        return [version for version in self.versions if version.sha in shas]


@dataclass
class FuncChange:
    """The argument of the Registry's changes to one Func (activate, promote,
    rollback, undeploy, scale, set_limits): which Func, and what the change needs."""

    name: str
    sha: str | None = None  # activate: the version; rollback: the one to go back to
    canary_percent: float | None = None  # activate as a canary taking this share
    replicas: int | None = None  # scale (pins the size), set_pool_size
    scale_min: int | None = None  # scale --min
    scale_max: int | None = None  # scale --max
    concurrency: int | None = None  # set_limits: calls one Runner takes at once
    rate_limit: float | None = None  # set_limits: calls a second for each version
    spec_limits: list[str] = field(default_factory=list)  # set_limits: back to the spec's
    reason: str = ""  # set_pool_size: the autoscaler's inputs
    log_level: str | None = None  # set_log_level ("" clears it)
    capture: float | None = None  # set_capture: 0 (off) to 1 (all)


@dataclass
class RegistryState:
    """The Registry workflow's whole state (its continue-as-new input)."""

    generation: int = 0
    deployments: list[Deployment] = field(default_factory=list)
    trons: PoolSize | None = None  # the autoscaler's last size for the Trons (None: not sized)
    doors: list[RunnerDoor] = field(default_factory=list)  # the Runners' fast-path doors


# --- routing and calling ------------------------------------------------------


@dataclass
class RouteDecision:
    """The routing step's result: either ``answer`` (a 404, 405, 400, ...
    given without running anything) or the ``target`` and what to call it with."""

    answer: ResponseEnvelope | None = None
    target: FuncTarget | None = None
    operation_id: str = ""
    operation_path: str = ""  # the request path below the base path
    policy: OperationPolicy = field(default_factory=OperationPolicy)
    parameters: dict[str, Any] = field(default_factory=dict)  # typed by the schema
    form_body: dict[str, Any] | None = None
    # The operation is served by this chain, every step's version pinned.
    chain: ChainPlan | None = None
    canary: bool = False  # the target is the Func's canary version
    capture: bool = False  # `funcatron-wf capture` sampled this request (engine/capture.py)
    # the Func version and operation whose route matched, also when answered
    # without running it (a 400): what the request's search attributes name
    matched: FuncRef | None = None
    # the request carries the search attributes of engine/request_attributes.py
    # (False where the namespace has none registered)
    search_attributes: bool = False

    def one_operation(self) -> FuncTarget | None:
        """The version to run, when the request is one operation of it (not
        a chain, not answered by routing): what the fast path may take."""
        return self.target if self.answer is None and self.chain is None else None


def canary_bucket(request_id: str) -> float:
    """Where a request falls in 0..100 for the canary split: from its id, so
    a retry under the same id goes to the same version."""
    return int(request_id[:8], 16) % 10000 / 100


# The source of a request `funcatron-wf replay` sends again: listed as such,
# and never captured (a replayed set would grow with each replay).
REPLAY_SOURCE = "replay"


def capture_bucket(request_id: str) -> float:
    """Where a request falls in [0, 1) for capture sampling: from the other end
    of its id than canary_bucket, so the two choices are independent."""
    return int(request_id[-8:], 16) % 10000 / 10000


@dataclass
class RoutedRequest:
    """The input of a RoutedRequest workflow: a request and its decision,
    both recorded in history, so replay never routes again."""

    request: RequestEnvelope
    decision: RouteDecision


@dataclass
class FuncCall:
    """What a Runner receives: the input of every operation activity."""

    request: RequestEnvelope
    func: FuncRef
    operation_path: str = ""
    parameters: dict[str, Any] = field(default_factory=dict)
    form_body: dict[str, Any] | None = None
    settings: FuncSettings = field(default_factory=FuncSettings)
    retry_on_error: bool = False
    # the fast path's: past this (seconds since the epoch) the Runner answers
    # 504 without calling, however the call reached it (engine/operation_run.py)
    answer_by: float | None = None


@dataclass
class DetachedCall:
    """The input of a DetachedStep workflow: a chain step (``reply: false``)
    started by the request's workflow and never awaited."""

    call: FuncCall
    operation: OperationTarget
    summary: str = ""


# --- the Tron's front door, as the nginx front speaks to it -------------------

# POST a request envelope (JSON) here. The front door routes and starts it.
FRONT_DOOR_PATH = "/requests"
# started (or started before): wait for its close event; the JSON reply's
# "wait" is how long to keep looking for it if the workflow engine is lost
# (the operation's whole budget, in seconds)
FRONT_DOOR_STARTED = 201
FRONT_DOOR_ACCEPTED = 202  # started, and answered 202 at once: it runs on
FRONT_DOOR_NOT_STARTED = 503  # anything but the ones here: start it yourself
# answered already (the fast path): the body is the response envelope
FRONT_DOOR_ANSWERED = 200

# --- a Runner's door, as the Tron's front door speaks to it (the fast path) ----

# POST a RoutedRequest (JSON) here; X-Funcatron-Wait: the seconds the caller
# waits for the answer. The Runner starts the request's workflow on the
# version's task queue (eager start) and runs the operation in it.
RUNNER_DOOR_PATH = "/run"
RUNNER_DOOR_WAIT_HEADER = "X-Funcatron-Wait"
RUNNER_DOOR_ANSWERED = 200  # the body is the response envelope
RUNNER_DOOR_STARTED = 201  # started here, still running: wait for its close event
RUNNER_DOOR_ACCEPTED = 202  # started; a no-reply request: it runs on
RUNNER_DOOR_STARTED_BEFORE = 409  # the id had started before: its first run answers
# anything else (503: full or stopping): not started here
# GET this for the Runner's load: {"in_flight": N, "calls": N, "busy_seconds": S}
RUNNER_DOOR_LOAD_PATH = "/load"

# Where a request answered 202 is asked for its result.
STATUS_URL_PREFIX = "/_funcatron/requests/"


def status_url(request_id: str) -> str:
    return STATUS_URL_PREFIX + request_id
