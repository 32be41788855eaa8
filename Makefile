# Two commands for a newcomer:
#   make demo   install, run the real service on the bundled sample news site, then serve the web window on it
#   make test   install (with dev tools), then lint, type-check and run the whole test suite
PY ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo run test lint unit eval eval-real bench lock clean

$(BIN)/python:
	$(PY) -m venv $(VENV) || python3 -m venv $(VENV)

$(STAMP): requirements.lock requirements-bootstrap.lock pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements-bootstrap.lock
	$(BIN)/pip install --quiet --require-hashes -r requirements.lock
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/wirewatch demo --web

run: install
	$(BIN)/wirewatch run

lint: install
	$(BIN)/ruff check worker scheduler tests bench
	$(BIN)/ruff format --check worker scheduler tests bench
	$(BIN)/mypy

test: lint
	$(BIN)/python -m pytest -q

eval: install
	WIREWATCH=$(BIN)/wirewatch ../shared/eval/run ../shared/eval/dev

# Real-data dev sets (ACLED, CASE, GVA) built as ../shared/eval/real/README.md says;
# WIREWATCH_REAL_EVAL names their folder (default ../scratch/real).
eval-real: install
	$(BIN)/python bench/eval_real.py

bench: install
	$(BIN)/python bench/extract.py
	$(BIN)/python bench/dedupe.py --quick
	$(BIN)/python bench/e2e.py --quick
	$(BIN)/python bench/web.py --quick

# Regenerate the hash-pinned locks from pyproject.toml (needs the package index): the full one
# (with the dev tools) for `make install`, then the runtime one for the Docker image, seeded
# from the full one so both carry the same pins.
lock:
	$(BIN)/pip install --quiet pip-tools
	$(BIN)/pip-compile --quiet --generate-hashes --extra dev --strip-extras -o requirements.lock pyproject.toml
	cp requirements.lock requirements-runtime.lock
	$(BIN)/pip-compile --quiet --generate-hashes --strip-extras -o requirements-runtime.lock pyproject.toml
	sed -i '/^--extra-index-url/d; /^--find-links/d' requirements.lock requirements-runtime.lock  # machine-local pip settings

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
