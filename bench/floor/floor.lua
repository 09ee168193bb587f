-- The floor's front: start FloorWorkflow through Temporal's HTTP API, wait
-- for its close event, write the result. Nothing else.
local cjson = require "cjson.safe"

local _M = {}

function _M.handle(word)
    local id = ngx.var.request_id
    local path = "/_temporal/api/v1/namespaces/default/workflows/" .. id
    local started = ngx.location.capture(path, {
        method = ngx.HTTP_POST,
        body = cjson.encode({
            workflowType = { name = "FloorWorkflow" },
            taskQueue = { name = "bench.floor.workflow" },
            input = { word },
        }),
    })
    if started.status ~= 200 then
        return ngx.exit(502)
    end
    local args = { waitNewEvent = "true", historyEventFilterType = "HISTORY_EVENT_FILTER_TYPE_CLOSE_EVENT" }
    for _ = 1, 20 do
        local res = ngx.location.capture(path .. "/history", { method = ngx.HTTP_GET, args = args })
        local page = cjson.decode(res.body) or {}
        local events = type(page.history) == "table" and page.history.events
        if type(events) == "table" and #events > 0 then
            local done = events[1].workflowExecutionCompletedEventAttributes
            ngx.header["Content-Type"] = "application/json"
            ngx.print(cjson.encode(done.result[1]))
            return
        end
        args.nextPageToken = page.nextPageToken
    end
    return ngx.exit(504)
end

return _M
