"""A recorded session as a regression test: ``replay_session("recorded.jsonl")``.

Record once (``soma export --session ID -o recorded.jsonl``), commit the file, and the test
replays its events through today's vitals engine:

* by default the replayed trajectory must be **bit-identical** to the one recorded in the
  file (every ``vitals.updated`` payload, field for field: pressures, modes, signals, z);
* with ``tolerance=``, each point's pressure and effective pressure may differ by at most
  that much (for a deliberate retune of the engine), and the modes may change;
* with ``max_pressure=`` / ``max_mode=``, the replayed trajectory must stay within those
  bounds — which needs no recorded ``vitals.updated`` at all, so a log exported without
  them (or recorded by a hook) works too.

It needs no runtime (the engine is pure), so it is a plain synchronous test. A failure is an
``AssertionError`` naming the first point that differs and how.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from ..store.events import Event
from ..store.log import read_jsonl
from ..vitals.config import VitalsConfig
from ..vitals.pressure import Mode
from ..vitals.replay import divergence, recorded_trajectory, replay
from ..vitals.updates import PressureUpdate
from .assertions import VitalsAssertionError, mode_problem, pressure_problem
from .trajectory import Point, Trajectory


def replay_session(
    path: str | os.PathLike[str],
    *,
    tolerance: float | None = None,
    max_pressure: float | None = None,
    max_mode: Mode | str | None = None,
    agent: str | None = None,
    config: VitalsConfig | None = None,
) -> list[PressureUpdate]:
    """Replay the JSONL at ``path`` and check it (see the module docstring); returns the
    replayed trajectory. ``agent`` limits the bounds (not the comparison) to one agent."""
    __tracebackhide__ = True
    events = read_jsonl(path)
    replayed = replay(events, config=config)
    mine = [u.payload() for u in replayed]
    if tolerance is not None or (max_pressure is None and max_mode is None):
        recorded = recorded_trajectory(events)
        if not recorded:
            raise AssertionError(
                f"{os.fspath(path)} holds no vitals.updated events to compare the replay with: "
                "export the session with them, or check bounds instead (max_pressure=, max_mode=)"
            )
        problem = _compare(mine, recorded, tolerance)
        if problem is not None:
            raise AssertionError(
                f"{os.fspath(path)}: the replayed trajectory differs from the recording: {problem}"
            )
    if max_pressure is not None or max_mode is not None:
        _check_bounds(path, events, replayed, max_pressure, max_mode, agent)
    return replayed


def _compare(
    mine: Sequence[Mapping[str, Any]], recorded: Sequence[Mapping[str, Any]], tolerance: float | None
) -> str | None:
    if tolerance is None:
        index = divergence(mine, recorded)
        if index is None:
            return None
        return _describe(index, mine, recorded)
    if len(mine) != len(recorded):
        return f"{len(mine)} points replayed, {len(recorded)} recorded"
    for index, (a, b) in enumerate(zip(mine, recorded, strict=True)):
        if (a.get("agent_id"), a.get("cause_seq")) != (b.get("agent_id"), b.get("cause_seq")):
            return _describe(index, mine, recorded)
        for field in ("pressure", "effective_pressure"):
            if abs(float(a[field]) - float(b[field])) > tolerance:
                return (
                    f"point {index} (agent {a.get('agent_id')!r}, after seq {a.get('cause_seq')}): "
                    f"{field} {a[field]!r} replayed, {b[field]!r} recorded (tolerance {tolerance})"
                )
    return None


def _describe(index: int, mine: Sequence[Mapping[str, Any]], recorded: Sequence[Mapping[str, Any]]) -> str:
    if index >= len(mine) or index >= len(recorded):
        return f"{len(mine)} points replayed, {len(recorded)} recorded (the first {index} agree)"
    a, b = mine[index], recorded[index]
    diffs = [
        f"{key}: {a.get(key)!r} replayed, {b.get(key)!r} recorded"
        for key in sorted({*a, *b})
        if a.get(key) != b.get(key)
    ]
    where = f"point {index} (agent {b.get('agent_id')!r}, after seq {b.get('cause_seq')})"
    return f"{where} — " + "; ".join(diffs)


def _check_bounds(
    path: str | os.PathLike[str],
    events: list[Event],
    replayed: list[PressureUpdate],
    max_pressure: float | None,
    max_mode: Mode | str | None,
    agent: str | None,
) -> None:
    __tracebackhide__ = True
    by_seq = {e.seq: e for e in events}
    agents = [agent] if agent is not None else list(dict.fromkeys(u.agent_id for u in replayed))
    problems = []
    for name in agents:
        points = tuple(_point(u) for u in replayed if u.agent_id == name)
        if not points:
            problems.append(f"no vitals replayed for agent {name!r}")
            continue
        causes = {p.cause_seq: by_seq[p.cause_seq] for p in points if p.cause_seq in by_seq}
        t = Trajectory(name, points, (), causes)
        found = [
            pressure_problem(t, max_pressure) if max_pressure is not None else None,
            mode_problem(t, Mode(max_mode)) if max_mode is not None else None,
        ]
        problems += [p for p in found if p is not None][:1]
    if problems:
        raise VitalsAssertionError(f"{os.fspath(path)} (replayed):\n" + "\n\n".join(problems), agents)


def _point(update: PressureUpdate) -> Point:
    return Point(
        update.seq,
        update.seq,
        update.action,
        update.pressure,
        update.effective_pressure,
        update.mode,
        {name: reading.pressure for name, reading in update.signals.items()},
        {name: reading.value for name, reading in update.signals.items()},
        {name: reading.z for name, reading in update.signals.items()},
    )
