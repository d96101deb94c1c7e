# Haven: two commands do all the set-up on a fresh machine with Python 3.11.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench check clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/haven demo

test: $(STAMP)
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
