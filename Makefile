# Two commands for a fresh machine (Debian 12 with Python 3.11+):
#   make demo   install what is missing, then serve the examples
#   make test   install what is missing, then lint and run every test
# Both install the Debian packages that are missing, tool by tool
# (tools/system-deps: apt-get, as root or through sudo), and the project's
# pinned Python packages into .venv.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
PORT ?= 8080

.PHONY: demo test test-swarm soak lint deps system-deps bench bench-autoscale clean

demo: deps
	$(BIN)/funcatron-wf dev examples/hello examples/petstore examples/shop examples/inventory \
	  --port $(PORT) --queue demo --queue checkout

test: deps lint
	$(BIN)/pytest

# The container tests alone (images, `docker run ... dev`, the swarm substrate).
test-swarm: deps
	$(BIN)/pytest -m swarm

# The fault suite's long form (tests/faults/soak.py): ten minutes of faults
# (Runners, the Tron and the queue source killed; Temporal, RabbitMQ and nginx
# restarted; the blob store's disk filled) under load; prints the counts and
# fails unless nothing was lost, doubled or refused. `make test` runs each fault once.
soak: deps
	$(BIN)/python -m tests.faults.soak --minutes $(or $(MINUTES),10)

# The benchmark (bench/run.py): HTTP against the Temporal floor, the queue
# path against HTTP and the broker's own floor; reload latency; tracing on
# against off (bench/code_ab.py --traced); about 8 minutes.
bench: deps
	@command -v wrk >/dev/null || (echo "installing wrk with apt-get"; \
	  $(SUDO) apt-get update -q && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q wrk)
	$(BIN)/python bench/run.py
	$(BIN)/python bench/reload_latency.py
	@echo "tracing: the same stack exporting OpenTelemetry traces against it with tracing off"
	$(BIN)/python bench/code_ab.py . --traced --rounds 6 --seconds 3

# The autoscaler under a burst (bench/autoscale.py): from one Runner and from
# zero on the local substrate; prints its figures, draws docs/autoscale.png.
bench-autoscale: deps
	$(BIN)/python bench/autoscale.py

# Style, then types (mypy, strict on engine/) and which part imports which.
lint: deps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	tools/static-checks

deps: system-deps $(VENV)/.installed node_modules/.installed workers/jvm/funcatron-host.jar

system-deps:
	tools/system-deps

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip==26.3 setuptools==84.2.1 wheel==0.48.0
	$(BIN)/pip install -q -e '.[test]'
	touch $@

# The JVM language host's own JAR (javac, from workers/jvm/src; shipped in the wheel).
workers/jvm/funcatron-host.jar: $(wildcard workers/jvm/src/funcatron/*.java) $(VENV)/.installed
	$(BIN)/python -c "from funcatron_wf.workers.jvm_host import host_jar; host_jar()"

# swagger2openapi converts Swagger 2.0 specs so openapi-core validates them.
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

clean:
	rm -rf $(VENV) node_modules build *.egg-info .pytest_cache .ruff_cache
