package pets;

import funcatron.FuncRequest;
import funcatron.HTTPError;
import funcatron.Response;
import java.util.Map;
import java.util.logging.Logger;

/** The JVM host's Java test Func: static methods taking a FuncRequest. */
public class Pets {
    private static final Logger LOG = Logger.getLogger("pets");

    public static Object get(FuncRequest request) {
        int id = ((Number) request.parameter("petId")).intValue();
        LOG.info("looking up pet " + id);
        if (id != 1) {
            throw new HTTPError(404, "no pet " + id);
        }
        return Map.of("id", 1, "name", "Rex", "requestId", request.requestId());
    }

    @SuppressWarnings("unchecked")
    public static Object add(FuncRequest request) {
        Map<String, Object> body = (Map<String, Object>) request.body();
        return new Response(Map.of("id", 2, "name", body.get("name")), 201).header("Location", "/pets/2");
    }

    public static Object boom(FuncRequest request) {
        throw new IllegalStateException("the pets are loose");
    }
}
