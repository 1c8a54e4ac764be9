"""LangGraph as an agent runtime: a ``StateGraph`` whose one node loops back to itself, run
with ``ainvoke`` under a checkpointer — ``InMemorySaver``, or ``AsyncSqliteSaver`` on a SQLite
file — with LangGraph's default durability (``"async"``: a step's checkpoint is written while
the next step runs; ``ainvoke`` returns once every write is done) or ``durability="sync"``
(``mode="sync"``: written before the next step starts)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from typing import Any, TypedDict

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
from langgraph.graph import END, START, StateGraph
from langgraph.types import Durability

from . import _tools
from ._probe import Baseline, kill_leftovers
from ._side import mark_step, resumed_marks

LABEL = "LangGraph"
PACKAGES = ("langgraph", "langgraph-checkpoint", "langgraph-checkpoint-sqlite", "langchain-core")


class Loop(TypedDict):
    i: int
    steps: int


Node = Callable[[Loop], Awaitable[dict[str, Any]]]


async def _noop(state: Loop) -> dict[str, Any]:
    return {"i": state["i"] + 1}


def _graph(node: Node, checkpointer: BaseCheckpointSaver[Any]) -> Any:
    builder = StateGraph(Loop)
    builder.add_node("step", node)
    builder.add_edge(START, "step")
    builder.add_conditional_edges("step", lambda s: END if s["i"] >= s["steps"] else "step")
    return builder.compile(checkpointer=checkpointer)


def _config(steps: int, thread: str = "bench") -> dict[str, Any]:
    # Each loop turn is one LangGraph step (a "superstep"); the default limit is 25.
    return {"configurable": {"thread_id": thread}, "recursion_limit": steps + 10}


@asynccontextmanager
async def _saver(db: str | None) -> AsyncIterator[BaseCheckpointSaver[Any]]:
    if db is None:
        yield InMemorySaver()
    else:
        async with AsyncSqliteSaver.from_conn_string(db) as saver:
            yield saver


def _durability(mode: str) -> Durability | None:
    """``""``: LangGraph's default (``"async"``); ``"sync"``: each step's checkpoint is written
    before the next step starts."""
    if mode not in ("", "sync"):
        raise ValueError(f"unknown LangGraph mode {mode!r}")
    return "sync" if mode == "sync" else None


def loop(steps: int, db: str | None, mode: str = "") -> float:
    async def main() -> float:
        async with _saver(db) as saver:
            graph = _graph(_noop, saver)
            start = time.perf_counter()
            out = await graph.ainvoke({"i": 0, "steps": steps}, _config(steps), durability=_durability(mode))
            elapsed = time.perf_counter() - start
            assert out["i"] == steps
            return elapsed

    return asyncio.run(main())


def cancel_await(n: int, db: str | None, mode: str = "") -> tuple[list[float], str]:
    """``task.cancel()`` of the asyncio task running ``ainvoke`` (LangGraph has no cancel of
    its own in the library) while the node is blocked in an await."""

    async def main() -> tuple[list[float], str]:
        state: dict[str, Any] = {}

        async def blocked(s: Loop) -> dict[str, Any]:
            await _tools.blocked(state)
            return {}

        out = []
        async with _saver(db) as saver:
            graph = _graph(blocked, saver)
            for k in range(n + 1):
                baseline = Baseline()
                state["entered"] = asyncio.Event()
                task = asyncio.create_task(
                    graph.ainvoke({"i": 0, "steps": 1}, _config(1, f"t{k}"), durability=_durability(mode))
                )
                await state["entered"].wait()
                start = time.perf_counter()
                task.cancel()
                with suppress(asyncio.CancelledError):
                    await task
                out.append(state.pop("cleaned") - start)
                if k == n:
                    return out[:n], await baseline.leftovers()
        raise AssertionError("unreachable")

    return asyncio.run(main())


def cancel_command(db: str | None, mode: str = "") -> tuple[float, str]:
    """The node runs ``sleep 60`` (``_tools.program``); the task running ``ainvoke`` is
    cancelled. Latency until the node's ``finally`` ran."""

    async def main() -> tuple[float, str]:
        state: dict[str, Any] = {"entered": asyncio.Event()}

        async def command(s: Loop) -> dict[str, Any]:
            await _tools.program(state)
            return {}

        async with _saver(db) as saver:
            graph = _graph(command, saver)
            baseline = Baseline()
            task = asyncio.create_task(
                graph.ainvoke({"i": 0, "steps": 1}, _config(1), durability=_durability(mode))
            )
            await state["entered"].wait()
            start = time.perf_counter()
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task
            latency = state["cleaned"] - start
            left = await baseline.leftovers([state["pid"]])
            kill_leftovers([state["pid"]])
            return latency, left

    return asyncio.run(main())


def _marking(side: str) -> Node:
    async def mark(state: Loop) -> dict[str, Any]:
        mark_step(side, state["i"])
        return {"i": state["i"] + 1}

    return mark


def crash_run(steps: int, db: str, side: str, mode: str = "") -> None:
    async def main() -> None:
        async with _saver(db) as saver:
            print("crash", flush=True)
            graph = _graph(_marking(side), saver)
            config = _config(steps, "crash")
            await graph.ainvoke({"i": 0, "steps": steps}, config, durability=_durability(mode))

    asyncio.run(main())


def resume(db: str, side: str, mode: str = "", steps: int = 0) -> dict[str, Any]:
    """Reopen the checkpointer and ``ainvoke(None, config)`` with the same ``thread_id``:
    LangGraph continues from the thread's last checkpoint. If the killed run left none (at
    the default durability its first checkpoint may not have reached the file), there is
    nothing to resume: the run is started again from its input, as its application would."""

    async def main() -> dict[str, Any]:
        start = time.perf_counter()
        async with _saver(db) as saver:
            graph = _graph(_marking(side), saver)
            config = _config(steps, "crash")
            snapshot = await graph.aget_state(config)
            if snapshot.values:
                resumed_from, payload = "its last checkpoint", None
            else:
                resumed_from, payload = "nothing: started over", {"i": 0, "steps": steps}
            out = await graph.ainvoke(payload, config, durability=_durability(mode))
            done = time.perf_counter()
            assert out["i"] == steps
        first = resumed_marks(side)
        return {"first_ms": (first - start) * 1e3, "done_ms": (done - start) * 1e3, "from": resumed_from}

    return asyncio.run(main())
