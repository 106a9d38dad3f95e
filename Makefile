# Glassbox: `make demo` runs the main job, `make test` installs what it needs and runs every check.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# With several OpenTelemetry distros installed, opentelemetry-instrument must be told which one to load.
export OTEL_PYTHON_DISTRO := glassbox
export OTEL_PYTHON_CONFIGURATOR := glassbox

.PHONY: all venv test lint typecheck pytest demo bench docs clean

all: test

$(STAMP): requirements/lock.txt requirements/dev.txt instrumentation/pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "Python 3.11+ is required ($(PYTHON))"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip==25.3
	$(BIN)/python -m pip install --quiet -c requirements/lock.txt -r requirements/dev.txt -e instrumentation
	touch $(STAMP)

venv: $(STAMP)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: venv
	$(BIN)/mypy instrumentation/src

pytest: venv
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/pytest

test: lint typecheck pytest

demo: venv
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python examples/run_demo.py

bench: venv
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python benchmarks/overhead.py
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python benchmarks/log_format.py

docs: venv
	$(BIN)/python -m glassbox.docs README.md

clean:
	rm -rf $(VENV) .state .pytest_cache .mypy_cache .ruff_cache
