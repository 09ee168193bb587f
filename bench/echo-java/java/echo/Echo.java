package echo;

import funcatron.FuncRequest;
import java.util.Map;

/** bench/echo's Func in Java: the JVM host's cost against the Python one (bench/run.py, target v). */
public class Echo {
    public static Object echo(FuncRequest request) {
        return Map.of("echo", request.parameter("word"));
    }
}
