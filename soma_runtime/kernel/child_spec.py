"""Child specs and supervisor flags, validated where they are made.

Invalid values raise ``InvalidSpec`` naming the field and the value, at construction —
a typo in a spec should fail when the tree is declared, not when a child first crashes.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, TypeAlias

from .errors import InvalidSpec
from .process import Pid
from .reasons import Atom


class Restart(enum.Enum):
    PERMANENT = "permanent"  # always restarted
    TRANSIENT = "transient"  # restarted unless it exits normal / shutdown / shutdown(info)
    TEMPORARY = "temporary"  # never restarted; its spec is dropped when it exits


class Kind(enum.Enum):
    WORKER = "worker"
    SUPERVISOR = "supervisor"


class Strategy(enum.Enum):
    ONE_FOR_ONE = "one_for_one"
    ONE_FOR_ALL = "one_for_all"
    REST_FOR_ONE = "rest_for_one"


class AutoShutdown(enum.Enum):
    NEVER = "never"
    ANY_SIGNIFICANT = "any_significant"
    ALL_SIGNIFICANT = "all_significant"


PERMANENT = Restart.PERMANENT
TRANSIENT = Restart.TRANSIENT
TEMPORARY = Restart.TEMPORARY
WORKER = Kind.WORKER
SUPERVISOR = Kind.SUPERVISOR
ONE_FOR_ONE = Strategy.ONE_FOR_ONE
ONE_FOR_ALL = Strategy.ONE_FOR_ALL
REST_FOR_ONE = Strategy.REST_FOR_ONE

BRUTAL_KILL = Atom("brutal_kill")
INFINITY = Atom("infinity")
RESTARTING = Atom("restarting")
"""Shown by ``which_children`` for a child whose restart failed and will be retried."""

ShutdownSpec: TypeAlias = float | Atom
StartFunc: TypeAlias = Callable[..., Awaitable[Pid | None]]

DEFAULT_WORKER_SHUTDOWN = 5.0


@dataclass(frozen=True, slots=True)
class ChildSpec:
    """How to start, restart and stop one child.

    ``start(*args)`` must start the child linked to the calling supervisor and return its
    pid (``GenServer.start_link`` does), or None for "ignore". ``shutdown`` is seconds of
    grace, ``BRUTAL_KILL`` or ``INFINITY``; unset, it is 5 s for a worker and ``INFINITY``
    for a supervisor, as in OTP.
    """

    id: Hashable
    start: StartFunc
    args: tuple[Any, ...] = ()
    restart: Restart = Restart.PERMANENT
    shutdown: ShutdownSpec | None = None
    kind: Kind = Kind.WORKER
    significant: bool = False

    def __post_init__(self) -> None:
        if self.id is None:
            raise InvalidSpec("id", self.id, "a hashable child id")
        try:
            hash(self.id)
        except TypeError:
            raise InvalidSpec("id", self.id, "a hashable child id") from None
        if not callable(self.start):
            raise InvalidSpec("start", self.start, "an async callable returning a Pid")
        if isinstance(self.args, list):
            object.__setattr__(self, "args", tuple(self.args))
        if not isinstance(self.args, tuple):
            raise InvalidSpec("args", self.args, "a tuple of positional arguments")
        if not isinstance(self.restart, Restart):
            raise InvalidSpec("restart", self.restart, "PERMANENT, TRANSIENT or TEMPORARY")
        if not isinstance(self.kind, Kind):
            raise InvalidSpec("kind", self.kind, "WORKER or SUPERVISOR")
        if self.shutdown is None:
            default = INFINITY if self.kind is Kind.SUPERVISOR else DEFAULT_WORKER_SHUTDOWN
            object.__setattr__(self, "shutdown", default)
        elif not _valid_shutdown(self.shutdown):
            raise InvalidSpec("shutdown", self.shutdown, "seconds >= 0, BRUTAL_KILL or INFINITY")
        if not isinstance(self.significant, bool):
            raise InvalidSpec("significant", self.significant, "a bool")
        if self.significant and self.restart is Restart.PERMANENT:
            raise InvalidSpec("significant", True, "a transient or temporary child (not permanent)")

    @property
    def shutdown_timeout(self) -> float | None:
        """Seconds of grace before the kill; 0 kills at once; None waits forever."""
        if self.shutdown is BRUTAL_KILL:
            return 0.0
        if self.shutdown is INFINITY:
            return None
        assert isinstance(self.shutdown, (int, float))
        return float(self.shutdown)


def _valid_shutdown(value: object) -> bool:
    if value is BRUTAL_KILL or value is INFINITY:
        return True
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return math.isfinite(value) and value >= 0


@dataclass(frozen=True, slots=True)
class Backoff:
    """Optional restart backoff: the n-th restart of a child within the intensity period
    waits ``min(initial * factor**(n-1), maximum)`` seconds (the first waits ``initial``)."""

    initial: float = 0.1
    maximum: float = 10.0
    factor: float = 2.0

    def __post_init__(self) -> None:
        for name in ("initial", "maximum", "factor"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise InvalidSpec(f"backoff.{name}", value, "a number >= 0")
        if self.factor < 1:
            raise InvalidSpec("backoff.factor", self.factor, "a number >= 1")

    def delay(self, attempt: int) -> float:
        return float(min(self.initial * self.factor ** max(attempt - 1, 0), self.maximum))


@dataclass(frozen=True, slots=True)
class SupFlags:
    """Supervisor flags (OTP's defaults: one_for_one, intensity 1 in 5 seconds)."""

    strategy: Strategy = Strategy.ONE_FOR_ONE
    intensity: int = 1
    period: float = 5.0
    auto_shutdown: AutoShutdown = AutoShutdown.NEVER
    backoff: Backoff | None = field(default=None)

    def __post_init__(self) -> None:
        if not isinstance(self.strategy, Strategy):
            raise InvalidSpec("strategy", self.strategy, "ONE_FOR_ONE, ONE_FOR_ALL or REST_FOR_ONE")
        if isinstance(self.intensity, bool) or not isinstance(self.intensity, int) or self.intensity < 0:
            raise InvalidSpec("intensity", self.intensity, "an int >= 0")
        if (
            isinstance(self.period, bool)
            or not isinstance(self.period, (int, float))
            or not self.period > 0
        ):
            raise InvalidSpec("period", self.period, "a number of seconds > 0")
        if not isinstance(self.auto_shutdown, AutoShutdown):
            raise InvalidSpec(
                "auto_shutdown", self.auto_shutdown, "NEVER, ANY_SIGNIFICANT or ALL_SIGNIFICANT"
            )
        if self.backoff is not None and not isinstance(self.backoff, Backoff):
            raise InvalidSpec("backoff", self.backoff, "a Backoff or None")


@dataclass(frozen=True, slots=True)
class ChildInfo:
    """One row of ``which_children``: ``pid`` is a Pid, ``RESTARTING`` or None (not running)."""

    id: Hashable
    pid: Pid | Atom | None
    kind: Kind


@dataclass(frozen=True, slots=True)
class ChildCounts:
    specs: int
    active: int
    supervisors: int
    workers: int
