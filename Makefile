# Autopay Agent: the two commands are `make demo` and `make test`.
# Everything else here is what they are made of.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test check lint format migrate bench postman browser-deps clean help

help:
	@echo "make demo   - set up everything, run the agent, serve the dashboard"
	@echo "make test   - set up the same way and run the whole test suite"
	@echo "make check  - ruff, ruff format --check, mypy, tests"

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

test: $(STAMP) browser-deps
	$(BIN)/autopay db upgrade
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check autopay_app tests/unit/ledger tests/conftest.py

format: $(STAMP)
	$(BIN)/ruff format .

check: lint test

bench: migrate
	$(BIN)/autopay bench ledger

# The Postman collection under newman against a real app (newman installed with npm on first use).
postman: $(STAMP)
	$(BIN)/python -m pytest -rs tests/e2e/postman

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
