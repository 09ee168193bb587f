package funcatron;

import java.util.LinkedHashMap;
import java.util.Map;

/** Thrown to answer with a status (4xx or 5xx) and a problem document: {@code throw new HTTPError(404, "no pet 7")}. */
public class HTTPError extends RuntimeException {
    public final int status;
    public final String detail;
    public final String title;
    public final Map<String, String> headers = new LinkedHashMap<>();

    public HTTPError(int status, String detail) { this(status, detail, null); }

    public HTTPError(int status, String detail, String title) {
        super(detail == null ? "HTTP " + status : detail);
        this.status = status;
        this.detail = detail;
        this.title = title;
    }

    public HTTPError header(String name, String value) {
        headers.put(name.toLowerCase(), value);
        return this;
    }
}
