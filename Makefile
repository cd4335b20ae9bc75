# Autopay Agent: the two commands are `make demo` and `make test`.
# Everything else here is what they are made of.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test check lint typecheck format migrate bench postman browser-deps compose-deps secrets clean help

help:
	@echo "make demo   - set up everything, run the agent, serve the dashboard"
	@echo "make test   - set up the same way and run the whole test suite"
	@echo "make check  - ruff, ruff format --check, mypy, tests"
	@echo "make typecheck - mypy on autopay_app, mock_premium_api, harness"
	@echo "make secrets - the secret files docker-compose.yml needs (then: docker compose up)"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

install: $(STAMP)

migrate: $(STAMP)
	$(BIN)/autopay db upgrade

demo: migrate
	$(BIN)/autopay demo

# Browser tests drive Debian's chromium (never Playwright's download); without it they skip.
browser-deps:
	@if [ -x /usr/bin/chromium ]; then \
		echo "browser-deps: /usr/bin/chromium is installed"; \
	elif ! command -v apt-get >/dev/null 2>&1; then \
		echo "browser-deps: no apt-get here: browser tests will be skipped (install chromium)"; \
	elif [ "$$(id -u)" != "0" ]; then \
		echo "browser-deps: not root: browser tests will be skipped (sudo make browser-deps)"; \
	else \
		apt-get update && apt-get install -y chromium || \
		echo "browser-deps: chromium could not be installed: browser tests will be skipped"; \
	fi

# The compose file is checked by a real Compose implementation (docker-compose config needs
# no Docker engine); without one that test is skipped with a printed reason.
compose-deps:
	@if command -v docker-compose >/dev/null 2>&1 || docker compose version >/dev/null 2>&1; then \
		echo "compose-deps: a Compose implementation is installed"; \
	elif ! command -v apt-get >/dev/null 2>&1; then \
		echo "compose-deps: no apt-get here: the compose file test will be skipped"; \
	elif [ "$$(id -u)" != "0" ]; then \
		echo "compose-deps: not root: the compose file test will be skipped (sudo make compose-deps)"; \
	else \
		apt-get install -y docker-compose || (apt-get update && apt-get install -y docker-compose) || \
		echo "compose-deps: docker-compose could not be installed: the compose file test will be skipped"; \
	fi

test: $(STAMP) browser-deps compose-deps
	$(BIN)/autopay db upgrade
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# The packages and the settings come from [tool.mypy] in pyproject.toml.
typecheck: $(STAMP)
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format .

check: lint typecheck test

# The secret files docker-compose.yml mounts (deploy/secrets/, never committed).
secrets: $(STAMP)
	$(BIN)/autopay compose-secrets

bench: migrate
	$(BIN)/autopay bench ledger

# The Postman collection under newman against a real app (newman installed with npm on first use).
postman: $(STAMP)
	$(BIN)/python -m pytest -rs tests/e2e/postman

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
