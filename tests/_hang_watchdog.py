"""A per-test watchdog: a hung test fails on its own, says where it hung, and the run goes on.

``faulthandler.dump_traceback_later(exit=True)`` — what the suite used before — ends the whole
run at the first hang, and every result after it is lost. Here each phase of each test (setup,
call, teardown) runs under a deadline, the ini option ``hang_timeout`` (seconds):

1. An anyio test still awaiting at the deadline: the await chain of every task is recorded
   (the test's own first), then a cancel scope around the test body is cancelled, so the
   test's own cleanup runs (``async with`` blocks, task groups, a runtime closing) and the test
   fails with those stacks. The module's shared event loop stays usable for the next test.
2. Anything still stuck ``hang_grace`` seconds later — a sync test blocked in a call, a fixture,
   a cleanup that hangs too: a signal raises the failure in the main thread, wherever it is
   (its traceback is where it hung; the other threads' stacks are in the message).
3. Only if even that does not free the main thread (a C call that never returns to Python)
   does the old last resort run: every thread's stack is dumped and the process exits.

Why not pytest-timeout: its ``signal`` method raises out of the event loop's ``select`` for an
anyio test (no cleanup, and the module's shared anyio runner is left holding the dead test);
its ``thread`` method ends the process, as before; and neither knows asyncio tasks, so a hung
anyio test is reported as "in select()", not at the line it awaits.
"""

from __future__ import annotations

import asyncio
import faulthandler
import functools
import inspect
import linecache
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

import anyio
import pytest

_SIGNAL = signal.SIGALRM
_MAX_TASKS = 25  # besides the test's own task: a thousand-run test would print pages
_EXIT_CODE = 70


class _Watchdog:
    """One daemon thread, one deadline: the phase in progress."""

    def __init__(self, timeout: float, grace: float) -> None:
        self.timeout = timeout
        self.grace = grace
        self._cond = threading.Condition()
        self._deadline: float | None = None
        self._stage = 0
        self._label = ""
        self._canceller: tuple[asyncio.AbstractEventLoop, Callable[[], None]] | None = None
        self._failure: str | None = None  # what the signal handler raises in the main thread
        threading.Thread(target=self._watch, name="hang-watchdog", daemon=True).start()

    def arm(self, label: str) -> None:
        with self._cond:
            self._deadline = time.monotonic() + self.timeout
            self._stage = 0
            self._label = label
            self._canceller = None
            self._failure = None
            self._cond.notify()

    def disarm(self) -> None:
        with self._cond:
            self._deadline = None
            self._canceller = None
            self._failure = None
            self._cond.notify()

    def cancel_with(self, loop: asyncio.AbstractEventLoop, cancel: Callable[[], None]) -> None:
        """Stage 1 for the phase in progress: call ``cancel`` in ``loop``."""
        with self._cond:
            self._canceller = (loop, cancel)

    def take_failure(self) -> str | None:
        with self._cond:
            failure, self._failure = self._failure, None
            return failure

    def _watch(self) -> None:
        with self._cond:
            while True:
                if self._deadline is None:
                    self._cond.wait()
                    continue
                left = self._deadline - time.monotonic()
                if left > 0:
                    self._cond.wait(left)
                    continue
                self._expired()

    def _expired(self) -> None:
        """The deadline passed: take the next stage (called with the lock held)."""
        self._stage += 1
        self._deadline = time.monotonic() + self.grace
        if self._stage == 1 and self._canceller is not None:
            loop, cancel = self._canceller
            try:
                loop.call_soon_threadsafe(cancel)
                return
            except RuntimeError:  # the loop is closed: interrupt the main thread instead
                self._stage = 2
        if self._stage <= 2:
            self._stage = 2
            self._failure = (
                f"{self._label} hung: no end after {self.timeout:g}s (hang_timeout); interrupted "
                f"where it was (the traceback). Other threads:\n{_threads()}"
            )
            signal.pthread_kill(threading.main_thread().ident or 0, _SIGNAL)
            return
        sys.stderr.write(
            f"\n{self._label} hung and could not be interrupted: dumping every thread, exiting\n"
        )
        sys.stderr.flush()
        faulthandler.dump_traceback(sys.stderr, all_threads=True)
        os._exit(_EXIT_CODE)


_watchdog: _Watchdog | None = None


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini("hang_timeout", "seconds a test phase may take before it fails as hung", default="60")
    parser.addini("hang_grace", "seconds a hung test's cleanup may take before it is cut", default="10")


def pytest_configure(config: pytest.Config) -> None:
    global _watchdog
    _watchdog = _Watchdog(float(config.getini("hang_timeout")), float(config.getini("hang_grace")))
    if threading.current_thread() is threading.main_thread():
        signal.signal(_SIGNAL, _interrupt)


def _interrupt(_signum: int, _frame: FrameType | None) -> None:
    __tracebackhide__ = True
    failure = _watchdog.take_failure() if _watchdog is not None else None
    if failure is not None:  # a stray SIGALRM (not ours) is ignored
        pytest.fail(failure, pytrace=True)


@contextmanager
def _phase(item: pytest.Item, when: str) -> Iterator[None]:
    assert _watchdog is not None
    _watchdog.arm(f"{item.nodeid} ({when})")
    try:
        yield
    finally:
        _watchdog.disarm()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None]:
    with _phase(item, "setup"):
        yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None]:
    with _phase(item, "call"):
        yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Generator[None]:
    with _phase(item, "teardown"):
        yield


@pytest.hookimpl(hookwrapper=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> Generator[None]:
    """Run an anyio test's body inside a cancel scope the watchdog can cancel (stage 1)."""
    test = pyfuncitem.obj
    if not inspect.iscoroutinefunction(test) or hasattr(test, "hypothesis"):
        yield
        return
    label = pyfuncitem.nodeid

    @functools.wraps(test)
    async def guarded(**kwargs: Any) -> None:
        assert _watchdog is not None
        this = asyncio.current_task()
        report: list[str] = []
        with anyio.CancelScope() as scope:

            def cancel() -> None:  # in the loop, at the deadline
                report.append(_tasks(this))
                scope.cancel()

            _watchdog.cancel_with(asyncio.get_running_loop(), cancel)
            await test(**kwargs)
        if report:
            pytest.fail(
                f"{label} hung: no end after {_watchdog.timeout:g}s (hang_timeout); it was "
                f"cancelled there, and cleaned up. Where every task was waiting:\n{report[0]}",
                pytrace=False,
            )

    pyfuncitem.obj = guarded
    try:
        yield
    finally:
        pyfuncitem.obj = test


# -- where things were ------------------------------------------------------------------------


def _frame_line(frame: FrameType) -> str:
    code = frame.f_code
    text = linecache.getline(code.co_filename, frame.f_lineno).strip()
    return f'  File "{code.co_filename}", line {frame.f_lineno}, in {code.co_name}\n    {text}\n'


_FRAME_ATTRS = ("cr_frame", "gi_frame", "ag_frame")
_AWAIT_ATTRS = ("cr_await", "gi_yieldfrom", "ag_await")


def _await_chain(task: asyncio.Task[Any]) -> list[FrameType]:
    """The frames a task is suspended in, outermost first (its coroutine and what it awaits)."""
    frames = []
    obj: Any = task.get_coro()
    while obj is not None:
        frame = (
            getattr(obj, "cr_frame", None) or getattr(obj, "gi_frame", None) or getattr(obj, "ag_frame", None)
        )
        if frame is not None:
            frames.append(frame)
        obj = (
            getattr(obj, "cr_await", None)
            or getattr(obj, "gi_yieldfrom", None)
            or getattr(obj, "ag_await", None)
        )
    return frames


def _tasks(first: asyncio.Task[Any] | None) -> str:
    tasks = sorted(asyncio.all_tasks(), key=lambda t: t is not first)
    out = []
    for index, task in enumerate(tasks):
        if index > _MAX_TASKS:
            out.append(f"… and {len(tasks) - index} more tasks\n")
            break
        mark = " (the test)" if task is first else ""
        out.append(f"Task {task.get_name()}{mark}:\n" + "".join(_frame_line(f) for f in _await_chain(task)))
    return "".join(out)


def _threads() -> str:
    names = {t.ident: t.name for t in threading.enumerate()}
    out = []
    for ident, frame in sys._current_frames().items():
        if ident in (threading.main_thread().ident, threading.get_ident()):
            continue
        out.append(f"Thread {names.get(ident, ident)}:\n" + "".join(traceback.format_stack(frame)))
    return "".join(out) or "(none)\n"
