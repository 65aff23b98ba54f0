# Two commands for a fresh machine: `make run` (the platform) and `make test` (the suite).
# Both build .venv from setup.cfg first; it is rebuilt only when setup.cfg changes.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell sha1sum setup.cfg | cut -c1-12)

.PHONY: run test lint chaos

$(STAMP): setup.cfg pyproject.toml
	rm -f $(VENV)/.installed-*
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/python scripts/devstack.py

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# The suite in parallel, then the chaos suite (tests/chaos: real processes killed and paused,
# with a PostgreSQL and a Redis of its own), one scenario at a time.
test: lint
	$(BIN)/pytest -n auto --durations=10 $(PYTEST_ARGS)
	$(MAKE) chaos

chaos: $(STAMP)
	CHAOS=1 $(BIN)/pytest -p no:xdist --durations=0 tests/chaos
