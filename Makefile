# Soma — a fresh clone needs only `make run` or `make test`: every target installs first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
BENCH_VENV := .venv-bench
BENCH_STAMP := $(BENCH_VENV)/.installed

.PHONY: install run test lint bench bench-peers mutate clean

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

# The suite on every core (up to 4), a test module per worker at a time: its module-level
# set-up happens once, and the Ray tests (one module) start one local Ray cluster, not one a worker.
test: install
	$(BIN)/python -m pytest -q -n auto --maxprocesses 4 --dist loadfile

lint: install
	$(BIN)/ruff check soma_runtime soma_actor tests examples benchmarks
	$(BIN)/mypy

bench: install
	$(BIN)/python -m benchmarks

# The peers (pykka, thespian, triotp; LangGraph with its SQLite checkpointer, autogen-core) and
# matplotlib come from the optional `bench` extra, installed only in a venv of their own
# (.venv-bench): `make bench` and `make test` never need them, and the suite never runs beside
# them — triotp pins trio 0.19, which anyio's pytest plugin imports when it is installed, and
# which patches the standard library's traceback formatting, breaking tests and pytest's own
# failure reports. Rewrites both results blocks of BENCHMARKS.md (actor libraries, agent
# runtimes) and their charts in docs/ with this machine's figures.
$(BENCH_STAMP): pyproject.toml
	@test -x $(BENCH_VENV)/bin/python || $(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(BENCH_VENV)/bin/python -m pip install --quiet -e '.[dev,bench]'
	@touch $(BENCH_STAMP)

bench-peers: $(BENCH_STAMP)
	$(BENCH_VENV)/bin/python -m benchmarks.peers --write

# Mutation testing of the security- and durability-critical code (not part of `make test`):
# mutmut (pinned; installed here only) generates mutants of the files [tool.mutmut] lists,
# and runs those of the functions below, each against the tests that cover it. mutmut over
# cosmic-ray: it forks from a process that already imported the suite and runs only the tests
# that reach the mutated function, so its ~1,400 mutants take minutes, where cosmic-ray starts a
# fresh pytest per mutant (~2 s of imports each). Prints each survivor, then the tally.
MUTATE_STAMP := $(VENV)/.mutate-installed
MUTATE_ONLY := \
	'soma_runtime.store._redaction.*' \
	'soma_runtime.store.server.*' \
	'soma_runtime.store.sqlite.xǁSqliteLogǁ*' 'soma_runtime.store.sqlite.x__prepare*' \
	'soma_runtime.store.sqlite.x__file_target*' \
	'soma_runtime.store.log.xǁEventLogǁappend*' 'soma_runtime.store.log.xǁEventLogǁemit*' \
	'soma_runtime.store.log.xǁEventLogǁ_prepare*' 'soma_runtime.store.log.xǁEventLogǁ_call*' \
	'soma_runtime.store.log.xǁEventLogǁ_writable*' 'soma_runtime.store.log.xǁEventLogǁsync*' \
	'soma_actor.policy.*' \
	'soma_actor.actor.xǁAgentActorǁ_check*' 'soma_actor.actor.xǁAgentActorǁ_normalize*' \
	'soma_actor.actor.xǁAgentActorǁ_delegate*' \
	'soma_runtime.execution.run.xǁRunǁ_interrupt*' 'soma_runtime.execution.run.xǁRunǁ_stop_active*' \
	'soma_runtime.execution.run.xǁRunǁ_step_failed*' 'soma_runtime.execution.run.xǁRunǁterminate*' \
	'soma_runtime.execution.run.xǁRunǁ_finish*' \
	'soma_runtime.vitals.baseline.*'

$(MUTATE_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet 'mutmut==3.8.1'
	@touch $(MUTATE_STAMP)

mutate: $(MUTATE_STAMP)
	rm -rf mutants
	$(BIN)/mutmut run --max-children 3 $(MUTATE_ONLY) > mutants.log 2>&1 || (tail -40 mutants.log; false)
	$(BIN)/mutmut results --all true | $(BIN)/python tests/_mutation_report.py $(MUTATE_ONLY)

clean:
	rm -rf $(VENV) $(BENCH_VENV) .pytest_cache .mypy_cache .ruff_cache mutants mutants.log
