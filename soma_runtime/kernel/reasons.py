"""Exit reasons, as OTP spells them.

A process exits with ``NORMAL``, ``SHUTDOWN`` (or ``Shutdown(info)``), ``KILLED``, or an
error (the exception itself). ``NOPROC`` is the reason a monitor reports for a process that
was already dead. ``KILL`` is not a reason a process exits with: it is the untrappable
*signal* ``pid.exit(KILL)``, and the victim exits with ``KILLED``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias


class Atom:
    """A named constant exit reason (``normal``, ``killed``, …); compared by identity."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


@dataclass(frozen=True, slots=True)
class Shutdown:
    """``shutdown`` or ``{shutdown, info}``: an orderly stop, never restarted by a transient spec."""

    info: object = None

    def __repr__(self) -> str:
        return "shutdown" if self.info is None else f"shutdown({self.info!r})"


NORMAL = Atom("normal")
KILLED = Atom("killed")
NOPROC = Atom("noproc")
KILL = Atom("kill")
SHUTDOWN = Shutdown()

ExitReason: TypeAlias = Atom | Shutdown | BaseException


def is_orderly(reason: ExitReason) -> bool:
    """True for ``normal``, ``shutdown`` and ``shutdown(info)`` — the exits a transient child keeps."""
    return reason is NORMAL or isinstance(reason, Shutdown)


def describe(reason: ExitReason) -> str:
    """A one-line human form of a reason (exceptions as ``TypeName: message``)."""
    if isinstance(reason, BaseException):
        text = str(reason)
        return f"{type(reason).__name__}: {text}" if text else type(reason).__name__
    return repr(reason)
