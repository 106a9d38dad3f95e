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

.PHONY: all venv dist test lint typecheck pytest demo bench docs dashboards clean collector prometheus postgres compose-schema hey up down status

all: test

$(STAMP): requirements/lock.txt requirements/dev.txt instrumentation/pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "Python 3.11+ is required ($(PYTHON))"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip==25.3
	$(BIN)/python -m pip install --quiet -c requirements/lock.txt -r requirements/dev.txt -e 'instrumentation[postgres,evaluators,google,bedrock,langchain,llama-index,mcp,litellm,agents]'
	touch $(STAMP)

venv: $(STAMP)

lint: venv
	$(BIN)/ruff check --no-cache .
	$(BIN)/ruff format --no-cache --check .
	$(BIN)/lint-imports

typecheck: venv
	$(BIN)/mypy instrumentation/src
	$(BIN)/mypy --strict grafana stack

# The stack's native parts: the project's collector build (cached outside the repository) and Debian's
# Prometheus, promtool and Alertmanager. Debian's packages start their services where systemd runs; `make up`
# then reports port 9090 or 9093 taken (set GLASSBOX_PROMETHEUS_PORT / GLASSBOX_ALERTMANAGER_PORT, or stop them).
collector:
	bash collector/build.sh

prometheus:
	@if command -v prometheus >/dev/null && command -v promtool >/dev/null && command -v prometheus-alertmanager >/dev/null; then \
		echo "prometheus: $$(command -v prometheus) and $$(command -v prometheus-alertmanager) are installed"; \
	else \
		echo "prometheus: installing Debian's prometheus and prometheus-alertmanager packages"; \
		sudo=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		export DEBIAN_FRONTEND=noninteractive; \
		$$sudo apt-get install -y --no-install-recommends prometheus prometheus-alertmanager \
			|| { $$sudo apt-get update && $$sudo apt-get install -y --no-install-recommends prometheus prometheus-alertmanager; }; \
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

# The compose CLI itself (github.com/docker/compose/v5, package cmd) as $(GLASSBOX_CACHE_DIR)/bin/docker-compose, which
# tests/stack/test_compose_cli.py runs (standalone, `config` needs no Docker engine). Built in its own module as its
# Makefile does (its go.mod has exclude directives, which `go install pkg@version` refuses), from the Go module proxy
# alone: its go.sum pins every module, nothing is fetched from version control, and once cached it rebuilds offline.
COMPOSE_CLI_VERSION := v5.6.0
COMPOSE_CLI_MODULE := github.com/docker/compose/v5@$(COMPOSE_CLI_VERSION)
COMPOSE_CLI := $(GLASSBOX_CACHE_DIR)/bin/docker-compose
.PHONY: compose-cli
compose-cli:
	@test "v$$($(COMPOSE_CLI) version --short 2>/dev/null)" = $(COMPOSE_CLI_VERSION) || { \
		command -v go >/dev/null || { echo "compose-cli: Go is required to build $(COMPOSE_CLI_MODULE); none is on PATH" >&2; exit 1; }; \
		echo "compose-cli: building $(COMPOSE_CLI_MODULE) into $(COMPOSE_CLI)"; \
		export GOMODCACHE=$(GLASSBOX_CACHE_DIR)/go/mod GOCACHE=$(GLASSBOX_CACHE_DIR)/go/build GOFLAGS=-modcacherw; \
		export GOPROXY="$$(go env GOPROXY | sed -E 's/[,|]?direct$$//')"; \
		{ go mod download $(COMPOSE_CLI_MODULE) && cd $(GLASSBOX_CACHE_DIR)/go/mod/$(COMPOSE_CLI_MODULE) && go build -trimpath \
			-ldflags "-w -X github.com/docker/compose/v5/internal.Version=$(COMPOSE_CLI_VERSION)" -o $(COMPOSE_CLI) ./cmd; } \
		|| { echo "compose-cli: could not build $(COMPOSE_CLI_MODULE) from the Go module proxy (GOPROXY=$$GOPROXY); see go's error above" >&2; exit 1; }; \
	}

# Helm 4 (helm.sh/helm/v4, package cmd/helm) as $(GLASSBOX_CACHE_DIR)/bin/helm, from the Go module proxy alone, for
# tests/stack/test_helm_render.py. Not part of `make test`: that test needs the charts too, which no package registry
# serves (docs/scale.md says how to put them in $(GLASSBOX_CACHE_DIR)/charts), and skips without them.
HELM_VERSION := v4.3.2
HELM_MODULE := helm.sh/helm/v4/cmd/helm@$(HELM_VERSION)
HELM := $(GLASSBOX_CACHE_DIR)/bin/helm
.PHONY: helm
helm:
	@test "$$($(HELM) version --template '{{.Version}}' 2>/dev/null)" = $(HELM_VERSION) || { \
		command -v go >/dev/null || { echo "helm: Go is required to build $(HELM_MODULE); none is on PATH" >&2; exit 1; }; \
		echo "helm: building $(HELM_MODULE) into $(HELM)"; \
		export GOBIN=$(dir $(HELM)) GOMODCACHE=$(GLASSBOX_CACHE_DIR)/go/mod GOCACHE=$(GLASSBOX_CACHE_DIR)/go/build \
			GOFLAGS=-modcacherw CGO_ENABLED=0; \
		export GOPROXY="$$(go env GOPROXY | sed -E 's/[,|]?direct$$//')"; \
		go install -trimpath -ldflags "-w -s -X helm.sh/helm/v4/internal/version.version=$(HELM_VERSION)" $(HELM_MODULE) \
		|| { echo "helm: could not build $(HELM_MODULE) from the Go module proxy (GOPROXY=$$GOPROXY); see go's error above" >&2; exit 1; }; \
	}

pytest: venv collector prometheus postgres compose-schema compose-cli
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

# The distribution (glassbox-otel): sdist and wheel in dist/, checked as PyPI will render and accept them.
dist: venv
	rm -rf dist
	$(BIN)/python -m build --outdir dist instrumentation
	$(BIN)/twine check --strict dist/*

docs: venv
	$(BIN)/python -m glassbox.cli.docs README.md

# Dashboards, alert rules, contact points and policies from grafana/dashboards.py and grafana/alerts.py.
dashboards: venv
	$(BIN)/python -m grafana.generate

clean:
	rm -rf $(VENV) .state .pytest_cache .mypy_cache .ruff_cache
