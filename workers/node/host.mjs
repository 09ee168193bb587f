// The Node.js language host (docs/host-protocol.md): one process per Func
// version, started by the Runner (workers/node_host.py) as
//
//   node host.mjs FOLDER OPERATIONS_JSON [--check]
//
// OPERATIONS_JSON: {operationId: "module.exportName"}.
//
// It loads each operation (`module.exportName`: FOLDER/module.js, .mjs or
// .cjs, CommonJS or ES module), says "ready" on the pipe FUNCATRON_HOST_FD
// names, then reads calls, one JSON line each, from stdin and answers each
// there by its id; many are in
// flight at once. Everything else (timeouts, bodies in the blob store, reply
// checks, the problem documents) is the Runner's. `--check`: load, say
// "ready" (with the problems found), exit.

import { AsyncLocalStorage } from "node:async_hooks";
import fs from "node:fs";
import { register } from "node:module";
import path from "node:path";
import readline from "node:readline";
import { fileURLToPath, pathToFileURL } from "node:url";
import util from "node:util";

const here = path.dirname(fileURLToPath(import.meta.url));
const packageFile = path.join(here, "funcatron", "index.js");
register("./hooks.mjs", import.meta.url, { data: { packageUrl: pathToFileURL(packageFile).href } });
const RESPONSE = Symbol.for("funcatron.Response");
const HTTP_ERROR = Symbol.for("funcatron.HTTPError");

const [folder, operationsJson, mode] = process.argv.slice(2);
// the answers' pipe (FUNCATRON_HOST_FD), --check included
const toRunner = fs.createWriteStream(null, { fd: Number(process.env.FUNCATRON_HOST_FD) });
const currentCall = new AsyncLocalStorage(); // the call id a log line belongs to

function send(message) {
  toRunner.write(JSON.stringify(message) + "\n");
}

// A Func's console output becomes log lines carrying its call's id (the
// Runner adds the request id and the Func, as for a Python Func's logging).
const LEVELS = { debug: "debug", log: "info", info: "info", warn: "warning", error: "error" };
for (const [method, level] of Object.entries(LEVELS)) {
  console[method] = (...args) => {
    send({ type: "log", id: currentCall.getStore() ?? null, level, message: util.format(...args) });
  };
}
process.on("unhandledRejection", (reason) => {
  // a promise a Func forgot to await: said, never fatal to the other calls
  send({ type: "log", id: currentCall.getStore() ?? null, level: "error", message: `unhandled rejection: ${util.inspect(reason)}` });
});
process.on("uncaughtException", (error) => {
  // thrown from a Func's timer or callback: said, and the other calls go on
  send({ type: "log", id: currentCall.getStore() ?? null, level: "error", message: `uncaught exception: ${error?.stack ?? util.inspect(error)}` });
});

async function loadOperation(target) {
  const dot = target.lastIndexOf(".");
  if (dot <= 0) {
    throw new Error("must be module.exportName (e.g. handlers.getPet)");
  }
  const modulePath = target.slice(0, dot);
  const exportName = target.slice(dot + 1);
  const candidates = [".js", ".mjs", ".cjs", "/index.js"].map((ending) =>
    path.resolve(folder, modulePath + ending),
  );
  if (candidates.some((candidate) => !candidate.startsWith(path.resolve(folder) + path.sep))) {
    throw new Error(`names module ${JSON.stringify(modulePath)}, outside the Func's folder`);
  }
  const file = candidates.find((candidate) => fs.existsSync(candidate));
  if (file === undefined) {
    throw new Error(`names module ${JSON.stringify(modulePath)}, which is not in this folder (looked for ${modulePath}.js, .mjs, .cjs)`);
  }
  let loaded;
  try {
    loaded = await import(pathToFileURL(file).href);
  } catch (error) {
    throw new Error(`importing ${JSON.stringify(modulePath)} failed: ${error.name}: ${error.message}`);
  }
  const found = loaded[exportName] ?? loaded.default?.[exportName];
  if (typeof found !== "function") {
    throw new Error(`module ${JSON.stringify(modulePath)} exports no function ${JSON.stringify(exportName)}`);
  }
  return found;
}

function bodyOf(value, textAsJson) {
  if (value === null || value === undefined) return null;
  if (Buffer.isBuffer(value) || value instanceof Uint8Array) {
    return { kind: "bytes", base64: Buffer.from(value).toString("base64") };
  }
  if (typeof value === "string" && !textAsJson) return { kind: "text", text: value };
  return { kind: "json", value };
}

function responseOf(result, textAsJson) {
  if (result !== null && typeof result === "object" && result[RESPONSE]) {
    const headers = {};
    for (const [name, value] of Object.entries(result.headers ?? {})) headers[name.toLowerCase()] = String(value);
    if (result.contentType) headers["content-type"] = result.contentType;
    return { status: result.status, headers, body: bodyOf(result.body, false) };
  }
  return { status: 200, headers: {}, body: bodyOf(result, textAsJson) };
}

function argumentsOf(call) {
  const args = { ...call.parameters, request: call.request };
  const body = call.body;
  if (body === null) return args;
  if (body.kind === "json") {
    try {
      args.body = body.text === "" ? null : JSON.parse(body.text);
    } catch (error) {
      throw new BadBody(`the JSON body does not parse: ${error.message}`);
    }
  } else if (body.kind === "text") {
    args.body = body.text;
  } else if (body.kind === "bytes") {
    args.body = Buffer.from(body.base64, "base64");
  } else {
    args.body = body.value; // a form, parsed
  }
  return args;
}

class BadBody extends Error {}

async function answer(operations, call) {
  const operation = operations.get(call.operation);
  try {
    if (operation === undefined) {
      throw new Error(`no operation ${JSON.stringify(call.operation)} is loaded`);
    }
    if (operation.loadError) {
      send({ type: "http_error", id: call.id, status: 500, detail: `the code of this operation does not load: ${operation.loadError}`, stack: operation.loadError });
      return;
    }
    const args = argumentsOf(call);
    const result = await currentCall.run(call.id, () => operation(args));
    send({ type: "reply", id: call.id, response: responseOf(result, call.text_as_json) });
  } catch (error) {
    if (error instanceof BadBody) {
      send({ type: "bad_request", id: call.id, detail: error.message });
    } else if (error !== null && typeof error === "object" && error[HTTP_ERROR]) {
      const headers = {};
      for (const [name, value] of Object.entries(error.headers ?? {})) headers[name.toLowerCase()] = String(value);
      send({ type: "http_error", id: call.id, status: error.status, title: error.title, detail: error.detail || null, headers });
    } else {
      const name = error?.name ?? typeof error;
      const stack = error?.stack ?? util.inspect(error);
      send({ type: "raised", id: call.id, detail: `${call.operation} raised ${name}`, stack });
    }
  }
}

async function main() {
  const operations = new Map();
  const problems = [];
  // operationId -> module.exportName (the same, unless the spec names a module)
  for (const [operationId, target] of Object.entries(JSON.parse(operationsJson))) {
    try {
      operations.set(operationId, await loadOperation(target));
    } catch (error) {
      problems.push({ operation: operationId, problem: error.message });
      const broken = () => {};
      broken.loadError = error.message;
      operations.set(operationId, broken);
    }
  }
  send({ type: "ready", operations: [...operations.keys()], problems, node: process.version });
  if (mode === "--check") {
    // the answer flushed, end: a module's timers or sockets must not keep it
    toRunner.end(() => process.exit(0));
    return;
  }
  const calls = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
  calls.on("line", (line) => {
    if (!line.trim()) return;
    let call;
    try {
      call = JSON.parse(line);
    } catch (error) {
      // said, and the other calls go on
      send({ type: "log", id: null, level: "error", message: `a call that does not parse: ${error.message}` });
      return;
    }
    answer(operations, call);
  });
  calls.on("close", () => toRunner.end(() => process.exit(0))); // the Runner is gone
}

main();
