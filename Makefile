# syncline: `make run` and `make test` do all set-up on a fresh machine (Python 3.11+ with venv).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
ARGS ?=
BENCH ?=

.PHONY: run test lint check unit bench install install-dev clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# Reinstall when pyproject.toml changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

## run: syncline with ARGS, e.g. make run ARGS="sync SRC DST"; without ARGS a server on 127.0.0.1:8765
## (`syncline serve` with its embedded defaults: SQLite and a chunk directory in the user's data directory)
run: install
	$(BIN)/syncline $(if $(strip $(ARGS)),$(ARGS),serve)

## lint: ruff, mypy and the layering contracts
lint: install-dev
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

## unit: the test suite only
unit: install-dev
	$(BIN)/python -m pytest -q

## test: lint, types, layering, then the whole test suite
test: lint unit

## bench: benchmarks side by side with rsync, rclone and cp (see docs/performance.md)
bench: install-dev
	$(BIN)/python bench/run.py $(BENCH)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
