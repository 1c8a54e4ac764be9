# Soma — a fresh clone needs only `make run` or `make test`: every target installs first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
BENCH_STAMP := $(VENV)/.bench-installed

.PHONY: install run test lint bench bench-peers clean

install: $(STAMP)

# Re-install only when the project's metadata changed (a no-op otherwise).
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	@# The distribution was called `soma` before it became soma-runtime: drop that old
	@# editable install from an existing .venv, so one distribution owns the packages.
	@$(BIN)/python -m pip uninstall --quiet --yes soma 2>/dev/null || true
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

run: install
	$(BIN)/soma demo

test: install
	$(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check soma_runtime soma_actor tests examples benchmarks
	$(BIN)/mypy

bench: install
	$(BIN)/python -m benchmarks

# The peers (pykka, thespian, triotp) and matplotlib come from the optional `bench` extra,
# installed here only: `make bench` and `make test` never need them. Rewrites the results
# block of BENCHMARKS.md and docs/benchmarks.png with this machine's figures.
$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	@touch $(BENCH_STAMP)

bench-peers: $(BENCH_STAMP)
	$(BIN)/python -m benchmarks.peers --write

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
