# Every target does its own set-up: a fresh clone needs only `make run` or `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
# `make run` needs only the package itself; `make docs` adds the `docs` extra
RUN_STAMP  := $(VENV)/.run-stamp
DOCS_STAMP := $(VENV)/.docs-stamp
VENV_STAMP := $(VENV)/.venv-stamp
E2E    := tests/e2e
# system programs the full test suite drives for real: Redis sessions, a browser, a reverse proxy
SYSTEM_PROGRAMS := redis-server chromium nginx
SYSTEM_PACKAGES := redis-server chromium nginx

.PHONY: install system-deps node-deps lint typecheck test run docs bench fuzz clean

$(VENV_STAMP):
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 10))' || \
		{ echo "Python 3.10 or newer is required (set PYTHON=python3.x)"; exit 1; }
	@$(PYTHON) -m venv $(VENV) || \
		{ echo "could not create $(VENV): install Python's venv module (Debian: apt-get install python3-venv)"; exit 1; }
	$(BIN)/python -m pip install --quiet --upgrade pip
	@touch $@

# The test tooling; it includes the package, so a later `make run` installs nothing more.
$(STAMP): pyproject.toml $(VENV_STAMP)
	$(BIN)/python -m pip install --quiet -e '.[test,redis]'
	@touch $(STAMP) $(RUN_STAMP)

# Just the package (what the example app imports), without the test tooling.
$(RUN_STAMP): pyproject.toml $(VENV_STAMP)
	$(BIN)/python -m pip install --quiet -e .
	@touch $@

$(DOCS_STAMP): pyproject.toml $(RUN_STAMP)
	@$(BIN)/python -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "make docs needs Python 3.11 or newer (Sphinx 9): set PYTHON=python3.x and run make clean"; exit 1; }
	$(BIN)/python -m pip install --quiet -e '.[docs,redis]'
	@touch $@

install: $(STAMP)

# Installs missing system programs when it can (root + apt-get); otherwise names them and stops.
system-deps:
	@missing=""; for p in $(SYSTEM_PROGRAMS); do command -v $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			echo "installing$$missing with apt-get"; \
			DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
			DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(SYSTEM_PACKAGES) >/dev/null; \
		else \
			echo "The test suite needs:$$missing. Install them (Debian/Ubuntu: sudo apt-get install $(SYSTEM_PACKAGES)) and run make test again."; \
			exit 1; \
		fi; \
	fi

# JS test peers (tests/e2e/package.json), installed exactly from the lockfile.
node-deps: $(if $(wildcard $(E2E)/package.json),$(E2E)/node_modules/.stamp)
$(E2E)/node_modules/.stamp: $(E2E)/package.json $(E2E)/package-lock.json
	@command -v npm >/dev/null 2>&1 || { echo "The e2e tests need Node.js 20+ and npm (Debian: apt-get install nodejs npm)"; exit 1; }
	cd $(E2E) && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: install
	$(BIN)/mypy --strict aiohttp_oauth2_login

test: lint typecheck system-deps node-deps
	$(BIN)/pytest

# `make run RUN_ARGS="--port 8081"` passes options on (python -m example_app --help)
run: $(RUN_STAMP)
	$(BIN)/python -m example_app $(RUN_ARGS)

# The docs site (Sphinx + MyST) with warnings as errors and nitpicky references: docs/_build/html.
docs: $(DOCS_STAMP)
	$(BIN)/sphinx-build -E -W --keep-going -n -q -b html docs docs/_build/html
	@echo "docs: file://$(CURDIR)/docs/_build/html/index.html"

clean:
	rm -rf $(VENV) docs/_build .mypy_cache .pytest_cache .ruff_cache .hypothesis build dist *.egg-info $(E2E)/node_modules test-artifacts bench/results
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

# Benchmarks: server on core 0, wrk on core 1, variants interleaved; table + bench/results/.
bench: install
	@command -v wrk >/dev/null 2>&1 || { \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk redis-server >/dev/null; \
		else echo "make bench needs wrk and redis-server (Debian: sudo apt-get install wrk redis-server)"; exit 1; fi; }
	$(BIN)/python -m pip install --quiet matplotlib
	$(BIN)/python -m bench.run

# The fuzz suite with ten times the examples of CI (HYPOTHESIS_PROFILE=long).
fuzz: install
	HYPOTHESIS_PROFILE=long $(BIN)/pytest tests/fuzz -q
