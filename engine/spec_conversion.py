"""Swagger 2.0 -> OpenAPI 3.0 with swagger2openapi, the kept converter (Node.js).

openapi-core validates OpenAPI 3 only; converting once, at load time, gives
Swagger 2.0 Funcs exactly the same request validation as OpenAPI 3 ones.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from funcatron_wf.engine.errors import SpecError

SWAGGER2OPENAPI_VERSION = "7.0.8"
# A checkout has it in node_modules (make installs it with `npm ci`).
_CHECKOUT_BIN = Path(__file__).resolve().parents[1] / "node_modules" / ".bin" / "swagger2openapi"


def converter_command(source: str) -> list[str]:
    if _CHECKOUT_BIN.is_file():
        return [str(_CHECKOUT_BIN)]
    installed = shutil.which("swagger2openapi")
    if installed:
        return [installed]
    raise SpecError(
        source,
        "a Swagger 2.0 spec needs swagger2openapi (Node.js) to be converted for validation; "
        "run `make deps` in the checkout, or `npm install -g "
        f"swagger2openapi@{SWAGGER2OPENAPI_VERSION}`; or write the spec as OpenAPI 3",
    )


def swagger2_to_openapi3(document: dict[str, Any], *, source: str) -> dict[str, Any]:
    command = converter_command(source)
    with tempfile.NamedTemporaryFile("w", suffix=".json") as swagger_file:
        json.dump(document, swagger_file)
        swagger_file.flush()
        done = subprocess.run(
            [*command, "--patch", "--targetVersion", "3.0.3", swagger_file.name],
            capture_output=True,
            text=True,
            check=False,
        )
    if done.returncode != 0:
        reason = (done.stderr.strip().splitlines() or ["no reason given"])[-1]
        raise SpecError(source, f"swagger2openapi could not convert it to OpenAPI 3: {reason}")
    converted: dict[str, Any] = json.loads(done.stdout)
    return converted
