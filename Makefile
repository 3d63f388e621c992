# edge-labeler: `make up` reconciles the example specs on the local stack; `make test` runs the suite.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv lint format test up bench example-data clean docs

venv: $(STAMP)

# The pinned packages are installed with uv (pinned in requirements-dev.txt, itself installed
# with pip): it fetches, unpacks and compiles to bytecode on every core — this venv in 38 s
# instead of pip's 95 s on a 2-core machine, both from an empty cache (2026-12-04).
UV = $(BIN)/uv pip install --quiet --python $(BIN)/python --compile-bytecode
$(STAMP): requirements.txt requirements-dev.txt policy/requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check "$$(grep '^uv==' requirements-dev.txt)"
	$(UV) -r requirements.txt -r requirements-dev.txt
# pulumi-policy for tests/policy/, at the policy pack's pin, without the protobuf 5 it declares
# (policy/requirements.txt says why).
	$(UV) --no-deps "$$(grep '^pulumi-policy==' policy/requirements.txt)"
	$(UV) --no-deps -e .
	touch $(STAMP)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# The README's test command: the lint, then the suite; mypy (the slow part of the lint, ~25 s
# of CPU without its cache) runs beside the suite and its report is printed after it. Prints
# the suite's wall time at the end. The suite waits on processes and sockets more than it
# computes (one worker keeps a 2-core machine at 0.73 cores), so it runs in PYTEST_WORKERS
# processes, a test file per worker at a time (module fixtures, such as a trained model, are
# built once); `PYTEST_WORKERS=0 make test` runs it in one.
PYTEST_WORKERS ?= 3
test: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	@start=$$(date +%s); log=$$(mktemp); \
	$(BIN)/mypy >"$$log" 2>&1 & mypy=$$!; \
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadfile; status=$$?; \
	wait $$mypy; typed=$$?; echo "$(BIN)/mypy"; cat "$$log"; rm -f "$$log"; \
	echo "test suite time: $$(( $$(date +%s) - start )) s (exit $$status, mypy exit $$typed)"; \
	if [ $$status -eq 5 ]; then echo "no tests were collected: that is a failure"; fi; \
	if [ $$status -eq 0 ]; then status=$$typed; fi; \
	exit $$status

# The main job: reconcile specs/ on the `local` stack against the local emulator.
# The CLI first (seconds), the venv next (minutes): a missing CLI is found before the build.
up:
	bash scripts/pulumi-cli.sh
	$(MAKE) venv
	bash scripts/up.sh

# One table of every figure (bench/table.py runs each bench/bench_*.py and collects its rows).
bench: venv
	$(BIN)/python bench/table.py

example-data: venv
	$(BIN)/python scripts/make_example_data.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache build *.egg-info

# Regenerates README.md's spec and command-line reference sections from components/schemas/
# and the edgectl parser (tests/spec/test_schemas_and_readme.py fails when they are out of
# date), and the combined components/schemas/spec.schema.json (tests/test_packaging.py).
docs: venv
	$(BIN)/python -c 'import components.cli as cli; cli.update_readme("README.md")'
	$(BIN)/python -c 'import components.spec.schema as s; s.write_combined_schema()'
