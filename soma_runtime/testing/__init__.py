"""Testing agent behaviour (docs/design.md §10): CI gates on vitals, and recorded sessions as tests.

- ``assertions``: :func:`assert_pressure_below`, :func:`assert_mode_at_most` (on a runtime or
  a log), and :func:`check_agents`, what the ``@pytest.mark.soma`` marker runs.
- ``replay``: :func:`replay_session`, a recorded JSONL session replayed through today's
  engine (bit-identical, or within bounds).
- ``trajectory``: an agent's trajectory as read from the log, and the failure report.
- ``postgres``: :class:`ThrowawayCluster`, a PostgreSQL server of one's own for tests and
  benchmarks (imported from its module: it is not needed by the rest).
- ``plugin``: the pytest plugin (the ``soma_runtime`` fixture, the marker), registered by the
  ``pytest11`` entry point. Helpers that start agents on the fixture's runtime are in
  ``soma_actor.testing`` (this layer does not know agents).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

_EXPORTS = {
    "VitalsAssertionError": ".assertions",
    "assert_mode_at_most": ".assertions",
    "assert_pressure_below": ".assertions",
    "check_agents": ".assertions",
    "agent_trajectory": ".assertions",
    "replay_session": ".replay",
    "Point": ".trajectory",
    "Trajectory": ".trajectory",
}

__all__ = [
    "Point",
    "Trajectory",
    "VitalsAssertionError",
    "agent_trajectory",
    "assert_mode_at_most",
    "assert_pressure_below",
    "check_agents",
    "replay_session",
]
assert set(__all__) == set(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:
    from .assertions import (
        VitalsAssertionError,
        agent_trajectory,
        assert_mode_at_most,
        assert_pressure_below,
        check_agents,
    )
    from .replay import replay_session
    from .trajectory import Point, Trajectory
