package funcatron;

import java.util.Collections;
import java.util.Map;

/**
 * What a JVM Func is called with: the operation's parameters by name (typed
 * by their schema), the body (parsed JSON as maps, lists, strings and
 * numbers; text as a String; bytes as a byte[]; a form as a Map), the
 * request's headers (lower-case names), its id, and the whole request
 * envelope as a map.
 */
public final class FuncRequest {
    private final String requestId;
    private final Map<String, Object> parameters;
    private final Object body;
    private final Map<String, String> headers;
    private final Map<String, Object> envelope;

    public FuncRequest(String requestId, Map<String, Object> parameters, Object body,
                       Map<String, String> headers, Map<String, Object> envelope) {
        this.requestId = requestId;
        this.parameters = Collections.unmodifiableMap(parameters);
        this.body = body;
        this.headers = Collections.unmodifiableMap(headers);
        this.envelope = Collections.unmodifiableMap(envelope);
    }

    public String requestId() { return requestId; }
    public Map<String, Object> parameters() { return parameters; }
    public Object parameter(String name) { return parameters.get(name); }
    public Object body() { return body; }
    public Map<String, String> headers() { return headers; }
    public String header(String name) { return headers.get(name.toLowerCase()); }
    /** The request envelope as sent: method, path, query, attempt, ... */
    public Map<String, Object> envelope() { return envelope; }
    /** 1, or 2 and more when a lost Runner's call runs again. */
    public int attempt() { return ((Number) envelope.getOrDefault("attempt", 1)).intValue(); }
}
