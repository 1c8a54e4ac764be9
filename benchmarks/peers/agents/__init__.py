"""Agent runtimes as peers (``make bench-peers``, with the actor libraries): Soma against
**LangGraph** and **autogen-core**, as agent-level workloads in the same run.

* ``loop`` — a run of 1,000 no-op steps: µs per step, in memory and durable (Soma on a
  SQLite file; LangGraph with its SQLite checkpointer, at its default durability and at
  ``durability="sync"``); the memory a run takes, in a fresh interpreter each (``child.py``);
* ``cancel`` — cancelling a run blocked in a tool: latency until the tool's cleanup ran, and
  what is left running (a task, a thread, an OS process; ``_probe.py``); once for a tool
  blocked in an await, once for a tool running an OS program (``sleep 60``);
* ``crash-resume`` — the run in a real child process, SIGKILLed mid-run, then the database
  reopened by a fresh process and the run resumed: which completed steps ran again, and how
  long resuming took (``crash.py``).

Each library lives in its own module (``soma``, ``langgraph``, ``autogen``), imported only by
the runner, so nothing else — ``make bench``, ``make test`` — needs the peers installed.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Column:
    """One peer in one configuration: a column of the table."""

    key: str
    peer: str  # the module that drives the library
    label: str
    durable: bool  # runs on a SQLite file (and so can be crashed and resumed)
    mode: str = ""  # passed to the module's functions (LangGraph: its durability)


COLUMNS = (
    Column("soma", "soma", "Soma, :memory:", False),
    Column("soma-sqlite", "soma", "Soma, SQLite file", True),
    Column("langgraph", "langgraph", "LangGraph, InMemorySaver", False),
    Column("langgraph-sqlite", "langgraph", "LangGraph, SQLite checkpointer", True),
    Column("langgraph-sqlite-sync", "langgraph", "LangGraph, SQLite, durability=sync", True, "sync"),
    Column("autogen", "autogen", "autogen-core", False),
)
BY_KEY = {c.key: c for c in COLUMNS}


@dataclass(frozen=True)
class Measure:
    key: str
    title: str
    unit: str  # "µs", "ms", "B", "steps", or "" for a text cell
    part: str  # "loop", "cancel" or "crash"


MEASURES = (
    Measure("loop", "1,000-step no-op loop, per step", "µs", "loop"),
    Measure("heap", "1,000-step run, peak Python heap (tracemalloc)", "B", "loop"),
    Measure("rss", "1,000-step run, peak RSS of the process", "B", "loop"),
    Measure("cancel", "cancel, tool blocked in an await: until its cleanup ran", "µs", "cancel"),
    Measure("cancel_left", "left running 0.5 s after that cancel", "", "cancel"),
    Measure("command", "cancel, tool running `sleep 60`: until its cleanup ran", "µs", "cancel"),
    Measure("command_left", "left running 0.5 s after that cancel", "", "cancel"),
    Measure("completed", "crash-resume: steps completed when SIGKILLed", "steps", "crash"),
    Measure("resume_from", "crash-resume: what the reopened store resumed from", "", "crash"),
    Measure("rerun", "crash-resume: completed steps run again", "steps", "crash"),
    Measure("resume_first", "crash-resume: reopen until the first resumed step ran", "ms", "crash"),
    Measure("resume_done", "crash-resume: reopen until the run finished", "ms", "crash"),
)
