# Mostrador: `make` lists the targets. `make demo` and `make test` bootstrap a fresh Debian machine themselves.
.DEFAULT_GOAL := help
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
EXTRAS := hub,edge,devices,dev
PG_BIN ?= /usr/lib/postgresql/15/bin
DEMO_SECONDS ?= 60
# Test processes side by side (pytest-xdist; `auto` = one per CPU core); each file runs whole in one of them.
PYTEST_WORKERS ?= auto
export DEMO_SECONDS PG_BIN

# Debian packages: binary that must exist -> package that provides it.
SYSTEM_NEEDS := /usr/sbin/mosquitto:mosquitto $(PG_BIN)/postgres:postgresql-15 \
	/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc:fonts-wqy-zenhei \
	/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf:fonts-dejavu-core \
	/usr/bin/chromium:chromium /usr/bin/chromedriver:chromium-driver /usr/bin/faketime:faketime \
	/usr/bin/npm:npm
# The dashboard's front-end packages (npm, pinned by package-lock.json), copied where the hub serves them.
VENDOR := hub/dashboard/static/vendor
NODE_STAMP := node_modules/.mostrador-installed
VENDOR_FILES := node_modules/htmx.org/dist/htmx.min.js node_modules/chart.js/dist/chart.umd.js

.PHONY: help bootstrap system assets demo test test-dates check lint typecheck fmt bench clean

help: ## list the targets
	@echo "Mostrador make targets:"
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([a-z-]+):.*## (.*)/  \1\t\2/' | expand -t 14
	@echo
	@echo "Variables: DEMO_SECONDS=$(DEMO_SECONDS) (demo length), PYTEST_WORKERS=$(PYTEST_WORKERS) (test processes), PYTEST_ARGS (extra pytest arguments)"

system: ## install missing Debian packages (mosquitto, PostgreSQL 15, fonts, Chromium for browser tests); needs root only when one is missing
	@missing=""; \
	for pair in $(SYSTEM_NEEDS); do \
	  bin=$${pair%%:*}; pkg=$${pair##*:}; \
	  [ -e "$$bin" ] || missing="$$missing $$pkg"; \
	done; \
	$(PYTHON) -c 'import venv, ensurepip' 2>/dev/null || missing="$$missing python3-venv"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" != 0 ]; then \
	    echo "error: missing Debian packages:$$missing"; \
	    echo "       run as root, or ask an administrator to run: apt-get install -y$$missing"; \
	    exit 1; \
	  fi; \
	  echo "installing Debian packages:$$missing"; \
	  apt-get update -qq; \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  systemctl disable --now mosquitto >/dev/null 2>&1 || true; \
	fi

$(STAMP): pyproject.toml constraints.txt
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; install python3 (>= 3.11)"; exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "error: Python >= 3.11 needed"; exit 1; }
	@[ -x $(BIN)/python ] || $(PYTHON) -m venv $(VENV)
	@echo "installing Python dependencies into $(VENV) (pinned by constraints.txt)"
	@$(BIN)/python -m pip install -q --upgrade pip
	@$(BIN)/python -m pip install -q -c constraints.txt -e '.[$(EXTRAS)]'
	@touch $(STAMP)

# npm ci again whenever node_modules is missing or the lock file changed; nothing is fetched at run time.
$(NODE_STAMP): package.json package-lock.json
	@echo "installing the dashboard's front-end packages (pinned by package-lock.json)"
	@npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
	@touch $(NODE_STAMP)

$(VENDOR)/.installed: $(NODE_STAMP)
	@mkdir -p $(VENDOR)
	@cp $(VENDOR_FILES) $(VENDOR)/
	@touch $@

assets: system $(VENDOR)/.installed ## install the dashboard's npm packages (npm ci) and copy them to the hub's static directory

bootstrap: system $(STAMP) $(VENDOR)/.installed ## create the virtual environment, install what is missing, copy the dashboard's assets

demo: bootstrap ## run a broker, the hub and three simulated boxes for DEMO_SECONDS, then reconcile
	$(BIN)/python -m devkit.demo --seconds $(DEMO_SECONDS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache

typecheck: $(STAMP)
	$(BIN)/mypy

check: lint typecheck ## ruff (lint and format), the import layers (import-linter) and mypy --strict

fmt: $(STAMP) ## format the code and apply safe lint fixes
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test: bootstrap check ## lint, type-check, the whole suite (the short versions of the soaks), then test-dates
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadfile $(PYTEST_ARGS)
	@$(MAKE) --no-print-directory test-dates

# The hub's database never computes a date (every "now" comes from Python), so these runs use SQLite only.
# Each run: "ZONE HH:MM:SS": the machine's zone (TZ) and the wall-clock time there the faked clock starts at,
# its next occurrence (within a day: never in the past, so what the first run built, such as the cached Tryton
# database, is never from the future); the clock then runs. 23:30 in Mexico City is 05:30 UTC of the next day.
FAKETIME_RUNS := UTC=05:30:00 America/Mexico_City=23:30:00

test-dates: bootstrap ## the date-sensitive tests (marker `dates`) again under libfaketime, per FAKETIME_RUNS, side by side
	@logs=$$(mktemp -d); pids=""; \
	for run in $(FAKETIME_RUNS); do \
	  zone=$${run%%=*}; at=$${run#*=}; \
	  offset=$$(( $$(TZ=$$zone date -d "$$(TZ=$$zone date +%F) $$at" +%s) - $$(date +%s) )); \
	  [ $$offset -gt 0 ] || offset=$$(( offset + 86400 )); \
	  log="$$logs/$${zone//\//_}.log"; \
	  echo "date-sensitive tests with the clock at $$at in $$zone (TZ=$$zone, faketime offset $$offset s)" > "$$log"; \
	  TZ=$$zone PYTHONPATH=tests/faketime faketime --exclude-monotonic -f "+$$offset" \
	    $(BIN)/python -m pytest -m "dates and not slow and not postgres" -q >> "$$log" 2>&1 & pids="$$pids $$!"; \
	done; \
	failed=0; for pid in $$pids; do wait $$pid || failed=1; done; \
	for log in "$$logs"/*.log; do cat "$$log"; echo; done; rm -rf "$$logs"; \
	exit $$failed

bench: bootstrap ## run the benchmarks (full size) and print ratios against same-run baselines, then the soaks (marker `slow`)
	$(BIN)/python -m bench
	$(BIN)/python -m pytest -m slow -q -p no:cacheprovider

clean: ## remove the virtual environment and caches
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis var
