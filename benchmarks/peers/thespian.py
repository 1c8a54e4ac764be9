"""thespian: ``ActorSystem("simpleSystemBase")``, its in-process base.

In this base there is no concurrency at all: ``tell`` and ``ask`` run the receiving actor's
handler in the caller's thread, before they return. Its figures are those of dispatching a
message through thespian's machinery, not of crossing to another task or thread. (Thespian's
multiprocess bases are concurrent, at the cost of a process per actor; they are not measured.)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from thespian.actors import Actor, ActorExitRequest, ActorSystem

LABEL = "thespian"
PACKAGES = ("thespian",)
UNSUPPORTED = {
    "restarts": "no supervisors: a parent is told ChildActorExited and may create a new child "
    "itself; a message whose handler raises is retried, then returned as a PoisonMessage",
    "cancel": "cannot: simpleSystemBase runs every handler in the caller's thread, so a blocked "
    "handler blocks the whole system and nothing can interrupt it",
}


class Echo(Actor):  # type: ignore[misc]
    def receiveMessage(self, message: Any, sender: Any) -> None:
        if type(message) is int:  # a call; one-way messages are tuples and get no reply
            self.send(sender, message)


@contextmanager
def _system() -> Iterator[Any]:
    # A private system each time (not the process-wide singleton), and no logging set-up:
    # thespian would otherwise configure Python logging for the whole process.
    system = ActorSystem("simpleSystemBase", logDefs=False, transientUnique=True)
    try:
        yield system
    finally:
        system.shutdown()


def call(n: int) -> float:
    """``system.ask(echo, i)``."""
    with _system() as system:
        echo = system.createActor(Echo)
        start = time.perf_counter()
        for i in range(n):
            system.ask(echo, i, 5)
        return time.perf_counter() - start


def oneway(n: int) -> float:
    """``system.tell(echo, ("cast", i))``, then one ``ask``."""
    with _system() as system:
        echo = system.createActor(Echo)
        start = time.perf_counter()
        for i in range(n):
            system.tell(echo, ("cast", i))
        system.ask(echo, 0, 5)
        return time.perf_counter() - start


def live(n: int, before: Callable[[], None], after: Callable[[], None]) -> None:
    """``createActor`` each (the instance exists when it returns), then an
    ``ActorExitRequest`` told to each."""
    with _system() as system:
        before()
        actors = [system.createActor(Echo) for _ in range(n)]
        after()
        for actor in actors:
            system.tell(actor, ActorExitRequest())
