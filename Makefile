# One entry point for a fresh machine: every target installs what it needs first.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8080
# Node.js 22 and 24 are supported; 20 is end of life for the CDK (2026-10-30): it still works, with a warning
# from `make node-check`, and only there are jsii's own per-import warnings silenced.
NODE_MAJOR := $(shell node --version 2>/dev/null | sed -E 's/^v([0-9]+)\..*/\1/')
ifeq ($(NODE_MAJOR),20)
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1
endif
export CDK_DISABLE_VERSION_CHECK := 1
export CDK_CLI_NOTICES := false

# The modules the notebook imports run on the SageMaker kernel's Python 3.10.
NOTEBOOK_MODULES := mysfits/__init__.py mysfits/settings.py mysfits/project_files.py mysfits/ml/__init__.py \
	mysfits/ml/data.py mysfits/ml/training.py mysfits/ml/model.py mysfits/ml/sagemaker_job.py
# The command is written into each lock's header, where Dependabot reads the options to re-lock the same way.
UV_COMPILE = $(VENV)/bin/uv pip compile --quiet --generate-hashes --universal --python-version 3.11

.PHONY: help node-check setup browser unit test lint typecheck check-workflows format synth diff integ integ-destroy lock \
	demo bench train clean

help:
	@echo "make demo    run the whole product on http://127.0.0.1:$(PORT) (website, API, local endpoint)"
	@echo "make unit    the fast tests alone, in seconds (no CDK synthesis, browser, notebook, slow servers)"
	@echo "make test    install everything, lint, and run the whole test suite"
	@echo "make synth   synthesize all five stacks into cdk.out (offline, no credentials)"
	@echo "make bench   measure synth, tests, handler, local API and model against their targets"
	@echo "make format  apply ruff formatting and safe fixes"
	@echo "make lock    re-pin every Python dependency, with hashes, from requirements*.in"
	@echo "make diff    cdk diff against the deployed stacks (needs AWS credentials)"
	@echo "make integ   deploy to your AWS account, assert through the API and the website, destroy"

node-check:
	@case "$(NODE_MAJOR)" in \
	  "") echo "error: Node.js not found: install Node.js 22 or 24 (the CDK CLI needs it)" >&2; exit 1 ;; \
	  22|24) ;; \
	  20) echo "warning: Node.js 20 is end of life for the AWS CDK since 2026-10-30: upgrade to Node.js 22 or 24" >&2 ;; \
	  *) if [ "$(NODE_MAJOR)" -lt 20 ]; then \
	       echo "error: Node.js $$(node --version) is not supported by the AWS CDK: install Node.js 22 or 24" >&2; exit 1; \
	     fi; \
	     echo "note: Node.js $$(node --version) is not one the CDK is tested on (22, 24)" >&2 ;; \
	esac

# requirements-dev.txt pins, with hashes, everything (the synth dependencies included); see `make lock`.
$(VENV)/.installed: requirements.txt requirements-dev.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements-dev.txt
	touch $@

# Only what `cdk synth` needs (the diff job); `make setup` installs a superset.
$(VENV)/.synth-installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements.txt
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

setup: node-check $(VENV)/.installed node_modules/.installed

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

typecheck: setup
	$(PY) -m mypy
	$(PY) -m mypy --python-version 3.10 $(NOTEBOOK_MODULES)

# Offline: the workflow and Dependabot files against their schemas (vendored in check-jsonschema), and the
# pre-commit config; tests/test_ci_config.py checks the project's own rules (pinned actions, the skippable diff job).
check-workflows: setup
	$(VENV)/bin/check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml
	$(VENV)/bin/check-jsonschema --builtin-schema vendor.dependabot .github/dependabot.yml
	$(VENV)/bin/pre-commit validate-config .pre-commit-config.yaml

# The markers are registered in pyproject.toml; conftest marks every test that uses the session synthesis `synth`.
UNIT_TESTS := not (synth or slow or browser or notebook or cli_synth)
unit: setup
	$(PY) -m pytest -q -m "$(UNIT_TESTS)"

test: setup browser lint typecheck check-workflows
	$(PY) -m pytest

synth: setup
	npx cdk synth --quiet

# Reads the deployed templates through the bootstrap lookup role (see README, "CI on GitHub").
diff: node-check $(VENV)/.synth-installed node_modules/.installed
	set -o pipefail; npx cdk diff --method=template --no-color 2>&1 | tee cdk-diff.txt

# Deploys tests/integ/integ_mysfits.py to the account and region of your AWS credentials (bootstrapped), checks its
# assertions, destroys everything. INTEG_KEEP=1 leaves the stacks up; `make integ-destroy` removes them.
INTEG_CDK = npx cdk --app "$(CURDIR)/$(PY) tests/integ/integ_mysfits.py" --output cdk-integ.out --no-notices
integ: setup
	$(PY) tests/integ/run_integ.py

integ-destroy: setup
	$(INTEG_CDK) destroy --all --force

# Keeps every locked version it can; LOCK_ARGS="--upgrade-package NAME" (or --upgrade) moves them. Needs PyPI.
lock: $(VENV)/.installed
	$(UV_COMPILE) $(LOCK_ARGS) requirements.in -o requirements.txt
	$(UV_COMPILE) $(LOCK_ARGS) requirements-dev.in -o requirements-dev.txt

train: setup
	$(PY) -m mysfits train

demo: setup
	$(PY) -m mysfits serve --port $(PORT)

bench: setup
	$(PY) benchmarks/run.py

clean:
	rm -rf cdk.out .pytest_cache .ruff_cache .mypy_cache .hypothesis test-artifacts cdk-diff.txt
