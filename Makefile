# A fresh machine needs two commands: `make run` (the platform) or `make demo` (the platform
# with two demo n8n instances connected), and `make test` (the suite). Each first checks the
# interpreter and brings .venv in step with setup.cfg and constraints.txt (scripts/bootstrap.py).

# The newest supported interpreter on PATH; override with `make PYTHON=/path/to/python3.12`.
PYTHON ?= $(or $(shell for p in python3.13 python3.12 python3.11 python3; do \
	$$p scripts/bootstrap.py --check >/dev/null 2>&1 && { command -v $$p; break; }; done),python3)
VENV := .venv
BIN := $(VENV)/bin
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: venv run demo test test-future lint chaos system-packages lock

venv:
	@$(PYTHON) scripts/bootstrap.py --extras dev,test

run: venv
	$(BIN)/python scripts/devstack.py

demo: venv
	$(BIN)/python scripts/devstack.py --demo

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# What the suite runs besides Python: git (repositories and a smart-HTTP server), Debian's
# openssh-server (a private sshd for Git over SSH), chromium and its chromedriver (the browser
# tests; never a downloaded browser), faketime (libfaketime, for `make test-future`).
SYSTEM_COMMANDS := git /usr/sbin/sshd chromium chromedriver faketime
SYSTEM_PACKAGES := git openssh-server chromium chromium-driver faketime

system-packages:
	@for c in $(SYSTEM_COMMANDS); do command -v $$c >/dev/null || missing=1; done; \
	if [ -n "$$missing" ]; then \
		$(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq $(SYSTEM_PACKAGES); fi

# The suite in parallel, then the chaos suite (tests/chaos: real processes killed and paused,
# with a PostgreSQL and a Redis of its own), one scenario at a time.
test: lint system-packages
	$(BIN)/pytest -n auto --durations=10 $(PYTEST_ARGS)
	$(MAKE) chaos

# The same suite with the clock a year ahead in every process the tests use
# (scripts/test_future.sh): no test may depend on today's date.
test-future: lint system-packages
	scripts/test_future.sh --durations=10 $(PYTEST_ARGS)

chaos: venv
	CHAOS=1 $(BIN)/pytest -p no:xdist --durations=0 tests/chaos

# Re-resolve every dependency to its newest allowed version and pin it in constraints.txt.
lock:
	@$(PYTHON) scripts/bootstrap.py --lock
