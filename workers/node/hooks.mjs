// Module resolution hooks for the Node host (module.register): a Func's
// `import ... from "funcatron"` finds the platform's own package, as a
// `require("funcatron")` does through NODE_PATH. A Func that installed its
// own copy still gets this one: the host recognises one kind of Response.
export async function initialize(data) {
  packageUrl = data.packageUrl;
}

let packageUrl;

export async function resolve(specifier, context, nextResolve) {
  if (specifier === "funcatron") {
    return { url: packageUrl, format: "commonjs", shortCircuit: true };
  }
  return nextResolve(specifier, context);
}
