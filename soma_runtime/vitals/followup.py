"""What followed each guidance firing: its outcomes at h = 1, 5 and 10 of its agent's actions.

A firing stays open on its agent until every horizon is settled. At the agent's action
``firing action + h`` the outcome records the agent's (effective) pressure then, its change
since the firing, whether that action failed, and whether the agent *recovered*: its pressure
is back below ``RECOVERED_BELOW`` — the ceiling of OBSERVE, the band of an agent at its own
baseline (pressure measures how far its signals stand above its learnt normal).

An agent may stop before a horizon. Its firings then get *censored* outcomes — the horizon
is recorded, the result is unknown — rather than none, so a report can tell "nothing yet"
from "never will be" and can count what was lost: when the firing's session stops
(``session.stopped``), when the agent's next action belongs to another session (it went on
with other work), or when more than ``MAX_OPEN`` firings of one agent are open (the oldest).

Both arms are followed the same way (``arms``): a control firing was not delivered, and its
outcomes are what the agent did without the guidance.
"""

from __future__ import annotations

from typing import Any, Final

from .updates import GuidanceFiring, GuidanceOutcome

HORIZONS: Final = (1, 5, 10)
RECOVERED_BELOW: Final = 0.25
MAX_OPEN: Final = 64
"""Open firings per agent; beyond, the oldest is censored (reason ``evicted``)."""


class OpenFiring:
    """A firing waiting for its outcomes."""

    __slots__ = ("action", "arm", "firing_id", "horizons", "pattern", "pressure", "session_id")

    def __init__(
        self,
        firing_id: str,
        pattern: str,
        arm: str | None,
        session_id: str | None,
        action: int,
        pressure: float,
        horizons: list[int],
    ) -> None:
        self.firing_id = firing_id
        self.pattern = pattern
        self.arm = arm
        self.session_id = session_id
        self.action = action
        self.pressure = pressure
        self.horizons = horizons  # those not yet settled, ascending

    @classmethod
    def of(cls, firing: GuidanceFiring) -> OpenFiring:
        return cls(
            firing.firing_id,
            firing.pattern,
            firing.arm,
            firing.session_id,
            firing.action,
            firing.pressure,
            list(HORIZONS),
        )

    def to_json(self) -> list[Any]:
        return [
            self.firing_id,
            self.pattern,
            self.arm,
            self.session_id,
            self.action,
            self.pressure,
            list(self.horizons),
        ]

    @classmethod
    def from_json(cls, data: list[Any]) -> OpenFiring:
        return cls(data[0], data[1], data[2], data[3], data[4], data[5], list(data[6]))


def settle(
    open_firings: list[OpenFiring],
    agent_id: str,
    session_id: str | None,
    seq: int,
    action: int,
    pressure: float,
    failed: bool,
    out: list[Any],
) -> None:
    """The outcomes due at the agent's ``action`` (its ``action``-th, in ``session_id``);
    firings of another session are censored first. Settled firings leave ``open_firings``."""
    if not open_firings:
        return
    keep = []
    for f in open_firings:
        if f.session_id != session_id:
            censor(f, agent_id, seq, action, "session_changed", out)
            continue
        horizons = f.horizons
        while horizons and f.action + horizons[0] == action:
            out.append(_outcome(f, agent_id, seq, action, horizons.pop(0), pressure, failed, None))
        if horizons:
            keep.append(f)
    open_firings[:] = keep


def censor(f: OpenFiring, agent_id: str, seq: int, action: int, reason: str, out: list[Any]) -> None:
    """A censored outcome for each horizon ``f`` has not reached."""
    for h in f.horizons:
        out.append(_outcome(f, agent_id, seq, action, h, None, None, reason))
    f.horizons = []


def _outcome(
    f: OpenFiring,
    agent_id: str,
    seq: int,
    action: int,
    horizon: int,
    pressure: float | None,
    failed: bool | None,
    reason: str | None,
) -> GuidanceOutcome:
    """An outcome of ``f``: observed (``pressure`` given) or censored (``reason`` given)."""
    recovered = None if pressure is None else pressure < RECOVERED_BELOW
    return GuidanceOutcome(
        f.firing_id, agent_id, f.session_id, seq, action, f.pattern, f.arm, horizon, f.pressure,
        pressure, failed, recovered, reason,
    )  # fmt: skip


def open_firing(open_firings: list[OpenFiring], firing: GuidanceFiring, seq: int, out: list[Any]) -> None:
    """Follow ``firing`` from now on (the oldest open one is censored past ``MAX_OPEN``)."""
    open_firings.append(OpenFiring.of(firing))
    if len(open_firings) > MAX_OPEN:
        oldest = open_firings.pop(0)
        censor(oldest, firing.agent_id, seq, firing.action, "evicted", out)
