"""The agent workloads, round after round, every column in each round (the order rotating,
so a shared machine's load falls on all alike); each figure is the median of its rounds."""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from importlib import import_module
from pathlib import Path
from types import ModuleType

from . import COLUMNS, Column
from .child import measure_memory
from .crash import crash_resume
from .results import AgentResults

STEPS = 1_000
CANCELS = 100  # samples per round of the await cancel (the median is the round's figure)
KILL_AT = 300  # the crashed run is SIGKILLed once this many of its STEPS have run

NOT_DURABLE = "in memory: nothing of the run survives its process"
NO_STORE = "no durable store: autogen-core keeps a run in memory only"
NO_RESUME = {"autogen": "no checkpointer and no resume: nothing of a run survives its process"}


def packages() -> list[str]:
    """The distributions whose versions the report lists."""
    modules = dict.fromkeys(_module(c) for c in COLUMNS)
    return [pkg for m in modules for pkg in m.PACKAGES]


def _module(column: Column) -> ModuleType:
    return import_module(f"{__package__}.{column.peer}")


def _db(column: Column, directory: Path, name: str) -> str | None:
    if not column.durable:
        return None
    path = directory / f"{column.key}-{name}.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return str(path)


def run(rounds: int, steps: int = STEPS, cancels: int = CANCELS) -> AgentResults:
    results = AgentResults([c.key for c in COLUMNS], {c.key: c.label for c in COLUMNS})
    modules = {c.key: _module(c) for c in COLUMNS}
    started = time.perf_counter()
    results.unsupported["durable loop"] = {"autogen": NO_STORE}

    def add(measure: str, key: str, value: float | str) -> None:
        bucket = results.texts if isinstance(value, str) else results.samples
        bucket.setdefault(measure, {}).setdefault(key, []).append(value)  # type: ignore[arg-type]

    with tempfile.TemporaryDirectory(prefix="soma-agents-") as tmp:
        directory = Path(tmp)
        for r in range(rounds):
            order = list(COLUMNS[r % len(COLUMNS) :] + COLUMNS[: r % len(COLUMNS)])
            for c in order:
                m = modules[c.key]
                add("loop", c.key, m.loop(steps, _db(c, directory, f"loop{r}"), c.mode) / steps * 1e6)
            for c in order:
                m = modules[c.key]
                latencies, left = m.cancel_await(cancels, _db(c, directory, f"cancel{r}"), c.mode)
                add("cancel", c.key, statistics.median(latencies) * 1e6)
                add("cancel_left", c.key, left)
                latency, left = m.cancel_command(_db(c, directory, f"command{r}"), c.mode)
                add("command", c.key, latency * 1e6)
                add("command_left", c.key, left)
            for c in order:
                if not c.durable:
                    why = NO_RESUME.get(c.key, NOT_DURABLE)
                    results.unsupported.setdefault("crash", {})[c.key] = why
                    continue
                figures = crash_resume(c.key, steps, min(KILL_AT, steps // 3), directory)
                for measure, value in figures.items():
                    add(measure, c.key, value)
            for c in order:
                figures = measure_memory(c.key, steps, tmp)
                add("heap", c.key, figures["heap"])
                add("rss", c.key, figures["rss"])
            print(f"agents round {r + 1}: {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    results.seconds = time.perf_counter() - started
    results.rounds = f"{rounds} rounds, {steps:,} steps a run, {cancels} cancels a round"
    results.summarise()
    return results
