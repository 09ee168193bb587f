package funcatron;

import java.lang.reflect.Method;

/** SLF4J's MDC "request_id" during a call, when the Func has SLF4J (by reflection: optional). */
final class Mdc {
    private static final Method PUT;
    private static final Method REMOVE;

    static {
        Method put = null;
        Method remove = null;
        try {
            Class<?> mdc = Class.forName("org.slf4j.MDC", true, Thread.currentThread().getContextClassLoader());
            put = mdc.getMethod("put", String.class, String.class);
            remove = mdc.getMethod("remove", String.class);
        } catch (ReflectiveOperationException | LinkageError absent) {
            // no SLF4J: java.util.logging lines still carry the request id
        }
        PUT = put;
        REMOVE = remove;
    }

    private Mdc() {}

    static void put(String requestId) {
        if (PUT != null) {
            try {
                PUT.invoke(null, "request_id", requestId);
            } catch (ReflectiveOperationException ignored) {
                // best effort
            }
        }
    }

    static void remove() {
        if (REMOVE != null) {
            try {
                REMOVE.invoke(null, "request_id");
            } catch (ReflectiveOperationException ignored) {
                // best effort
            }
        }
    }
}
