"""The loop-stall watchdog: when the event loop is blocked past a threshold, say which tool
call blocked it — in the log at once, and as a ``tool.stalled`` event once the loop runs again.

Asyncio cannot pre-empt a coroutine that never awaits: a ``task`` tool doing CPU-bound work
holds the one thread every run, timer and cancel of the runtime needs (measured before: an
8 s loop with ``timeout=1.0`` froze the runtime 7.95 s and reported COMPLETED). Nothing on the
loop can notice while it happens, so a thread does: the loop beats a heartbeat every
``interval``; the thread, finding the beat older than ``threshold``, looks at which task the
loop is running (a ToolCall's, if a tool is to blame: ``tool_call.RUNNING``) and logs it.
When the loop beats again, the stall is over: its length is known, and it is recorded.
(The run itself reports such a step honestly: one that returns after its timeout is a
TIMEOUT, not a completion — ``Run._step_succeeded``.)
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Final

from ..store.errors import EventError
from ..store.log import EventLog
from ..tools.spec import ToolContext, ToolSpec
from ..tools.tool_call import RUNNING

log = logging.getLogger("soma.watchdog")

STALL_THRESHOLD: Final = 0.5
"""Seconds the loop may be blocked before the watchdog names the culprit."""
BEAT_INTERVAL: Final = 0.05


@dataclass(slots=True)
class _Stall:
    since: float
    call: tuple[ToolSpec, ToolContext] | None


class StallWatchdog:
    """Watches the running event loop from a thread (see the module docstring)."""

    def __init__(
        self, events: EventLog, *, threshold: float = STALL_THRESHOLD, interval: float = BEAT_INTERVAL
    ) -> None:
        self.events = events
        self.threshold = threshold
        self.interval = interval
        self._beat = time.monotonic()
        self._stall: _Stall | None = None  # written by the thread, taken by the loop
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._handle: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pending: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        """Start watching the running loop (call it on the loop, in the runtime's context:
        the events are recorded from there)."""
        self._loop = asyncio.get_running_loop()
        self._beat = time.monotonic()
        self._handle = self._loop.call_later(self.interval, self._tick)
        self._thread = threading.Thread(target=self._watch, name="soma-stall-watchdog", daemon=True)
        self._thread.start()

    async def stop(self) -> None:
        self._stop.set()
        if self._handle is not None:
            self._handle.cancel()
        if self._thread is not None:
            thread = self._thread
            await asyncio.get_running_loop().run_in_executor(None, thread.join)
        for task in list(self._pending):  # a stall's record still being written
            await asyncio.wait({task})

    # -- on the loop --------------------------------------------------------------------

    def _tick(self) -> None:
        now = time.monotonic()
        stall, self._stall = self._stall, None
        self._beat = now
        if stall is not None:
            self._stalled(stall, now - stall.since)
        if not self._stop.is_set():
            assert self._loop is not None
            self._handle = self._loop.call_later(self.interval, self._tick)

    def _stalled(self, stall: _Stall, blocked: float) -> None:
        if stall.call is None:
            log.warning("the event loop was blocked for %.2fs (not by a tool call)", blocked)
            return
        spec, ctx = stall.call
        log.warning(
            "the event loop was blocked for %.2fs by tool %r (call %s of run %s): a task tool that does "
            "not await stalls the whole runtime; give it isolation='thread' or 'process'",
            blocked,
            spec.name,
            ctx.tool_call_id,
            ctx.run_id,
        )
        task = asyncio.get_running_loop().create_task(self._record(spec, ctx, blocked))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _record(self, spec: ToolSpec, ctx: ToolContext, blocked: float) -> None:
        payload = {
            "tool": spec.name,
            "blocked_ms": round(blocked * 1000, 1),
            "threshold_ms": self.threshold * 1000,
            "isolation": str(spec.isolation),
        }
        try:
            await self.events.append(
                "tool.stalled",
                payload,
                session_id=ctx.session_id,
                run_id=ctx.run_id,
                step_id=ctx.step_id,
                tool_call_id=ctx.tool_call_id,
                agent_id=ctx.agent_id,
            )
        except EventError as exc:  # the store is closing or refused it: the log has it
            log.warning("the stall of tool call %s could not be recorded: %s", ctx.tool_call_id, exc)

    # -- on the watchdog's thread ---------------------------------------------------------

    def _watch(self) -> None:
        loop = self._loop
        while not self._stop.wait(self.interval):
            beat = self._beat
            if self._stall is not None or time.monotonic() - beat <= self.threshold:
                continue
            call = RUNNING.get(_current_task(loop)) if loop is not None else None
            self._stall = _Stall(beat, call)
            if call is not None:
                log.warning(
                    "the event loop has been blocked for over %.1fs by tool %r (call %s)",
                    self.threshold,
                    call[0].name,
                    call[1].tool_call_id,
                )


def _current_task(loop: asyncio.AbstractEventLoop) -> Any:
    """The task the loop is running now, read from another thread (asyncio keeps it in a
    dict by loop; reading one entry is atomic under the GIL)."""
    current: dict[Any, Any] = getattr(asyncio.tasks, "_current_tasks", {})
    return current.get(loop)
