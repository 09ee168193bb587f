"use strict";
// What a funcatron-wf JavaScript Func requires (the Node host resolves
// "funcatron" to this package; a copy installed from elsewhere works too:
// the host recognises these by a brand, not by identity).

const RESPONSE = Symbol.for("funcatron.Response");
const HTTP_ERROR = Symbol.for("funcatron.HTTPError");

// A reply with its own status and headers:
//   return new Response({ id: 1 }, { status: 201, headers: { location: "/pets/1" } })
// The body is sent as a JSON value (an object, array, number, ...), text (a
// string) or bytes (a Buffer or Uint8Array); null or undefined: no body.
class Response {
  constructor(body = null, { status = 200, headers = {}, contentType = null } = {}) {
    this.body = body;
    this.status = status;
    this.headers = headers;
    this.contentType = contentType;
    this[RESPONSE] = true;
  }
}

// Thrown to answer with a status and a problem document:
//   throw new HTTPError(404, "no pet 7")
class HTTPError extends Error {
  constructor(status, detail = "", { title = null, headers = {} } = {}) {
    super(detail || `HTTP ${status}`);
    this.name = "HTTPError";
    this.status = status;
    this.detail = detail;
    this.title = title;
    this.headers = headers;
    this[HTTP_ERROR] = true;
  }
}

exports.Response = Response;
exports.HTTPError = HTTPError;
exports.RESPONSE = RESPONSE;
exports.HTTP_ERROR = HTTP_ERROR;
