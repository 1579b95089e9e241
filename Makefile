# Imagefill: `make demo` runs the worker on the embedded default, `make test` runs every test.
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin

.PHONY: setup demo test lint bench clean

setup: $(VENV)/.installed node_modules/.installed
	@bash scripts/install-system-deps.sh

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@touch $@

node_modules/.installed: package.json package-lock.json
	npm install --no-audit --no-fund --loglevel=error
	@touch $@

demo: setup
	$(BIN)/imagefill demo

lint: setup
	$(BIN)/ruff check worker tests bench
	$(BIN)/ruff format --check worker tests bench
	$(BIN)/mypy

test: lint
	$(BIN)/pytest

clean:
	rm -rf $(VENV) node_modules .pytest_cache .mypy_cache .ruff_cache

bench: setup
	$(PY) -m bench.bench_enqueue --rows 10000 --repeat 5
