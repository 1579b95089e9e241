# Imagefill: `make demo` runs the worker on the embedded default, `make test` runs every test.
# Each target installs only what it needs, and nothing at all when it is already there.
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin

.PHONY: setup webadd-fixture-deps setup-demo system-deps-demo system-deps-test demo demo-panel test lint bench bench-review bench-audit bench-realtime clean constraints

# What `make demo` needs: the runtime package and PostgreSQL.
setup-demo: system-deps-demo $(VENV)/.installed-runtime

# What `make test` needs on top: test tools, pgTAP's pg_prove, the Supabase CLI.
setup: system-deps-test $(VENV)/.installed-dev node_modules/.installed web/node_modules/.installed webadd-fixture-deps

system-deps-demo:
	@bash scripts/install-system-deps.sh demo

system-deps-test:
	@bash scripts/install-system-deps.sh test

$(VENV)/bin/python:
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(VENV)/.installed-runtime: pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install -q -e .
	@touch $@

$(VENV)/.installed-dev: pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install -q -e '.[dev]'
	@touch $@ $(VENV)/.installed-runtime

node_modules/.installed: package.json package-lock.json
	npm install --no-audit --no-fund --loglevel=error
	@touch $@

# The review panel (Next.js): exact versions from web/package-lock.json.
web/node_modules/.installed: web/package.json web/package-lock.json
	cd web && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# The fixture apps of `imagefill web add`'s tests: one shared install (create-next-app, next, @supabase/ssr)
# under .local/webadd-deps/<lockfile hash>/, from tests/webadd/fixture-deps (nothing when already there).
webadd-fixture-deps: $(VENV)/.installed-dev
	$(PY) -c "from tests.webadd.fixture_apps import shared_install; shared_install()"

# `make demo` runs the worker demo (it always ends). Then, only in an interactive terminal (not in CI),
# it keeps the review panel up for a signed-in demo operator until Ctrl+C. PANEL=0 skips the panel,
# PANEL=1 forces it. The panel needs npm (web/: npm ci) and builds once with `next build`.
PANEL ?= auto
demo: setup-demo
	$(BIN)/imagefill demo
	@if [ "$(PANEL)" = 1 ] || { [ "$(PANEL)" = auto ] && [ -t 0 ] && [ -t 1 ] && [ -z "$$CI" ]; }; then \
	  $(MAKE) --no-print-directory demo-panel; \
	else echo "Painel /monitoramento: rode \`make demo-panel\` (ou \`make demo PANEL=1\`) para abri-lo no navegador."; fi

demo-panel: setup-demo web/node_modules/.installed
	$(BIN)/imagefill demo --panel

lint: setup
	$(BIN)/ruff check worker tests bench
	$(BIN)/ruff format --check worker tests bench
	$(BIN)/mypy

test: lint
	$(BIN)/pytest

clean:
	rm -rf $(VENV) node_modules web/node_modules web/.next web/.next-test .pytest_cache .mypy_cache .ruff_cache

# Benchmarks (never part of `make test`): the bench extra brings the peers we compare with.
$(VENV)/.installed-bench: pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install -q -e '.[dev,bench]'
	@touch $@ $(VENV)/.installed-dev $(VENV)/.installed-runtime

bench: setup $(VENV)/.installed-bench
	$(PY) -m bench.run_all --from-make

# Pinned runtime dependencies for a reproducible VPS install (`pip install -c constraints.txt .`):
# resolved in a fresh venv from pyproject.toml, exactly what `pip install .` gets today.
constraints:
	rm -rf .local/constraints-venv
	python3 -m venv .local/constraints-venv
	.local/constraints-venv/bin/pip install -q --upgrade pip
	.local/constraints-venv/bin/pip install -q .
	{ sed -n '/^#/p' constraints.txt; .local/constraints-venv/bin/pip freeze --exclude imagefill; } > constraints.txt.new
	mv constraints.txt.new constraints.txt
	rm -rf .local/constraints-venv

# The review panel's speed (Chromium clears 50 items with the keyboard); standalone, not in bench/RESULTS.md.
bench-review: setup web/node_modules/.installed
	$(PY) -m bench.bench_review_speed --items 50

# The same measure for the audit list ("Aprovadas automaticamente", key C); standalone too.
bench-audit: setup web/node_modules/.installed
	$(PY) -m bench.bench_audit_speed --items 50

# One open panel, live (Realtime) vs polling: queries/min idle and during a paced 10,000-job drain,
# job done -> panel updated p50/p95 (about 6 min); standalone too.
bench-realtime: setup web/node_modules/.installed
	$(PY) -m bench.bench_realtime --idle 60 --jobs 10000 --drain-seconds 60
