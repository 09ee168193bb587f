--[[
funcatron-wf HTTP front: the contract between nginx and the engine.

For each request this module
  1. builds the request envelope (DESIGN.md, "Contracts") with
     request_id = nginx $request_id (32 lowercase hex), which is also the
     workflow id, so a request is found in the Temporal UI by its
     X-Request-Id;
  2. offers it to the Tron's front door, which routes it and starts it with
     eager start (workers/front_door.py); when no front door answers, starts
     RequestWorkflow (which routes in the workflow) through Temporal's HTTP
     API (plain JSON payloads);
  3. waits for the workflow's close event with a history long-poll, looping
     on nextPageToken (each poll is cut to ~2 s by /_temporal_poll/, which
     then answers with no events: a close the server failed to wake the poll
     for is seen on the next one). A completed workflow's result is the
     response; a no-reply request's first run ends CONTINUED_AS_NEW (the
     workflow decided, after routing, not to make the client wait): answer
     202 with the status URL;
  4. writes the response envelope: status, headers, body, X-Request-Id.

/_funcatron/requests/{id} (the status URL of a 202) answers 202 while the
request runs, then its stored response.

Temporal's HTTP API is reached only through the internal location
/_temporal/ and /_temporal_poll/ (subrequests), never from the public listener; the front door
through config.front_door_location.

The names and codes this module shares with the engine (task queue, workflow
type, id policies, the front door's protocol, the status URL, blob refs) are
not written here: configure() gets them from the rendered nginx config,
which takes them from engine/contracts.py and engine/starting.py.

Bodies cross as strings: JSON bodies travel as JSON *text* because Temporal's
payload shorthand would turn [] into null and round big integers.
]]

local cjson = require "cjson.safe"

local _M = {}

local config = {
    -- how many empty long-polls (each ~2 s, nginx.conf's Grpc-Timeout) before 504
    max_polls = 100,
    -- seconds between asks while the workflow engine is out of reach
    lost_retry_pause = 0.5,
    -- seconds to look for a request whose start failed before saying "not started"
    start_check_wait = 5,
}

function _M.configure(options)
    for key, value in pairs(options) do
        config[key] = value
    end
end

-- Every reply the front writes itself: a JSON document and X-Request-Id.
local function write_json(status, content_type, document, request_id, headers)
    ngx.status = status
    ngx.header["Content-Type"] = content_type
    ngx.header["X-Request-Id"] = request_id
    for name, value in pairs(headers or {}) do
        ngx.header[name] = value
    end
    ngx.print(cjson.encode(document))
    return ngx.exit(status)
end

local function problem(status, title, detail, request_id)
    return write_json(status, "application/problem+json", {
        type = "about:blank", title = title, status = status,
        detail = detail, request_id = request_id,
    }, request_id)
end

-- PCRE's UTF mode refuses a subject that is not valid UTF-8.
local function is_utf8(text)
    return ngx.re.find(text, "^", "ju") ~= nil
end

-- A body over client_body_buffer_size (the inline limit) is in a temp file
-- on the blob store's filesystem: move it into the store and pass a ref.
local function read_request_body(request_id)
    ngx.req.read_body()
    local spooled = ngx.req.get_body_file()
    if spooled then
        local ref = config.request_bodies .. "/" .. request_id .. config.blob_suffix
        local stored = config.blob_dir .. "/" .. ref
        local first = io.open(stored, "rb")
        if first then
            -- a retry of the same request (Idempotency-Key): the first run's
            -- body stays, whatever this one carries
            first:close()
            os.remove(spooled)
            return { encoding = "ref", data = ref }
        end
        local moved, err = os.rename(spooled, stored)
        if not moved then
            return nil, err
        end
        return { encoding = "ref", data = ref }
    end
    local data = ngx.req.get_body_data()
    if data == nil or #data == 0 then
        return cjson.null
    end
    local content_type = string.lower(ngx.var.content_type or "")
    if not is_utf8(data) then
        -- Temporal's JSON payloads hold only UTF-8 text; validation then says
        -- what is wrong with such a body.
        return { encoding = "base64", data = ngx.encode_base64(data) }
    end
    if string.find(content_type, "json", 1, true) then
        return { encoding = "json", data = data }
    end
    if string.sub(content_type, 1, 5) == "text/"
        or string.find(content_type, "x-www-form-urlencoded", 1, true) then
        return { encoding = "text", data = data }
    end
    return { encoding = "base64", data = ngx.encode_base64(data) }
end

local function query_lists()
    local lists = {}
    for name, value in pairs(ngx.req.get_uri_args(0)) do
        if type(value) == "table" then
            local values = {}
            for i, v in ipairs(value) do
                values[i] = (v == true) and "" or v
            end
            lists[name] = values
        else
            lists[name] = { (value == true) and "" or value }
        end
    end
    return lists
end

local function header_map()
    local headers = {}
    for name, value in pairs(ngx.req.get_headers(0)) do
        if type(value) == "table" then
            value = table.concat(value, ", ")
        end
        headers[name] = value
    end
    return headers
end

local function temporal_path(suffix, location)
    return (location or "/_temporal/") .. "api/v1/namespaces/" .. config.namespace .. "/workflows/" .. suffix
end

-- The request's W3C trace context: its trace id is the request id; the
-- front exports no span of its own, so the parent id is the id's second half
-- (engine/tracing.py traceparent_of says the same).
local function traceparent_of(request_id)
    return "00-" .. request_id .. "-" .. string.sub(request_id, 17) .. "-01"
end

local function start_workflow(envelope)
    local start = {
        -- the trace context where Temporal's tracing interceptor looks for it
        header = { fields = { ["_tracer-data"] = { traceparent = envelope.traceparent } } },
        workflowId = envelope.request_id,
        workflowType = { name = config.workflow_type },
        taskQueue = { name = config.task_queue },
        input = { envelope },
        requestId = envelope.request_id,
        workflowIdReusePolicy = config.id_reuse_policy,
        workflowIdConflictPolicy = config.id_conflict_policy,
        workflowTaskTimeout = config.workflow_task_timeout,
    }
    return ngx.location.capture(temporal_path(envelope.request_id), {
        method = ngx.HTTP_POST,
        body = cjson.encode(start),
    })
end

-- Returns the close event, or nil and a reason: "not found" (no such
-- request: it never started), "timeout" (no answer after max_polls empty
-- long-polls), "lost" (the workflow engine stayed out of reach for
-- lost_wait seconds: the request may have completed), "lost after seen"
-- (the same, after the request was seen to exist), "no page token".
-- While the engine is out of reach (a restart, say) it keeps asking: a
-- request that started is never answered 503, which would invite a retry.
local function close_event(request_id, lost_wait)
    local args = {
        waitNewEvent = "true",
        historyEventFilterType = "HISTORY_EVENT_FILTER_TYPE_CLOSE_EVENT",
    }
    local polls, lost_until, seen = 0, nil, false
    while true do
        local res = ngx.location.capture(temporal_path(request_id .. "/history", "/_temporal_poll/"), {
            method = ngx.HTTP_GET, args = args,
        })
        if res.status == 404 then
            return nil, "not found"
        end
        if res.status == 200 then
            lost_until, seen = nil, true
            local page = cjson.decode(res.body) or {}
            local events = type(page.history) == "table" and page.history.events
            if type(events) == "table" and #events > 0 then
                return events[1]
            end
            if type(page.nextPageToken) ~= "string" then
                return nil, "no page token"
            end
            args.nextPageToken = page.nextPageToken
            polls = polls + 1
            if polls >= config.max_polls then
                return nil, "timeout"
            end
        else
            local now = ngx.now()
            lost_until = lost_until or now + lost_wait
            if now >= lost_until then
                -- "seen": the request exists, whatever happens next
                return nil, seen and "lost after seen" or "lost"
            end
            ngx.sleep(config.lost_retry_pause)
        end
    end
end

-- A large reply, written to the blob store by the Runner, streamed from disk.
local function stream_blob(ref, request_id)
    if ref ~= config.response_bodies .. "/" .. request_id .. config.blob_suffix then
        ngx.log(ngx.ERR, "request ", request_id, ": refusing blob ref ", ref)
        return ngx.exit(500)
    end
    local file = io.open(config.blob_dir .. "/" .. ref, "rb")
    if not file then
        ngx.log(ngx.ERR, "request ", request_id, ": blob ", ref, " is missing")
        return problem(410, "Gone", "the reply's body is no longer stored (the blob store keeps "
            .. "bodies for FUNCATRON_BLOB_RETENTION seconds)", request_id)
    end
    ngx.header["Content-Length"] = file:seek("end")
    file:seek("set")
    while true do
        local chunk = file:read(1048576)
        if not chunk then
            break
        end
        ngx.print(chunk)
        ngx.flush(true)
    end
    file:close()
    return ngx.exit(ngx.HTTP_OK)  -- sent: only ends the request
end

local function write_response(response, request_id)
    ngx.status = tonumber(response.status) or 500
    if type(response.headers) == "table" then
        for name, value in pairs(response.headers) do
            ngx.header[name] = value
        end
    end
    ngx.header["X-Request-Id"] = request_id
    local body = response.body
    if type(body) == "table" and body.encoding == "ref" then
        return stream_blob(body.data, request_id)
    end
    if type(body) == "table" and type(body.data) == "string" then
        if body.encoding == "base64" then
            ngx.print(ngx.decode_base64(body.data))
        else
            ngx.print(body.data)
        end
    end
    -- Headers out first: ngx.exit(status >= 300) with nothing sent would
    -- make nginx answer its own error page (error_page) instead of this reply.
    if not ngx.headers_sent then
        ngx.send_headers()
    end
    return ngx.exit(ngx.HTTP_OK)
end

-- 202 for a no-reply request, which runs on under the same request id.
local function write_accepted(request_id)
    local status_url = config.status_url_prefix .. request_id
    local headers = { Location = status_url }
    if ngx.ctx.prefers_async then
        headers["Preference-Applied"] = "respond-async"
    end
    return write_json(202, "application/json",
        { request_id = request_id, state = "accepted", status_url = status_url },
        request_id, headers)
end

local function write_close_event(event, request_id)
    local completed = event.workflowExecutionCompletedEventAttributes
    if type(completed) == "table" and type(completed.result) == "table"
        and type(completed.result[1]) == "table" then
        return write_response(completed.result[1], request_id)
    end
    if event.eventType == "EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW" then
        return write_accepted(request_id)
    end
    if event.eventType == "EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT" then
        return problem(504, "Gateway Timeout", "the request timed out", request_id)
    end
    ngx.log(ngx.ERR, "request ", request_id, " ended with ", event.eventType)
    return problem(500, "Internal Server Error", "the request ended with " .. tostring(event.eventType), request_id)
end

-- 503 only for a request that did not start: safe to retry.
local function not_started(request_id, detail)
    return write_json(503, "application/problem+json", {
        type = "about:blank", title = "Service Unavailable", status = 503,
        detail = detail .. "; the request was not started, so it is safe to retry",
        request_id = request_id,
    }, request_id, { ["Retry-After"] = "1" })
end

-- Wait for a request's close event and answer from it. ``lost_wait``: how
-- long to keep looking while the workflow engine is out of reach (the
-- operation's timeout, from the front door; the default otherwise).
local function write_close_event_of(request_id, lost_wait, lost_means_not_started)
    local event, reason = close_event(request_id, lost_wait or config.lost_wait)
    if event == nil then
        if reason == "not found" then
            return not_started(request_id, "the workflow engine did not take the request")
        end
        if reason == "lost" and lost_means_not_started then
            return not_started(request_id, "the workflow engine cannot be reached")
        end
        if reason == "lost" or reason == "lost after seen" then
            local status_url = config.status_url_prefix .. request_id
            return write_json(504, "application/problem+json", {
                type = "about:blank", title = "Gateway Timeout", status = 504,
                detail = "the workflow engine was out of reach until this request's time ran out; "
                    .. "it was started and may have completed: its status URL has the answer",
                request_id = request_id, status_url = status_url,
            }, request_id, { Location = status_url })
        end
        return problem(504, "Gateway Timeout", "no answer in time", request_id)
    end
    return write_close_event(event, request_id)
end

local function prefers_async(headers)
    local prefer = headers["prefer"]
    return type(prefer) == "string" and string.find(string.lower(prefer), "respond-async", 1, true) ~= nil
end

-- A request with an Idempotency-Key gets its request id from the key and
-- the route (engine/contracts.py idempotent_request_id: the first 32 hex
-- digits of SHA-1 over the parts, one a line), so a retry is the same
-- request: start_request never runs it twice, and the retry is answered
-- with the first run's result.
local function to_hex(bytes)
    return (string.gsub(bytes, ".", function(c) return string.format("%02x", string.byte(c)) end))
end

local function idempotent_request_id(key, host, method, path)
    local parts = { config.idempotency_key_header, key, string.lower(host), method, path }
    return string.sub(to_hex(ngx.sha1_bin(table.concat(parts, "\n"))), 1, 32)
end

-- The draft's key is a string; a key that is not 1-255 printable ASCII
-- characters is refused rather than hashed.
local function valid_idempotency_key(key)
    return type(key) == "string" and #key >= 1 and #key <= 255
        and ngx.re.find(key, "^[\\x20-\\x7e]+$", "jo") ~= nil
end

function _M.handle()
    local request_id = ngx.var.request_id
    local headers = header_map()
    ngx.ctx.prefers_async = prefers_async(headers)
    local key = headers[config.idempotency_key_header]
    if key ~= nil then
        if not valid_idempotency_key(key) then
            return problem(400, "Bad Request",
                "the Idempotency-Key header must be 1 to 255 printable ASCII characters", request_id)
        end
        request_id = idempotent_request_id(key, ngx.var.http_host or ngx.var.host,
            ngx.req.get_method(), string.match(ngx.var.request_uri, "^[^?]*"))
    end
    -- for front_failed(), should nginx itself fail the request from here on
    -- (it cannot spool the body: the blob store's disk is full, say)
    ngx.var.funcatron_request_id = request_id
    ngx.var.funcatron_stage = "taking"
    local body, body_error = read_request_body(request_id)
    if body == nil then
        ngx.log(ngx.ERR, "request ", request_id, ": cannot move the body to the blob store: ", body_error)
        return not_started(request_id, "the request body could not be stored")
    end
    local envelope = {
        request_id = request_id,
        source = "http",
        host = ngx.var.http_host or ngx.var.host,
        method = ngx.req.get_method(),
        -- the raw path: routing splits it on "/" before decoding parameters
        path = string.match(ngx.var.request_uri, "^[^?]*"),
        query = query_lists(),
        headers = headers,
        body = body,
        reply = not ngx.ctx.prefers_async,
        traceparent = traceparent_of(request_id),
    }
    ngx.var.funcatron_stage = "handed on"
    if config.front_door then
        -- The Tron's front door routes, then runs the request on a Runner
        -- (the fast path: answered, the body is the response envelope) or
        -- starts it (eager start): started (wait for its close event),
        -- accepted (a request that runs on); anything else means not started
        -- there: the request takes the path below.
        local offered = ngx.location.capture(config.front_door_location .. config.front_door_path, {
            method = ngx.HTTP_POST,
            body = cjson.encode(envelope),
        })
        if offered.status == config.front_door_answered then
            local response = cjson.decode(offered.body or "")
            if type(response) == "table" then
                return write_response(response, request_id)
            end
            -- unreadable (never seen): the request ran; its close event answers
            return write_close_event_of(request_id)
        elseif offered.status == config.front_door_started then
            local answer = cjson.decode(offered.body or "") or {}
            return write_close_event_of(request_id, tonumber(answer.wait))
        elseif offered.status == config.front_door_accepted then
            return write_accepted(request_id)
        end
    end
    local started = start_workflow(envelope)
    if started.status == 409 then
        -- this request id started before (a front door whose answer was lost,
        -- a retry): never a second run; the first run's close event is the answer
        return write_close_event_of(request_id)
    end
    if started.status >= 500 then
        -- The engine failed or is out of reach, and the start may have landed
        -- all the same: look for the request for a little while. Found: its
        -- answer. Not found, or the engine still out of reach: 503, not
        -- started. (Left open: a start that landed the instant the engine
        -- went down for longer than that; a client that sends an
        -- Idempotency-Key retries it as the same request, so it never runs twice.)
        return write_close_event_of(request_id, config.start_check_wait, true)
    end
    if started.status == 400 and string.find(started.body or "", "invalid UTF-8", 1, true) then
        return problem(400, "Bad Request",
            "the request's path, query or headers hold bytes that are not UTF-8", request_id)
    end
    if started.status ~= 200 then
        ngx.log(ngx.ERR, "starting workflow ", request_id, " failed: ", started.status, " ", started.body)
        return problem(500, "Internal Server Error", "the request could not be started", request_id)
    end

    return write_close_event_of(request_id)
end

-- GET /_funcatron/requests/{id}. The close-event read blocks while the
-- workflow runs (with or without waitNewEvent), so ask for its status first.
function _M.status(request_id)
    local described = ngx.location.capture(temporal_path(request_id), { method = ngx.HTTP_GET })
    if described.status == 404 then
        return problem(404, "Not Found", "no request " .. request_id, request_id)
    end
    if described.status ~= 200 then
        return write_json(503, "application/problem+json", {
            type = "about:blank", title = "Service Unavailable", status = 503,
            detail = "the workflow engine cannot be reached; ask again", request_id = request_id,
        }, request_id, { ["Retry-After"] = "1" })
    end
    local info = (cjson.decode(described.body) or {}).workflowExecutionInfo
    if type(info) == "table" and info.status == "WORKFLOW_EXECUTION_STATUS_RUNNING" then
        return write_json(202, "application/json",
            { request_id = request_id, state = "pending" }, request_id, { ["Retry-After"] = "1" })
    end
    -- closed: its close event is there to read (a short wait if the engine hiccups)
    local event = close_event(request_id, config.lost_retry_pause * 4)
    if event == nil then
        return write_json(503, "application/problem+json", {
            type = "about:blank", title = "Service Unavailable", status = 503,
            detail = "the workflow engine cannot be reached; ask again", request_id = request_id,
        }, request_id, { ["Retry-After"] = "1" })
    end
    return write_close_event(event, request_id)
end

-- error_page 500: nginx failed the request itself (it could not spool the
-- body to the blob store's disk; a Lua error). While taking the request
-- (nothing started): 503, safe to retry; once handed on the request may
-- run, so a 500 that says how to find it. Either way JSON, never nginx's
-- HTML page. $funcatron_stage and $funcatron_request_id are set by
-- handle() and survive the redirect to the named location @front_failed.
function _M.front_failed()
    local request_id = ngx.var.funcatron_request_id
    if request_id == "" then  -- failed before handle() named it, or a status URL's
        local asked = ngx.var.status_request_id
        request_id = (asked ~= nil and asked ~= "") and asked or ngx.var.request_id
    end
    local stage = ngx.var.funcatron_stage
    if stage == "taking" then
        return not_started(request_id, "the front could not take the request (its error log says why: "
            .. "a full disk under the blob store, say)")
    elseif stage == "handed on" then
        return problem(500, "Internal Server Error", "the front failed after the request was handed on; "
            .. "its status URL " .. config.status_url_prefix .. request_id .. " tells whether it ran",
            request_id)
    end
    return problem(500, "Internal Server Error", "the front failed (its error log says why)", request_id)
end

-- error_page 413: nginx refused the body before Lua saw it.
function _M.too_large()
    return problem(413, "Payload Too Large",
        "the request body is larger than this front accepts (" .. config.max_body_size .. ")",
        ngx.var.request_id)
end

return _M
