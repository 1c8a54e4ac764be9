"""Measuring an engine on a scenario: detection delay, hold, recovery and false alarms.

Statistical process control measures a detector by its run lengths: how many observations
after a real shift it takes to signal (out-of-control run length: here *actions to GUIDE /
WARN / BLOCK*, counted from the first action of the distress, which is action 1), and how
rarely it signals while nothing is wrong (in-control: here *false alarms per 1,000 normal
actions* — the normal actions that stood at GUIDE or above). A :class:`Goal` states what a
scenario must show; :func:`measure` runs it through an engine and says which goals failed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..config import SIGNALS
from ..engine import VitalsEngine
from ..pressure import Mode

_BY_RANK = (Mode.OBSERVE, Mode.GUIDE, Mode.WARN, Mode.BLOCK)


@dataclass(frozen=True)
class Goal:
    """What a scenario must show. Delays count the distress's actions (its first is 1)."""

    reach: Mode | None = None
    """The mode the distress must bring the agent to, ..."""
    within: int = 0
    """... within this many of its actions."""
    hold: Mode | None = None
    """The lowest mode allowed from that deadline until the distress ends, ..."""
    hold_share: float = 1.0
    """... on at least this share of those actions (1: on every one of them; less for a
    distress whose windowed readings dip as ordinary noise does)."""
    after: Mode | None = None
    """The highest mode allowed at the scenario's last action (the end of its recovery)."""
    signal: str | None = None
    """A signal whose pressure must reach 0.5 ..."""
    signal_within: int = 0
    """... within this many distress actions."""
    pattern: str | None = None
    """A pattern that must fire ..."""
    pattern_within: int = 0
    """... within this many distress actions."""
    peak: Mode | None = None
    """The highest mode allowed during the distress (a pattern's job, not pressure's)."""
    normal: Mode = Mode.GUIDE
    """The highest mode allowed on normal actions."""
    guide_share: float | None = None
    """The largest share of normal actions at GUIDE or above (None: not a goal — the few
    dozen normal actions before a distress are too few to measure a rate on)."""

    def describe(self) -> str:
        """The goal in a few words, for a table."""
        parts = []
        if self.reach is not None:
            parts.append(f"{self.reach.name} ≤ {self.within}")
        if self.hold is not None:
            share = "" if self.hold_share == 1.0 else f" {self.hold_share:.0%}"
            parts.append(f"≥ {self.hold.name} held{share}")
        if self.after is not None:
            parts.append(f"≤ {self.after.name} after")
        if self.signal is not None:
            parts.append(f"{self.signal} ≤ {self.signal_within}")
        if self.pattern is not None:
            parts.append(f"{self.pattern} ≤ {self.pattern_within}")
        if self.peak is not None:
            parts.append(f"peak ≤ {self.peak.name}")
        normal = f"normal ≤ {self.normal.name}"
        if self.guide_share is not None:
            normal += f", GUIDE ≤ {self.guide_share:.0%}"
        parts.append(normal)
        return "; ".join(parts)


@dataclass(frozen=True)
class Scenario:
    """A seeded event stream of one agent, the span of its distress, and the goal.

    ``onset`` and ``end`` are the agent's action numbers (from 1) of the first and last
    distress action; both None for a scenario of normal work only. Actions before the onset
    are normal work; actions after the end are the recovery."""

    name: str
    goal: Goal
    events: list[Any]
    agent: str
    onset: int | None = None
    end: int | None = None

    @property
    def actions(self) -> int:
        return sum(1 for e in self.events if e.agent_id == self.agent and e.type in _ACTIONS)


_ACTIONS = frozenset({"tool.succeeded", "tool.failed", "llm.succeeded", "llm.failed"})


@dataclass
class Result:
    """What an engine did on a scenario (delays in distress actions, None: never)."""

    scenario: Scenario
    modes: list[Mode] = field(default_factory=list)
    """The agent's mode after each of its actions."""
    pressures: list[float] = field(default_factory=list)
    signal_pressures: list[tuple[float, ...]] = field(default_factory=list)
    firings: list[tuple[int, str]] = field(default_factory=list)
    """(action, pattern) of each guidance firing for the agent."""

    def _delay(self, hit: Callable[[int], bool]) -> int | None:
        onset = self.scenario.onset
        if onset is None:
            return None
        end = self.scenario.end if self.scenario.end is not None else len(self.modes)
        for action in range(onset, end + 1):
            if hit(action):
                return action - onset + 1
        return None

    def to_mode(self, mode: Mode) -> int | None:
        """Distress actions until the agent first stood at ``mode`` or above."""
        return self._delay(lambda a: self.modes[a - 1].rank >= mode.rank)

    def to_signal(self, signal: str) -> int | None:
        index = SIGNALS.index(signal)
        return self._delay(lambda a: self.signal_pressures[a - 1][index] >= 0.5)

    def to_pattern(self, pattern: str) -> int | None:
        fired = {action for action, name in self.firings if name == pattern}
        return self._delay(lambda a: a in fired)

    @property
    def distress(self) -> range:
        onset, end = self.scenario.onset, self.scenario.end
        if onset is None:
            return range(0)
        return range(onset - 1, end if end is not None else len(self.modes))

    @property
    def normal(self) -> range:
        onset = self.scenario.onset
        return range(len(self.modes) if onset is None else onset - 1)

    def peak(self) -> tuple[float, Mode]:
        """The highest pressure (and its mode) during the distress, or over all actions of a
        scenario of normal work."""
        span = self.distress or range(len(self.modes))
        if not span:
            return 0.0, Mode.OBSERVE
        best = max(span, key=lambda i: self.pressures[i])
        return self.pressures[best], self.modes[best]

    @property
    def false_alarms(self) -> int:
        """Normal actions at GUIDE or above."""
        return sum(1 for i in self.normal if self.modes[i].rank >= Mode.GUIDE.rank)

    @property
    def per_1000(self) -> float | None:
        """False alarms per 1,000 normal actions (None: no normal actions)."""
        n = len(self.normal)
        return 1000 * self.false_alarms / n if n else None

    def _hold_span(self) -> range:
        goal = self.scenario.goal
        onset = self.scenario.onset
        if onset is None:
            return range(0)
        start = onset - 1 + (goal.within - 1 if goal.reach is not None else 0)
        return range(start, self.distress.stop)

    def held(self) -> Mode | None:
        """The lowest mode from the goal's deadline (its ``within``-th distress action; the
        first one without a ``reach``) until the distress ended (None: the distress ended
        before the deadline)."""
        span = self._hold_span()
        if not span:
            return None
        return min((self.modes[i] for i in span), key=lambda m: m.rank)

    def held_share(self, mode: Mode) -> float | None:
        """The share of the actions from the deadline to the end of the distress at ``mode``
        or above (None: the distress ended before the deadline)."""
        span = self._hold_span()
        if not span:
            return None
        return sum(1 for i in span if self.modes[i].rank >= mode.rank) / len(span)

    def failures(self) -> list[str]:
        """The goals this result missed, each in a few words (empty: every goal met)."""
        goal = self.scenario.goal
        missed = []

        def late(what: str, delay: int | None, within: int) -> None:
            if delay is None or delay > within:
                missed.append(f"{what} after {delay} actions (goal ≤ {within})")

        if goal.reach is not None:
            late(goal.reach.name, self.to_mode(goal.reach), goal.within)
        if goal.hold is not None:
            share = self.held_share(goal.hold)
            if share is not None and share < goal.hold_share:
                missed.append(
                    f"≥ {goal.hold.name} on {share:.0%} of the distress (goal {goal.hold_share:.0%})"
                )
        if goal.after is not None and self.modes and self.modes[-1].rank > goal.after.rank:
            missed.append(f"{self.modes[-1].name} at the end of the recovery")
        if goal.signal is not None:
            late(f"{goal.signal} pressure 0.5", self.to_signal(goal.signal), goal.signal_within)
        if goal.pattern is not None:
            late(goal.pattern, self.to_pattern(goal.pattern), goal.pattern_within)
        if goal.peak is not None and self.peak()[1].rank > goal.peak.rank:
            missed.append(f"peak {self.peak()[1].name}")
        normal_peak = max((self.modes[i].rank for i in self.normal), default=0)
        if normal_peak > goal.normal.rank:
            missed.append(f"{_BY_RANK[normal_peak].name} on normal work")
        if goal.guide_share is not None and self.normal:
            share = self.false_alarms / len(self.normal)
            if share > goal.guide_share:
                missed.append(f"GUIDE+ on {share:.1%} of normal actions")
        return missed

    @property
    def ok(self) -> bool:
        return not self.failures()


def measure(scenario: Scenario, engine: Any = None) -> Result:
    """Run ``scenario`` through ``engine`` (a fresh default ``VitalsEngine`` if None).

    Any engine with the same ``observe`` and update shapes will do — an older release of
    this one, say, to compare before and after — so updates are read by their attributes:
    a guidance firing is the one with a ``message``, a pressure update the one with
    ``pressures`` (outcomes and lessons are neither)."""
    engine = engine if engine is not None else VitalsEngine()
    result = Result(scenario)
    agent = scenario.agent
    for event in scenario.events:
        for update in engine.observe(event):
            if update.agent_id != agent:
                continue
            if hasattr(update, "message"):
                result.firings.append((update.action, update.pattern))
            elif (
                hasattr(update, "pressures") and update.action == len(result.modes) + 1
            ):  # the update of the agent's own action
                result.modes.append(Mode(update.mode))
                result.pressures.append(update.pressure)
                result.signal_pressures.append(tuple(update.pressures))
    return result
