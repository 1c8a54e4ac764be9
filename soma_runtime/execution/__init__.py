"""The execution core (docs/design.md §3): steps, runs and the sessions that start them.

- ``steps``: :class:`Step`, :class:`FromStep` references, plan validation (:class:`InvalidRun`).
- ``run``: :class:`Run`, one execution attempt of a step list (a gen_statem); ``run_types``:
  its states, result, options and messages.
- ``resume``: recovery at open — every run a stopped runtime left unfinished ends or goes on
  (the rules, on a run's journal, in ``_journal``).
- ``session``: :class:`AgentSession`, the long-lived gen_server that accepts and tracks runs.
- ``run_records``: a run's outcome read back from the store once its process is gone.
- ``steering``: the messages through which a monitor (vitals) steers sessions and runs; the
  core defines them and never imports the monitor.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

_EXPORTS = {
    "Overloaded": ".errors",
    "SessionExists": ".errors",
    "Recovery": ".resume",
    "register_recovery": ".resume",
    "UnknownRun": ".run_records",
    "Run": ".run",
    "RunResult": ".run_types",
    "RunSnapshot": ".run_types",
    "RunState": ".run_types",
    "AgentSession": ".session",
    "RunInfo": ".session",
    "SessionStatus": ".session",
    "DestructiveBlock": ".steering",
    "Guidance": ".steering",
    "FromStep": ".steps",
    "InvalidRun": ".steps",
    "Step": ".steps",
}

__all__ = [
    "AgentSession",
    "DestructiveBlock",
    "FromStep",
    "Guidance",
    "InvalidRun",
    "Overloaded",
    "Recovery",
    "Run",
    "RunInfo",
    "RunResult",
    "RunSnapshot",
    "RunState",
    "SessionExists",
    "SessionStatus",
    "Step",
    "UnknownRun",
    "register_recovery",
]
assert set(__all__) == set(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:
    from .errors import Overloaded, SessionExists
    from .resume import Recovery, register_recovery
    from .run import Run
    from .run_records import UnknownRun
    from .run_types import RunResult, RunSnapshot, RunState
    from .session import AgentSession, RunInfo, SessionStatus
    from .steering import DestructiveBlock, Guidance
    from .steps import FromStep, InvalidRun, Step
