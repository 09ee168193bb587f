// An ES module: async functions, a promise, a host that dies mid-request.
import fs from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";

export async function waitThenAnswer() {
  await sleep(50);
  return "answered after an await";
}

export function diesOnFirstTry({ request }) {
  if (request.attempt === 1) {
    // the test kills this host now; the retry finds a new one
    fs.writeFileSync(process.env.JS_CALLS_PID_FILE, String(process.pid));
    return new Promise(() => {});
  }
  return { attempt: request.attempt, pid: process.pid };
}

export function greet({ body }) {
  return Promise.resolve({ greeting: `Hello, ${body.name}` });
}

export function hangs() {
  for (;;) {} // spins: only the end of its process stops it
}
