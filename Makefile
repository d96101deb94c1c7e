# Haven: two commands do all the set-up on a fresh machine with Python 3.11.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench check clean postgres

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/haven demo

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

test: $(STAMP) postgres
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

check: $(STAMP)
	$(BIN)/haven check --config config.example.yaml

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
