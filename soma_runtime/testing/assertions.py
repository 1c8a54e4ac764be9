"""Assertions on agent behaviour: CI gates on pressure and mode.

    await assert_pressure_below(rt, "research", 0.5)     # every point of its trajectory
    await assert_mode_at_most(rt, "research", Mode.GUIDE)

Each waits until the vitals monitor has observed everything committed so far (so the last
actions count), then reads the agent's whole trajectory from the log. *Below* is strict;
pressure is the effective pressure (what the mode and the monitor's actions follow) unless
``effective=False``. An agent with no recorded vitals fails too — a misspelt name must not
pass a gate. A failure is a :class:`VitalsAssertionError` whose message shows the
trajectory, the signals that drove the peak, and the guidance that fired.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..runtime import Runtime
from ..store.events import Event
from ..store.log import EventLog
from ..vitals.pressure import Mode
from .trajectory import VITALS_TYPES, Trajectory, agents_with_vitals, build, report

Source = Runtime | EventLog


class VitalsAssertionError(AssertionError):
    """An agent's vitals broke a bound; ``str()`` is the readable report."""

    def __init__(self, message: str, agent_ids: Sequence[str]) -> None:
        super().__init__(message)
        self.agent_ids = tuple(agent_ids)


async def _events(source: Source) -> list[Event]:
    if isinstance(source, Runtime):
        await source.vitals.caught_up()
        log = source.events
    else:
        log = source
    return await log.query()


async def agent_trajectory(source: Source, agent_id: str) -> Trajectory:
    """``agent_id``'s trajectory in a runtime (once its monitor has caught up) or a log."""
    return build(agent_id, await _events(source))


def _missing(agent_id: str, events: list[Event]) -> VitalsAssertionError:
    known = agents_with_vitals(events)
    return VitalsAssertionError(
        f"no vitals were recorded for agent {agent_id!r} "
        f"(agents with vitals: {', '.join(map(repr, known)) or 'none'})",
        [agent_id],
    )


def pressure_problem(t: Trajectory, below: float, *, effective: bool = True) -> str | None:
    """The report of ``t`` going to ``below`` or above, or None."""
    peak = t.peak(effective=effective)
    value = peak.effective_pressure if effective else peak.pressure
    if value < below:
        return None
    headline = (
        f"agent {t.agent_id!r} did not stay below pressure {below}: it reached {value:.3f} "
        f"({peak.mode.value.upper()}) at action {peak.action} (seq {peak.seq})"
    )
    return report(t, headline, effective=effective, peak=peak)


def mode_problem(t: Trajectory, at_most: Mode) -> str | None:
    """The report of ``t`` reaching a mode above ``at_most``, or None."""
    highest = t.highest_mode()
    if highest.rank <= at_most.rank:
        return None
    first = next(p for p in t.points if p.mode is highest)
    headline = (
        f"agent {t.agent_id!r} went above mode {at_most.value.upper()}: it reached "
        f"{highest.value.upper()} at action {first.action} (seq {first.seq}, pressure "
        f"{first.effective_pressure:.3f})"
    )
    return report(t, headline, peak=first)


async def assert_pressure_below(
    source: Source, agent_id: str, below: float, *, effective: bool = True
) -> None:
    """Fail unless every recorded pressure of ``agent_id`` is < ``below``."""
    __tracebackhide__ = True
    events = await _events(source)
    t = build(agent_id, events)
    if not t.points:
        raise _missing(agent_id, events)
    problem = pressure_problem(t, below, effective=effective)
    if problem is not None:
        raise VitalsAssertionError(problem, [agent_id])


async def assert_mode_at_most(source: Source, agent_id: str, mode: Mode | str) -> None:
    """Fail if ``agent_id`` ever reached a mode above ``mode`` (``Mode.GUIDE`` or ``"guide"``)."""
    __tracebackhide__ = True
    limit = Mode(mode)
    events = await _events(source)
    t = build(agent_id, events)
    if not t.points:
        raise _missing(agent_id, events)
    problem = mode_problem(t, limit)
    if problem is not None:
        raise VitalsAssertionError(problem, [agent_id])


async def check_agents(
    source: Source,
    *,
    max_pressure: float | None = None,
    max_mode: Mode | str | None = None,
    agents: Sequence[str] | None = None,
    effective: bool = True,
) -> None:
    """Every agent (or those named) against the bounds, all failures in one error: what the
    ``@pytest.mark.soma(...)`` marker runs after the test. No agent with vitals is a failure."""
    __tracebackhide__ = True
    events = await _events(source)
    vitals = [e for e in events if e.type in VITALS_TYPES]
    names = list(agents) if agents is not None else agents_with_vitals(vitals)
    if not names:
        raise VitalsAssertionError("no agent recorded any vitals in this test: nothing to check", [])
    limit = None if max_mode is None else Mode(max_mode)
    problems: list[str] = []
    failing: list[str] = []
    for name in names:
        t = build(name, events)
        if not t.points:
            problems.append(str(_missing(name, events)))
            failing.append(name)
            continue
        found = [
            pressure_problem(t, max_pressure, effective=effective) if max_pressure is not None else None,
            mode_problem(t, limit) if limit is not None else None,
        ]
        reports = [p for p in found if p is not None]
        if reports:
            problems.append(reports[0])  # the same trajectory twice says nothing more
            failing.append(name)
    if problems:
        rule = "\n\n" + "─" * 78 + "\n"
        raise VitalsAssertionError(rule.join(problems), failing)
