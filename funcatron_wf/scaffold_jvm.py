"""`funcatron-wf new NAME --lang java|scala|clojure`: a JVM Func folder.
Java and Scala come with `build.sh` (javac or scalac against the host's
API, then a JAR in the folder: what `dev` serves, and a new JAR reloads
it); Clojure is its sources under src/, nothing to build."""

from __future__ import annotations

from funcatron_wf.workers.jvm_host import HOST_JAR

JVM_LANGUAGES = ("java", "scala", "clojure")

JAVA_CODE = """package {package};

import funcatron.FuncRequest;
import funcatron.HTTPError;
import funcatron.Response;
import java.util.LinkedHashMap;
import java.util.Map;

/** The {name} Func's operations: static methods of a FuncRequest. */
public class Ops {{
    public static Object hello(FuncRequest request) {{
        return Map.of("greeting", "Hello, " + request.parameter("who"));
    }}

    @SuppressWarnings("unchecked")
    public static Object addItem(FuncRequest request) {{
        Map<String, Object> body = (Map<String, Object>) request.body();
        if (String.valueOf(body.get("name")).isBlank()) {{
            throw new HTTPError(422, "an item needs a name");
        }}
        Map<String, Object> item = new LinkedHashMap<>();
        item.put("id", request.requestId().substring(0, 8));
        item.put("quantity", 1);
        item.putAll(body);
        return new Response(item, 201);
    }}
}}
"""

SCALA_CODE = """package {package}

import funcatron.{{FuncRequest, HTTPError, Response}}

/** The {name} Func's operations: an object's methods of a FuncRequest. */
object Ops {{
  def hello(request: FuncRequest): Any =
    java.util.Collections.singletonMap("greeting", s"Hello, ${{request.parameter("who")}}")

  def addItem(request: FuncRequest): Any = {{
    val body = request.body.asInstanceOf[java.util.Map[String, Object]]
    if (String.valueOf(body.get("name")).trim.isEmpty) throw new HTTPError(422, "an item needs a name")
    val item = new java.util.LinkedHashMap[String, Object]()
    item.put("id", request.requestId.substring(0, 8))
    item.put("quantity", Int.box(1))
    item.putAll(body)
    new Response(item, 201)
  }}
}}
"""

CLOJURE_CODE = """(ns {name}.core
  "The {name} Func's operations: functions of a request map."
  (:require [clojure.string :as string]))

(defn hello [{{:keys [parameters]}}]
  {{:greeting (str "Hello, " (:who parameters))}})

(defn add-item [{{:keys [body request-id]}}]
  (when (string/blank? (:name body))
    (throw (ex-info "an item needs a name" {{:status 422}})))
  {{:status 201 :body (merge {{:id (subs request-id 0 8) :quantity 1}} body)}})
"""

BUILD = """#!/bin/sh
# Builds {name}.jar, the code `funcatron-wf dev` serves (a new JAR reloads
# it), with {compiler} against the funcatron API in the platform's JVM host.
set -eu
cd "$(dirname "$0")"
api="{api}"
classes=$(mktemp -d)
trap 'rm -rf "$classes"' EXIT
{compile}
jar --create --file {name}.jar -C "$classes" .
echo "built {name}.jar"
"""

COMPILE = {
    "java": ('javac --release 17 -cp "$api" -d "$classes" $(find java -name "*.java")', "javac"),
    "scala": (
        'scalac -target:jvm-1.8 -cp "$api" -d "$classes" $(find scala -name "*.scala")',
        "scalac",
    ),
}

README = """# {name}

A {title} Func for funcatron-wf: `openapi.yaml` declares its endpoints and
{where} holds the code each `operationId` names. {build}Serve it with
`funcatron-wf dev {name}` and call it with
`curl -H 'Host: {name}.local' http://127.0.0.1:8080/hello/Ada`; deploy it
with `funcatron-wf deploy {name}`.
"""


def jvm_files(language: str, name: str, spec: str) -> dict[str, str]:
    """The folder's files (relative path -> text) for ``language``; ``spec``
    is the OpenAPI template, with {name}, {hello} and {add_item} to fill."""
    package = name.replace("-", "_")
    if language == "clojure":
        path = f"src/{package}/core.clj"
        return {
            "openapi.yaml": spec.format(
                name=name, hello=f"{name}.core/hello", add_item=f"{name}.core/add-item"
            ),
            path: CLOJURE_CODE.format(name=name),
            "README.md": README.format(
                name=name, title="Clojure", where=f"`{path}`", build="Nothing to build. "
            ),
        }
    source_dir, suffix, code = (
        ("java", "java", JAVA_CODE) if language == "java" else ("scala", "scala", SCALA_CODE)
    )
    compile_line, compiler = COMPILE[language]
    path = f"{source_dir}/{package}/Ops.{suffix}"
    return {
        "openapi.yaml": spec.format(
            name=name, hello=f"{package}.Ops.hello", add_item=f"{package}.Ops.addItem"
        ),
        path: code.format(name=name, package=package),
        "build.sh": BUILD.format(name=name, compiler=compiler, api=HOST_JAR, compile=compile_line),
        "README.md": README.format(
            name=name,
            title=language.capitalize(),
            where=f"`{path}`",
            build=f"Build it with `./build.sh` (a JAR, `{name}.jar`, in the folder). ",
        ),  # fmt: skip
    }
