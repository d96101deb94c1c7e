# Haven: two commands do all the set-up on a fresh machine with Python 3.11.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The browser tests drive the distribution's Chromium; `make test` installs it when missing
# (Debian/Ubuntu, as root or with sudo). Nothing is downloaded by the tests themselves.
CHROMIUM := /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: demo test lint bench check clean browser postgres

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/haven demo

$(CHROMIUM):
	@if command -v apt-get >/dev/null 2>&1; then \
	  echo "Installing Debian's chromium for the browser tests"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  $(SUDO) apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1 || \
	  { $(SUDO) apt-get update -qq && \
	    $(SUDO) apt-get install -y -qq --no-install-recommends chromium >/dev/null; } || \
	  echo "Could not install chromium: the browser tests will be skipped (they fail under CI)"; \
	else echo "No apt-get: install Chromium yourself and set HAVEN_CHROMIUM for the browser tests"; fi

browser: $(CHROMIUM)


# The storage tests start a throw-away PostgreSQL themselves; they need Debian's server
# binaries (/usr/lib/postgresql/*/bin/initdb). Installed here when missing (CI runs as root).
postgres:
	@if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update && apt-get install -y --no-install-recommends postgresql; \
	  else \
	    echo "PostgreSQL server binaries missing: sudo apt-get install postgresql" >&2; exit 1; \
	  fi; \
	fi

test: $(STAMP) $(CHROMIUM) postgres
	$(BIN)/ruff check bot tests bench
	$(BIN)/mypy bot
	$(BIN)/haven check --config config.example.yaml
	$(BIN)/haven rules test
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check bot tests bench
	$(BIN)/mypy bot

bench: $(STAMP)
	$(BIN)/python bench/engine.py
	$(BIN)/python bench/pipeline.py

check: $(STAMP)
	$(BIN)/haven check --config config.example.yaml

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
