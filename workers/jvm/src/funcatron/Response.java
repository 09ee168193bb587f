package funcatron;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A reply with its own status and headers: {@code new Response(pet, 201).header("Location", "/pets/1")}.
 * The body is sent as JSON (a map, list, number, bean), text (a String) or
 * bytes (a byte[]); null: no body.
 */
public final class Response {
    public final Object body;
    public final int status;
    public final Map<String, String> headers = new LinkedHashMap<>();
    public String contentType;

    public Response(Object body) { this(body, 200); }

    public Response(Object body, int status) {
        this.body = body;
        this.status = status;
    }

    public Response header(String name, String value) {
        headers.put(name.toLowerCase(), value);
        return this;
    }

    public Response contentType(String value) {
        this.contentType = value;
        return this;
    }
}
