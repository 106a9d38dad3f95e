# Glassbox: `make demo` runs the main job, `make test` installs what it needs and runs every check.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
GLASSBOX_CACHE_DIR ?= $(HOME)/.cache/glassbox
# The compose file is validated against the JSON schema docker compose itself embeds (from the Go proxy).
COMPOSE_GO := github.com/compose-spec/compose-go/v2@v2.16.1
export GLASSBOX_COMPOSE_SCHEMA := $(GLASSBOX_CACHE_DIR)/go/mod/$(COMPOSE_GO)/schema/compose-spec.json
# With several OpenTelemetry distros installed, opentelemetry-instrument must be told which one to load.
export OTEL_PYTHON_DISTRO := glassbox
export OTEL_PYTHON_CONFIGURATOR := glassbox

.PHONY: all venv test lint typecheck pytest demo bench docs dashboards clean collector prometheus postgres compose-schema hey up down status

all: test

$(STAMP): requirements/lock.txt requirements/dev.txt instrumentation/pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "Python 3.11+ is required ($(PYTHON))"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip==25.3
	$(BIN)/python -m pip install --quiet -c requirements/lock.txt -r requirements/dev.txt -e 'instrumentation[postgres,google,bedrock,langchain,llama-index,mcp,litellm,agents]'
	touch $(STAMP)

venv: $(STAMP)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: venv
	$(BIN)/mypy instrumentation/src
	$(BIN)/mypy --strict grafana stack

# The stack's native parts: the project's collector build (cached outside the repository) and Debian's
# Prometheus and promtool. Debian's package starts a prometheus service where systemd runs; `make up`
# then reports port 9090 taken (set GLASSBOX_PROMETHEUS_PORT, or stop that service).
collector:
	bash collector/build.sh

prometheus:
	@if command -v prometheus >/dev/null && command -v promtool >/dev/null; then \
		echo "prometheus: $$(command -v prometheus) is installed"; \
	else \
		echo "prometheus: installing Debian's prometheus package"; \
		sudo=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		export DEBIAN_FRONTEND=noninteractive; \
		$$sudo apt-get install -y --no-install-recommends prometheus \
			|| { $$sudo apt-get update && $$sudo apt-get install -y --no-install-recommends prometheus; }; \
	fi

# Debian's PostgreSQL for the fleet state's tests and the native stack (tests start their own clusters), with the
# pgaudit extension of the same major version: PostgreSQL itself records every read of the audit table.
postgres:
	@if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null; then \
		echo "postgres: $$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | tail -1) is installed"; \
	else \
		echo "postgres: installing Debian's postgresql package"; \
		sudo=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		export DEBIAN_FRONTEND=noninteractive; \
		$$sudo apt-get install -y --no-install-recommends postgresql \
			|| { $$sudo apt-get update && $$sudo apt-get install -y --no-install-recommends postgresql; }; \
	fi
	@major=$$(ls /usr/lib/postgresql | sort -n | tail -1); \
	if [ -f /usr/lib/postgresql/$$major/lib/pgaudit.so ]; then \
		echo "postgres: pgaudit for PostgreSQL $$major is installed"; \
	else \
		echo "postgres: installing Debian's postgresql-$$major-pgaudit package"; \
		sudo=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		export DEBIAN_FRONTEND=noninteractive; \
		$$sudo apt-get install -y --no-install-recommends postgresql-$$major-pgaudit \
			|| { $$sudo apt-get update && $$sudo apt-get install -y --no-install-recommends postgresql-$$major-pgaudit; }; \
	fi

# The load generator of benchmarks/overhead.py, from the Go module proxy (cached outside the repository).
HEY := github.com/rakyll/hey@v0.1.5
hey:
	@test -x $(GLASSBOX_CACHE_DIR)/bin/hey || GOBIN=$(GLASSBOX_CACHE_DIR)/bin GOMODCACHE=$(GLASSBOX_CACHE_DIR)/go/mod \
		GOFLAGS=-modcacherw go install $(HEY)

compose-schema:
	@test -f $(GLASSBOX_COMPOSE_SCHEMA) || GOMODCACHE=$(GLASSBOX_CACHE_DIR)/go/mod GOFLAGS=-modcacherw \
		go mod download $(COMPOSE_GO)

pytest: venv collector prometheus postgres compose-schema
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/pytest

test: lint typecheck pytest

demo: venv collector prometheus postgres
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python examples/run_demo.py

# The stack alone: Docker when an engine answers, natively otherwise (see docs/stack.md).
up: venv collector prometheus postgres
	$(BIN)/python -m stack.native up $(if $(GATEWAYS),--gateways $(GATEWAYS))

down: venv
	$(BIN)/python -m stack.native down

status: venv
	$(BIN)/python -m stack.native status

bench: venv collector postgres hey
	PATH="$(abspath $(BIN)):$(GLASSBOX_CACHE_DIR)/bin:$$PATH" $(BIN)/python benchmarks/overhead.py
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python benchmarks/log_format.py
	$(BIN)/python benchmarks/collector_throughput.py
	$(BIN)/python benchmarks/audit_append.py
	$(BIN)/python benchmarks/state_guard.py
	$(BIN)/python benchmarks/audit_central.py
	$(BIN)/python benchmarks/kill_switch.py

docs: venv
	$(BIN)/python -m glassbox.cli.docs README.md

# Dashboards, alert rules, contact points and policies from grafana/dashboards.py and grafana/alerts.py.
dashboards: venv
	$(BIN)/python -m grafana.generate

clean:
	rm -rf $(VENV) .state .pytest_cache .mypy_cache .ruff_cache
