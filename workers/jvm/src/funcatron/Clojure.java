package funcatron;

import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Clojure Funcs, through Clojure's Java API, by reflection: the host needs
 * no Clojure to build, and a Java or Scala Func none to run. A Clojure Func
 * is called with a request map with keyword keys ({:parameters {:petId 1}
 * :body ... :headers ... :request-id ... :request ...}); it returns data
 * (keywords become strings), or a Ring-style {:status :headers :body}; it
 * throws (ex-info "..." {:status 404}) to answer a status.
 */
final class Clojure {
    private final ClassLoader code;
    private Method var;
    private Method read;
    private Method invoke1;
    private Object require;
    private Object keywordize;
    private Object plain;
    private Object exData;
    private Class<?> clojureMap;

    Clojure(ClassLoader code) {
        this.code = code;
    }

    private synchronized void start() throws Exception {
        if (var != null) {
            return;
        }
        Class<?> api;
        try {
            api = Class.forName("clojure.java.api.Clojure", true, code);
        } catch (ClassNotFoundException error) {
            throw new IllegalArgumentException("is a Clojure namespace/fn, and no Clojure is on "
                    + "the class path (Debian: apt-get install clojure; or put it in the Func's JAR)");
        }
        var = api.getMethod("var", Object.class, Object.class);
        read = api.getMethod("read", String.class);
        invoke1 = Class.forName("clojure.lang.IFn", true, code).getMethod("invoke", Object.class);
        clojureMap = Class.forName("clojure.lang.IPersistentMap", true, code);
        require = var.invoke(null, "clojure.core", "require");
        invoke1.invoke(require, read.invoke(null, "clojure.walk"));
        exData = var.invoke(null, "clojure.core", "ex-data");
        Object eval = var.invoke(null, "clojure.core", "eval");
        // Java maps and lists (what JSON parsed to) as Clojure data, keys as keywords
        keywordize = invoke1.invoke(eval, read.invoke(null,
                "(fn to-clj [x] (cond (instance? java.util.Map x)"
                + " (into {} (map (fn [[k v]] [(keyword (str k)) (to-clj v)])) x)"
                + " (instance? java.util.List x) (mapv to-clj x) :else x))"));
        plain = invoke1.invoke(eval, read.invoke(null,
                "(fn [x] (clojure.walk/postwalk (fn [v] (if (keyword? v) (subs (str v) 1) v)) x))"));
    }

    Host.Operation function(String namespace, String name) throws Exception {
        start();
        try {
            invoke1.invoke(require, read.invoke(null, namespace));
        } catch (InvocationTargetException error) {
            throw new IllegalArgumentException("loading namespace " + namespace + " failed: "
                    + error.getCause());
        }
        Object function = var.invoke(null, namespace, name);
        boolean bound = (Boolean) function.getClass().getMethod("isBound").invoke(function);
        if (!bound) {
            throw new IllegalArgumentException("namespace " + namespace + " has no function " + name);
        }
        return (message, request) -> {
            Map<String, Object> map = new LinkedHashMap<>();
            map.put("parameters", request.parameters());
            map.put("body", request.body());
            map.put("headers", request.headers());
            map.put("request-id", request.requestId());
            map.put("request", request.envelope());
            try {
                return invoke1.invoke(function, invoke1.invoke(keywordize, map));
            } catch (InvocationTargetException error) {
                throw error.getCause();
            }
        };
    }

    /** Clojure data as plain Java: keywords (keys and values) as strings. */
    Object plain(Object value) {
        if (plain == null || value == null) {
            return value;
        }
        try {
            return invoke1.invoke(plain, value);
        } catch (ReflectiveOperationException error) {
            return value;
        }
    }

    /** A Ring-style {:status :headers :body} map, as plain Java; null otherwise. */
    @SuppressWarnings("unchecked")
    Map<String, Object> ringResponse(Object value) {
        if (clojureMap == null || !clojureMap.isInstance(value)) {
            return null;
        }
        Map<String, Object> map = (Map<String, Object>) plain(value);
        if (!(map.get("status") instanceof Number)
                || !java.util.Set.of("status", "headers", "body").containsAll(map.keySet())) {
            return null;
        }
        return map;
    }

    /** (ex-info "..." {:status 404}) as plain data with its status; null otherwise. */
    @SuppressWarnings("unchecked")
    Map<String, Object> httpError(Throwable error) {
        if (exData == null) {
            return null;
        }
        try {
            Object data = invoke1.invoke(exData, error);
            if (data == null) {
                return null;
            }
            Map<String, Object> map = (Map<String, Object>) plain(data);
            return map.get("status") instanceof Number ? map : null;
        } catch (ReflectiveOperationException ignored) {
            return null;
        }
    }
}
