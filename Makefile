# One entry point for a fresh machine: every target installs what it needs first.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8080
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1
export CDK_DISABLE_VERSION_CHECK := 1
export CDK_CLI_NOTICES := false

.PHONY: help setup browser test lint format synth demo bench train clean

help:
	@echo "make demo    run the whole product on http://127.0.0.1:$(PORT) (website, API, local endpoint)"
	@echo "make test    install everything, lint, and run the whole test suite"
	@echo "make synth   synthesize all five stacks into cdk.out (offline, no credentials)"
	@echo "make bench   measure synth, tests, handler, local API and model against their targets"
	@echo "make format  apply ruff formatting and safe fixes"

$(VENV)/.installed: requirements.txt requirements-dev.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

setup: $(VENV)/.installed node_modules/.installed

# Debian's Chromium drives the browser test; Playwright's own browser download cannot run offline.
browser:
	@if [ ! -x /usr/bin/chromium ]; then \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; \
	fi

lint: setup
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: setup
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

test: setup browser lint
	$(PY) -m pytest

synth: setup
	npx cdk synth --quiet

train: setup
	$(PY) -m mysfits train

demo: setup
	$(PY) -m mysfits serve --port $(PORT)

bench: setup
	$(PY) benchmarks/run.py

clean:
	rm -rf cdk.out .pytest_cache .ruff_cache .hypothesis test-artifacts
