# coopledger: `make run` starts the service, `make test` checks everything. `make help` lists all.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000
# PostgreSQL half of the suite: set to a server where tests may create databases.
COOPLEDGER_TEST_POSTGRES_URL ?=
export COOPLEDGER_TEST_POSTGRES_URL
PYTEST_WORKERS ?= 2

.DEFAULT_GOAL := help
.PHONY: help install run test lint format check-migrations test-only js-test bench clean browser soak

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-17s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "coopledger needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $@

install: $(STAMP) ## create .venv and install coopledger with its development tools

run: install ## migrate the SQLite default, add a demo organisation on first start, serve on HOST:PORT (default 127.0.0.1:8000)
	$(BIN)/coopledger db upgrade
	$(BIN)/coopledger demo --if-empty --host '$(HOST)' --port '$(PORT)'
	$(BIN)/uvicorn app.main:app --host $(HOST) --port $(PORT)

lint: install ## ruff (lint and format check) and mypy
	$(BIN)/ruff check app tests migrations
	$(BIN)/ruff format --check app tests migrations
	$(BIN)/mypy app

format: install ## apply ruff's fixes and formatting
	$(BIN)/ruff check --fix app tests migrations
	$(BIN)/ruff format app tests migrations

check-migrations: install ## alembic check: the models match the migrations
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	  DATABASE_URL="sqlite:///$$tmp/check.db" $(BIN)/alembic -x quiet=1 upgrade head >/dev/null && \
	  DATABASE_URL="sqlite:///$$tmp/check.db" $(BIN)/alembic check

# The browser tests drive Debian's chromium with Playwright (never `playwright install`).
CHROMIUM ?= /usr/bin/chromium
browser: ## install Debian's chromium for the browser tests, if it is missing (apt-get, as root)
	@if [ ! -x "$(CHROMIUM)" ]; then \
	  echo "installing chromium (Debian package) for the browser tests"; \
	  SUDO=$$([ "$$(id -u)" -eq 0 ] || echo sudo); \
	  $$SUDO apt-get update -q && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q chromium; \
	fi

test-only: install browser ## the suite alone, on SQLite and (if configured) PostgreSQL
	$(BIN)/pytest -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

# The collector app's own logic (queue, sync, money, texts) under node's built-in test runner.
js-test: ## the collector app's JavaScript unit tests (node --test; node 18 or newer)
	@command -v node >/dev/null || { echo "js-test needs node (18 or newer) on the PATH"; exit 1; }
	node --test tests/js/

test: lint check-migrations js-test test-only ## lint, alembic check, the app's JS tests and the whole suite on both databases

soak: install ## long runs: fuzzing (50 per operation), SIGKILL in sheets (4 x 2,000), seals and pushes, the books machine (40 runs: verify after every API call)
	COOPLEDGER_SOAK=1 COOPLEDGER_STATEFUL_EXAMPLES=$${COOPLEDGER_STATEFUL_EXAMPLES:-40} COOPLEDGER_FUZZ_EXAMPLES=$${COOPLEDGER_FUZZ_EXAMPLES:-50} COOPLEDGER_CRASH_ROUNDS=$${COOPLEDGER_CRASH_ROUNDS:-4} \
	  COOPLEDGER_CRASH_ITEMS=$${COOPLEDGER_CRASH_ITEMS:-2000} $(BIN)/pytest -n $(PYTEST_WORKERS) tests/security/test_fuzz_api.py tests/reliability tests/ledger/test_stateful.py tests/ledger/test_books_machine.py $(PYTEST_ARGS)

bench: install ## benchmarks under tests/perf (PostgreSQL: COOPLEDGER_BENCH_POSTGRES_URL)
	$(BIN)/pytest tests/perf -p no:randomly -s -q $(PYTEST_ARGS)

clean: ## remove the virtualenv and local data
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache
