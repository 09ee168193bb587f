"""`funcatron-wf new NAME`: a Func folder that `dev` serves as it is and
whose own unit test passes as it is."""

from __future__ import annotations

import re
from pathlib import Path

from funcatron_wf.engine.errors import FuncatronError
from funcatron_wf.scaffold_jvm import JVM_LANGUAGES, jvm_files
from funcatron_wf.workers.node_host import NODE_DIR

NAME_PATTERN = r"[a-z][a-z0-9-]{0,62}"
LANGUAGES = ("python", "js", "java", "scala", "clojure")

SPEC = """openapi: 3.1.0
info:
  title: {name}
  version: "0.1.0"
  description: The {name} Func. `funcatron-wf dev .` serves it; a save reloads it.
servers:
  - url: http://{name}.local/
paths:
  /hello/{{who}}:
    get:
      operationId: {hello}
      summary: Greet someone
      parameters:
        - {{name: who, in: path, required: true, schema: {{type: string}}}}
      responses:
        "200":
          description: The greeting
          content:
            application/json:
              schema:
                type: object
                properties: {{greeting: {{type: string}}}}
  /items:
    post:
      operationId: {add_item}
      summary: Store an item (here, just echo it with an id)
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              required: [name]
              properties:
                name: {{type: string}}
                quantity: {{type: integer, minimum: 1, default: 1}}
      responses:
        "201":
          description: The item as stored
"""

CODE = '''"""The {name} Func's operations: plain functions (see the README of
funcatron-wf for the calling convention)."""

from funcatron_wf import HTTPError


def hello(who: str) -> dict:
    return {{"greeting": f"Hello, {{who}}"}}


def add_item(body: dict, request) -> tuple[dict, int]:
    if body["name"].strip() == "":
        raise HTTPError(422, "an item needs a name")
    item = {{"id": request.request_id[:8], "quantity": 1, **body}}
    return item, 201
'''

TEST = '''"""Unit tests: a Func is a plain function, so call it."""

from types import SimpleNamespace

import pytest

from funcatron_wf import HTTPError
from {module} import add_item, hello


def test_hello() -> None:
    assert hello("Ada") == {{"greeting": "Hello, Ada"}}


def test_add_item() -> None:
    request = SimpleNamespace(request_id="0123456789abcdef0123456789abcdef")
    assert add_item({{"name": "pen"}}, request) == (
        {{"id": "01234567", "quantity": 1, "name": "pen"}},
        201,
    )
    with pytest.raises(HTTPError):
        add_item({{"name": " "}}, request)
'''

README = """# {name}

A Func for funcatron-wf: `openapi.yaml` declares its endpoints and
`{module}.py` holds the function each `operationId` names. Serve it with
`funcatron-wf dev {name}` (a save reloads it) and call it with
`curl -H 'Host: {name}.local' http://127.0.0.1:8080/hello/Ada`; run its unit
tests with `pytest {name}`; deploy it with `funcatron-wf deploy {name}`.
"""


JS_PACKAGE = """{{
  "name": "{name}",
  "version": "0.1.0",
  "private": true,
  "description": "The {name} Func for funcatron-wf",
  "scripts": {{"test": "node --test"}},
  "devDependencies": {{"funcatron": "file:{funcatron}"}}
}}
"""

JS_CODE = """// The {name} Func's operations: plain functions, each given one object
// with the parameters by name, the body and the request (see the README
// of funcatron-wf for the calling convention).
const {{ HTTPError, Response }} = require("funcatron");

exports.hello = ({{ who }}) => ({{ greeting: `Hello, ${{who}}` }});

exports.addItem = async ({{ body, request }}) => {{
  if (body.name.trim() === "") throw new HTTPError(422, "an item needs a name");
  const item = {{ id: request.request_id.slice(0, 8), quantity: 1, ...body }};
  return new Response(item, {{ status: 201 }});
}};
"""

JS_TEST = """// Unit tests: a Func is a plain function, so call it (`npm install` once,
// then `npm test`).
const test = require("node:test");
const assert = require("node:assert");
const {{ HTTPError }} = require("funcatron");
const {{ hello, addItem }} = require("./{module}");

test("hello", () => {{
  assert.deepStrictEqual(hello({{ who: "Ada" }}), {{ greeting: "Hello, Ada" }});
}});

test("addItem", async () => {{
  const request = {{ request_id: "0123456789abcdef0123456789abcdef" }};
  const added = await addItem({{ body: {{ name: "pen" }}, request }});
  assert.strictEqual(added.status, 201);
  assert.deepStrictEqual(added.body, {{ id: "01234567", quantity: 1, name: "pen" }});
  await assert.rejects(addItem({{ body: {{ name: " " }}, request }}), HTTPError);
}});
"""

JS_README = """# {name}

A JavaScript Func for funcatron-wf: `openapi.yaml` declares its endpoints
and `{module}.js` exports the function each `operationId` names. Serve it
with `funcatron-wf dev {name}` (a save reloads it) and call it with
`curl -H 'Host: {name}.local' http://127.0.0.1:8080/hello/Ada`; run its unit
tests with `npm install && npm test`; deploy it with `funcatron-wf deploy
{name}` (the dependencies in package.json are installed into the bundle).
"""


def scaffold(name: str, directory: Path, language: str = "python") -> Path:
    """Write the folder ``directory/name``, refusing one that exists and is not empty."""
    if not re.fullmatch(NAME_PATTERN, name):
        raise FuncatronError(
            f"{name!r} is not a Func name: lower-case letters, digits and '-', starting with a letter"
        )
    if language not in LANGUAGES:
        raise FuncatronError(f"--lang {language}: not one of {', '.join(LANGUAGES)} (yet)")
    folder = directory / name
    if folder.exists() and any(folder.iterdir()):
        raise FuncatronError(f"{folder} exists and is not empty; choose another NAME or --dir")
    module = name.replace("-", "_") + "_ops"  # unique per Func: dev serves several in one process
    folder.mkdir(parents=True, exist_ok=True)
    if language in JVM_LANGUAGES:
        files = jvm_files(language, name, SPEC)
    else:
        if language == "js":
            templates = {
                "openapi.yaml": SPEC.replace("{hello}", "{module}.hello").replace(
                    "{add_item}", "{module}.addItem"
                ),
                "package.json": JS_PACKAGE,
                f"{module}.js": JS_CODE,
                f"{module}.test.js": JS_TEST,
                "README.md": JS_README,
            }
        else:
            templates = {
                "openapi.yaml": SPEC.replace("{hello}", "{module}.hello").replace(
                    "{add_item}", "{module}.add_item"
                ),
                f"{module}.py": CODE,
                f"test_{module}.py": TEST,
                "README.md": README,
            }
        # a JavaScript Func's unit tests require the platform's own package
        funcatron = NODE_DIR / "funcatron"
        files = {
            file_name: template.format(name=name, module=module, funcatron=funcatron)
            for file_name, template in templates.items()
        }
    for file_name, text in files.items():
        (folder / file_name).parent.mkdir(parents=True, exist_ok=True)
        (folder / file_name).write_text(text)
        if file_name.endswith(".sh"):
            (folder / file_name).chmod(0o755)
    return folder
