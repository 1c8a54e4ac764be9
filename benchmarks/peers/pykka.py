"""pykka: ThreadingActor, one OS thread per actor, an unbounded queue.Queue inbox."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from pykka import ThreadingActor

LABEL = "pykka"
PACKAGES = ("pykka",)
UNSUPPORTED = {
    "restarts": "no supervisors: pykka reports a failure to the actor's on_failure() and the "
    "actor stops; restarting it is left to the application",
    "cancel": "cannot: a ThreadingActor's handler runs in its own OS thread, which Python cannot "
    "interrupt, and stop() is a message queued behind the running one",
}


class Echo(ThreadingActor):
    def __init__(self, started: Callable[[], None] | None = None) -> None:
        super().__init__()
        self._started = started

    def on_start(self) -> None:
        if self._started is not None:
            self._started()

    def on_receive(self, message: Any) -> Any:
        return message


def call(n: int) -> float:
    """``ref.ask(i)``: a blocking round trip through the actor's thread."""
    ref = Echo.start()
    start = time.perf_counter()
    for i in range(n):
        ref.ask(i)
    elapsed = time.perf_counter() - start
    ref.stop()
    return elapsed


def oneway(n: int) -> float:
    """``ref.tell(i)`` (never waits: the inbox is unbounded), then one ``ask``."""
    ref = Echo.start()
    start = time.perf_counter()
    for i in range(n):
        ref.tell(i)
    ref.ask(None)
    elapsed = time.perf_counter() - start
    ref.stop()
    return elapsed


def live(n: int, before: Callable[[], None], after: Callable[[], None]) -> None:
    """``Echo.start()`` each (returns before ``on_start`` has run in the new thread; all are
    awaited before ``after``), then ``stop(block=False)`` to all and each stop awaited."""
    lock = threading.Lock()
    up = 0
    all_up = threading.Event()

    def started() -> None:
        nonlocal up
        with lock:
            up += 1
            if up == n:
                all_up.set()

    before()
    refs = [Echo.start(started) for _ in range(n)]
    all_up.wait()
    after()
    for stopped in [ref.stop(block=False) for ref in refs]:
        stopped.get()
