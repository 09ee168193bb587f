package funcatron;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.BufferedReader;
import java.io.BufferedWriter;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.io.OutputStreamWriter;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.io.Writer;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.function.Function;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogManager;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import java.util.stream.Stream;

/**
 * The JVM language host (docs/host-protocol.md): one JVM per Func version,
 * started by the Runner (workers/jvm_host.py) as
 *
 * <pre>java -cp funcatron-host.jar:jackson... funcatron.Host FOLDER OPERATIONS_JSON [--check]</pre>
 *
 * The Func's code is the JARs in FOLDER and FOLDER/lib (and its classes/
 * and src/ folders, for Clojure sources). An operationId names a class
 * implementing {@code Function<FuncRequest, Object>}, a
 * {@code Class.staticMethod(FuncRequest)} (Java, or a Scala object's
 * method), or a Clojure {@code namespace/fn} called with a request map.
 * Calls run side by side on a thread pool; answers go to the pipe
 * FUNCATRON_HOST_FD names; java.util.logging (and SLF4J through it) are
 * log lines carrying the call's request id.
 */
public final class Host {
    static final ObjectMapper JSON = new ObjectMapper();
    static final ThreadLocal<Long> CURRENT_CALL = new ThreadLocal<>();
    private static Writer answers;

    /** One operation, loaded: how to call it, or why it does not load. */
    interface Operation {
        Object call(Map<String, Object> message, FuncRequest request) throws Throwable;
    }

    public static void main(String[] args) throws Exception {
        Path folder = Paths.get(args[0]).toAbsolutePath();
        @SuppressWarnings("unchecked")
        Map<String, String> targets = JSON.readValue(args[1], Map.class); // operationId -> what it names
        boolean check = args.length > 2 && "--check".equals(args[2]);
        OutputStream out = new FileOutputStream("/proc/self/fd/" + System.getenv("FUNCATRON_HOST_FD"));
        answers = new BufferedWriter(new OutputStreamWriter(out, StandardCharsets.UTF_8));
        logThroughTheProtocol();

        ClassLoader code = funcClassLoader(folder);
        Thread.currentThread().setContextClassLoader(code);
        Clojure clojure = new Clojure(code);
        Map<String, Operation> operations = new LinkedHashMap<>();
        List<Map<String, String>> problems = new ArrayList<>();
        for (Map.Entry<String, String> each : targets.entrySet()) {
            String operationId = each.getKey();
            try {
                operations.put(operationId, load(each.getValue(), code, clojure));
            } catch (Throwable error) { // a static initializer's, a missing class's too
                Throwable cause = error instanceof InvocationTargetException wrapped
                        && wrapped.getCause() != null ? wrapped.getCause() : error;
                String why = cause instanceof IllegalArgumentException ? String.valueOf(cause.getMessage())
                        : String.valueOf(cause);
                problems.add(Map.of("operation", operationId, "problem", why));
                operations.put(operationId, (message, request) -> {
                    throw new LoadError(why);
                });
            }
        }
        Map<String, Object> ready = new LinkedHashMap<>();
        ready.put("type", "ready");
        ready.put("operations", new ArrayList<>(operations.keySet()));
        ready.put("problems", problems);
        ready.put("java", System.getProperty("java.version"));
        send(ready);
        if (check) {
            System.exit(0); // answered: a Func's threads must not keep it
        }
        ExecutorService pool = Executors.newCachedThreadPool(runnable -> {
            Thread thread = new Thread(runnable, "func");
            thread.setDaemon(true);
            thread.setContextClassLoader(code);
            return thread;
        });
        BufferedReader calls = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        String line;
        while ((line = calls.readLine()) != null) {
            if (line.isBlank()) {
                continue;
            }
            Map<String, Object> message;
            try {
                @SuppressWarnings("unchecked")
                Map<String, Object> parsed = JSON.readValue(line, Map.class);
                message = parsed;
            } catch (IOException error) { // said, and the other calls go on
                Logger.getLogger("funcatron.host").severe("a call that does not parse: " + error);
                continue;
            }
            pool.execute(() -> answer(operations, clojure, message));
        }
        Runtime.getRuntime().halt(0); // the Runner is gone
    }

    static ClassLoader funcClassLoader(Path folder) throws IOException {
        List<URL> urls = new ArrayList<>();
        for (Path place : List.of(folder, folder.resolve("lib"))) {
            if (Files.isDirectory(place)) {
                try (Stream<Path> files = Files.list(place)) {
                    for (Path jar : files.filter(p -> p.toString().endsWith(".jar")).sorted().toList()) {
                        urls.add(jar.toUri().toURL());
                    }
                }
            }
        }
        for (String sources : List.of("classes", "src")) {
            if (Files.isDirectory(folder.resolve(sources))) {
                urls.add(folder.resolve(sources).toUri().toURL());
            }
        }
        return new URLClassLoader(urls.toArray(new URL[0]), Host.class.getClassLoader());
    }

    static Operation load(String operationId, ClassLoader code, Clojure clojure) throws Exception {
        int slash = operationId.indexOf('/');
        if (slash > 0) {
            return clojure.function(operationId.substring(0, slash), operationId.substring(slash + 1));
        }
        try {
            Class<?> whole = Class.forName(operationId, true, code);
            if (Function.class.isAssignableFrom(whole)) {
                @SuppressWarnings("unchecked")
                Function<FuncRequest, Object> function =
                        (Function<FuncRequest, Object>) whole.getDeclaredConstructor().newInstance();
                return (message, request) -> function.apply(request);
            }
            throw new IllegalArgumentException("class " + operationId + " does not implement "
                    + "java.util.function.Function<FuncRequest, Object>");
        } catch (ClassNotFoundException notAClass) {
            // Class.staticMethod
        }
        int dot = operationId.lastIndexOf('.');
        if (dot <= 0) {
            throw new IllegalArgumentException("must be Class.staticMethod, a Function class, "
                    + "or namespace/fn (Clojure)");
        }
        String className = operationId.substring(0, dot);
        String methodName = operationId.substring(dot + 1);
        Class<?> owner;
        try {
            owner = Class.forName(className, true, code);
        } catch (ClassNotFoundException error) {
            throw new IllegalArgumentException("names class " + className
                    + ", which is not in the Func's JARs");
        }
        Method method;
        try {
            method = owner.getMethod(methodName, FuncRequest.class);
        } catch (NoSuchMethodException error) {
            throw new IllegalArgumentException("class " + className + " has no public method "
                    + methodName + "(FuncRequest)");
        }
        if (!Modifier.isStatic(method.getModifiers())) {
            throw new IllegalArgumentException(className + "." + methodName + " is not static");
        }
        return (message, request) -> {
            try {
                return method.invoke(null, request);
            } catch (InvocationTargetException error) {
                throw error.getCause();
            }
        };
    }

    /** Every call gets one answer: when even the error's cannot be sent, a plain one. */
    static void answer(Map<String, Operation> operations, Clojure clojure, Map<String, Object> message) {
        try {
            answerCall(operations, clojure, message);
        } catch (Throwable unsent) {
            Object id = message.get("id");
            send(Map.of("type", "raised", "id", id instanceof Number n ? n.longValue() : -1L,
                    "detail", message.get("operation") + ": its answer could not be sent: "
                            + unsent.getClass().getSimpleName(),
                    "stack", stackOf(unsent)));
        }
    }

    @SuppressWarnings("unchecked")
    static void answerCall(Map<String, Operation> operations, Clojure clojure, Map<String, Object> message) {
        long id = ((Number) message.get("id")).longValue();
        String operationId = String.valueOf(message.get("operation"));
        Map<String, Object> envelope = (Map<String, Object>) message.getOrDefault("request", Map.of());
        String requestId = String.valueOf(envelope.get("request_id"));
        CURRENT_CALL.set(id);
        Mdc.put(requestId);
        try {
            Object body;
            try {
                body = bodyArgument((Map<String, Object>) message.get("body"));
            } catch (IOException error) {
                send(Map.of("type", "bad_request", "id", id,
                        "detail", "the JSON body does not parse: " + error.getMessage()));
                return;
            }
            Map<String, String> headers = new LinkedHashMap<>();
            Object given = envelope.get("headers");
            if (given instanceof Map<?, ?> map) {
                map.forEach((name, value) -> headers.put(String.valueOf(name), String.valueOf(value)));
            }
            Map<String, Object> parameters = (Map<String, Object>) message.getOrDefault("parameters", Map.of());
            FuncRequest request = new FuncRequest(requestId, new LinkedHashMap<>(parameters), body,
                    headers, envelope);
            Operation operation = operations.get(operationId);
            if (operation == null) {
                throw new LoadError("no operation " + operationId + " is loaded");
            }
            Object result = operation.call(message, request);
            boolean textAsJson = Boolean.TRUE.equals(message.get("text_as_json"));
            send(Map.of("type", "reply", "id", id, "response", responseOf(result, textAsJson, clojure)));
        } catch (LoadError error) {
            send(httpError(id, 500, "the code of this operation does not load: " + error.getMessage(),
                    null, Map.of()));
        } catch (HTTPError error) {
            send(httpError(id, error.status, error.detail, error.title, error.headers));
        } catch (Throwable error) {
            Map<String, Object> clojureError = clojure.httpError(error);
            if (clojureError != null) {
                Object status = clojureError.get("status");
                send(httpError(id, status instanceof Number n ? n.intValue() : 500,
                        error.getMessage(), null, Map.of()));
            } else {
                Map<String, Object> raised = new LinkedHashMap<>();
                raised.put("type", "raised");
                raised.put("id", id);
                raised.put("detail", operationId + " raised " + error.getClass().getSimpleName());
                raised.put("stack", stackOf(error));
                send(raised);
            }
        } finally {
            CURRENT_CALL.remove();
            Mdc.remove();
        }
    }

    static Map<String, Object> httpError(long id, int status, String detail, String title,
                                         Map<String, String> headers) {
        Map<String, Object> answer = new LinkedHashMap<>();
        answer.put("type", "http_error");
        answer.put("id", id);
        answer.put("status", status);
        answer.put("detail", detail);
        answer.put("title", title);
        answer.put("headers", headers);
        return answer;
    }

    /** The body as the Func gets it: parsed JSON, text, bytes or a parsed form. */
    static Object bodyArgument(Map<String, Object> body) throws IOException {
        if (body == null) {
            return null;
        }
        return switch (String.valueOf(body.get("kind"))) {
            case "json" -> {
                String text = String.valueOf(body.get("text"));
                yield text.isEmpty() ? null : JSON.readValue(text, Object.class);
            }
            case "text" -> String.valueOf(body.get("text"));
            case "bytes" -> Base64.getDecoder().decode(String.valueOf(body.get("base64")));
            default -> body.get("value");
        };
    }

    /** What the Func returned, as the protocol's response. */
    static Map<String, Object> responseOf(Object result, boolean textAsJson, Clojure clojure) {
        Map<String, Object> response = new LinkedHashMap<>();
        Map<String, String> headers = new LinkedHashMap<>();
        int status = 200;
        Object body = result;
        boolean plainText = !textAsJson;
        if (result instanceof Response reply) {
            status = reply.status;
            headers.putAll(reply.headers);
            if (reply.contentType != null) {
                headers.put("content-type", reply.contentType);
            }
            body = reply.body;
            plainText = true;
        } else {
            Map<String, Object> ring = clojure.ringResponse(result);
            if (ring != null) {
                status = ((Number) ring.get("status")).intValue();
                Object given = ring.get("headers");
                if (given instanceof Map<?, ?> map) {
                    map.forEach((name, value) -> headers.put(String.valueOf(name).toLowerCase(),
                            String.valueOf(value)));
                }
                body = ring.get("body");
                plainText = true;
            }
        }
        response.put("status", status);
        response.put("headers", headers);
        response.put("body", bodyOf(clojure.plain(body), plainText));
        return response;
    }

    static Map<String, Object> bodyOf(Object value, boolean plainText) {
        if (value == null) {
            return null;
        }
        if (value instanceof byte[] bytes) {
            return Map.of("kind", "bytes", "base64", Base64.getEncoder().encodeToString(bytes));
        }
        if (value instanceof String text && plainText) {
            return Map.of("kind", "text", "text", text);
        }
        Map<String, Object> json = new LinkedHashMap<>();
        json.put("kind", "json");
        json.put("value", JSON.valueToTree(value));
        return json;
    }

    /** One message; a value that does not serialize is the caller's (an IllegalArgumentException). */
    static void send(Map<String, Object> message) {
        String line;
        try {
            line = JSON.writeValueAsString(message);
        } catch (IOException error) {
            throw new IllegalArgumentException("the reply does not serialize as JSON: " + error.getMessage(), error);
        }
        write(line);
    }

    private static synchronized void write(String line) {
        try {
            answers.write(line);
            answers.write('\n');
            answers.flush();
        } catch (IOException error) {
            Runtime.getRuntime().halt(3); // the Runner is gone
        }
    }

    static String stackOf(Throwable error) {
        StringWriter text = new StringWriter();
        error.printStackTrace(new PrintWriter(text));
        return text.toString();
    }

    /** java.util.logging (and SLF4J's JDK binding) as protocol log lines. */
    static void logThroughTheProtocol() {
        LogManager.getLogManager().reset();
        Logger root = Logger.getLogger("");
        root.setLevel(Level.FINE); // the Runner keeps what the call's log level wants
        root.addHandler(new Handler() {
            @Override
            public void publish(LogRecord record) {
                Map<String, Object> line = new LinkedHashMap<>();
                line.put("type", "log");
                line.put("id", CURRENT_CALL.get());
                int level = record.getLevel().intValue();
                line.put("level", level >= Level.SEVERE.intValue() ? "error"
                        : level >= Level.WARNING.intValue() ? "warning"
                        : level >= Level.INFO.intValue() ? "info" : "debug");
                String text = new java.util.logging.SimpleFormatter().formatMessage(record);
                if (record.getThrown() != null) {
                    text += "\n" + stackOf(record.getThrown());
                }
                line.put("message", text);
                send(line);
            }

            @Override
            public void flush() {}

            @Override
            public void close() {}
        });
    }

    /** An operation whose code does not load: its calls answer 500 saying why. */
    static final class LoadError extends RuntimeException {
        LoadError(String why) { super(why); }
    }

}
