# syncline: `make run` and `make test` do all set-up on a fresh machine (Python 3.11+ with venv).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
ARGS ?=
BENCH ?=
BENCH_SERVER ?=
SERVER_BENCH_DEBS := syncthing openssh-server openssh-client rsync

.PHONY: run test lint check unit bench bench-server install install-dev clean

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

## unit: the test suite only, on every core (pytest-xdist); the fork tests after, in a process of their own
unit: install-dev
	$(BIN)/python -m pytest -q -n auto --dist loadgroup -m "not single_thread"
	$(BIN)/python -m pytest -q -m single_thread

## test: lint, types, layering, then the whole test suite
test: lint unit

## bench: benchmarks side by side with rsync, rclone and cp (see docs/performance.md)
bench: install-dev
	$(BIN)/python bench/run.py $(BENCH)

## bench-server: the server benchmark against Syncthing and rsync over ssh, e.g. BENCH_SERVER="big --size 64MiB"
bench-server: install-dev
	@missing=$$(for p in $(SERVER_BENCH_DEBS); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then echo "installing $$missing"; \
		apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y $$missing; fi
	$(BIN)/python bench/server_bench.py $(BENCH_SERVER)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
