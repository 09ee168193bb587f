package pets;

import funcatron.FuncRequest;
import java.util.function.Function;

/** An operation as a class implementing Function. */
public class Greet implements Function<FuncRequest, Object> {
    @Override
    public Object apply(FuncRequest request) {
        return "Hello, " + request.parameter("name");
    }
}
