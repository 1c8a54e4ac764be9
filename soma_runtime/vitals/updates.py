"""What the engine hands its host: plain frozen values, and their event payloads.

``PressureUpdate.payload()`` *is* the ``vitals.updated`` payload and
``GuidanceFiring.payload()`` the ``guidance.fired`` one: the monitor emits them unchanged, so a
replayed trajectory can be compared with the recorded events by plain equality (floats survive
the JSON round trip exactly; see ``replay``). Both payloads fit the core models in
``soma_runtime.store.payloads`` (``signals`` holds the raw values; the rest are extra fields).
"""

from __future__ import annotations

from dataclasses import dataclass
from hashlib import blake2b
from typing import Any, ClassVar

from .config import SIGNALS
from .pressure import Mode


@dataclass(frozen=True, slots=True)
class SignalReading:
    """One signal at one action: its raw value, z-score against the baseline, and pressure.
    ``measured`` False: the signal had no reading (see ``signals``) and took no part in the
    pressure (its value, z and pressure are 0)."""

    value: float
    z: float
    pressure: float
    measured: bool = True


ALL_MEASURED = (True,) * len(SIGNALS)


def readings(
    values: tuple[float, ...],
    zs: tuple[float, ...],
    ps: tuple[float, ...],
    measured: tuple[bool, ...] = ALL_MEASURED,
) -> dict[str, SignalReading]:
    return {name: SignalReading(values[i], zs[i], ps[i], measured[i]) for i, name in enumerate(SIGNALS)}


@dataclass(frozen=True, slots=True)
class PressureUpdate:
    """An agent's vitals after the event ``seq``.

    ``pressure`` is the agent's own aggregate; ``effective_pressure`` adds what it picks up
    through the trust graph (equal without edges); ``mode`` is the band of the *effective*
    pressure — what the monitor acts on. An update caused by another agent's action (through
    the trust graph) repeats this agent's own signals and ``action`` count unchanged.
    Per-signal tuples follow ``SIGNALS``: (uncertainty, drift, error_rate, token_usage, cost).
    """

    agent_id: str
    session_id: str | None
    seq: int
    action: int
    pressure: float
    effective_pressure: float
    mode: Mode
    values: tuple[float, ...]
    zs: tuple[float, ...]
    pressures: tuple[float, ...]
    measured: tuple[bool, ...] = ALL_MEASURED
    event_type: ClassVar[str] = "vitals.updated"

    @property
    def signals(self) -> dict[str, SignalReading]:
        return readings(self.values, self.zs, self.pressures, self.measured)

    def payload(self) -> dict[str, Any]:
        """The ``vitals.updated`` payload (the exact dict replay compares)."""
        return {
            "agent_id": self.agent_id,
            "session_id": self.session_id,
            "cause_seq": self.seq,
            "action": self.action,
            "pressure": self.pressure,
            "effective_pressure": self.effective_pressure,
            "mode": self.mode.value,
            "signals": dict(zip(SIGNALS, self.values, strict=True)),
            "z": {name: z for name, z, m in zip(SIGNALS, self.zs, self.measured, strict=True) if m},
            "signal_pressures": {
                name: p for name, p, m in zip(SIGNALS, self.pressures, self.measured, strict=True) if m
            },
        }


@dataclass(frozen=True, slots=True)
class GuidanceFiring:
    """A pattern fired for an agent at the event ``seq``.

    ``firing_id`` is derived from (agent, session, seq, pattern), so a replay or a restarted
    monitor names the same firing the same way (the monitor can drop one it already emitted).
    ``pressure`` and ``mode`` are the agent's effective pressure and mode at firing time.
    ``severity`` orders firings of one pattern (budget: 1 warning, 2 critical; pressure: the
    mode's rank; others 1). ``arm``: with A/B on for the pattern (``VitalsConfig.ab``),
    ``"treatment"`` (delivered) or ``"control"`` (recorded, never delivered), by block
    randomization keyed on the firing (``arms``); None when the pattern is not randomized
    (always delivered).
    """

    firing_id: str
    agent_id: str
    session_id: str | None
    seq: int
    action: int
    pattern: str
    severity: int
    message: str
    pressure: float
    mode: Mode
    details: dict[str, Any]
    arm: str | None = None
    event_type: ClassVar[str] = "guidance.fired"

    @property
    def delivered(self) -> bool:
        """Whether the firing reaches its agent (not in the control arm)."""
        return self.arm != "control"

    def payload(self) -> dict[str, Any]:
        """The ``guidance.fired`` payload."""
        return {
            "firing_id": self.firing_id,
            "agent_id": self.agent_id,
            "session_id": self.session_id,
            "cause_seq": self.seq,
            "action": self.action,
            "pattern": self.pattern,
            "severity": self.severity,
            "message": self.message,
            "pressure": self.pressure,
            "mode": self.mode.value,
            "details": dict(self.details),
            "arm": self.arm,
            "delivered": self.delivered,
        }


@dataclass(frozen=True, slots=True)
class GuidanceOutcome:
    """What followed a firing ``horizon`` of its agent's actions later (``followup``).

    ``seq`` is the event that settled it: the agent's action at the horizon, or — when
    ``censored`` — what ended the follow-up (its session stopped, the agent went on in another
    session, too many firings were open), and then ``pressure``, ``error`` and ``recovered``
    are unknown (None). ``recovered``: the agent's pressure at the horizon is back below
    ``RECOVERED_BELOW``, the ceiling of OBSERVE — where an agent at its own baseline stands.
    """

    firing_id: str
    agent_id: str
    session_id: str | None
    seq: int
    action: int
    pattern: str
    arm: str | None
    horizon: int
    pressure_at_firing: float
    pressure: float | None
    error: bool | None
    recovered: bool | None
    reason: str | None = None
    event_type: ClassVar[str] = "guidance.outcome"

    @property
    def censored(self) -> bool:
        return self.pressure is None

    def payload(self) -> dict[str, Any]:
        """The ``guidance.outcome`` payload."""
        return {
            "firing_id": self.firing_id,
            "agent_id": self.agent_id,
            "session_id": self.session_id,
            "cause_seq": self.seq,
            "action": self.action,
            "pattern": self.pattern,
            "arm": self.arm,
            "horizon": self.horizon,
            "censored": self.censored,
            "reason": self.reason,
            "pressure_at_firing": self.pressure_at_firing,
            "pressure": self.pressure,
            "pressure_change": None if self.pressure is None else self.pressure - self.pressure_at_firing,
            "error": self.error,
            "recovered": self.recovered,
        }


@dataclass(frozen=True, slots=True)
class LessonRecorded:
    """An error fixed after repeated failures of one tool (``lessons``)."""

    lesson_id: str
    agent_id: str
    session_id: str | None
    seq: int
    tool: str
    error: str
    fix: dict[str, Any]
    failures: int
    event_type: ClassVar[str] = "lesson.recorded"

    def payload(self) -> dict[str, Any]:
        """The ``lesson.recorded`` payload."""
        return {
            "lesson_id": self.lesson_id,
            "agent_id": self.agent_id,
            "session_id": self.session_id,
            "cause_seq": self.seq,
            "tool": self.tool,
            "error": self.error,
            "fix": dict(self.fix),
            "failures": self.failures,
        }


@dataclass(frozen=True, slots=True)
class LessonRecalled:
    """A lesson brought back as guidance (the firing ``firing_id``, pattern ``lesson``)."""

    lesson_id: str
    firing_id: str
    agent_id: str
    session_id: str | None
    seq: int
    similarity: float
    event_type: ClassVar[str] = "lesson.recalled"

    def payload(self) -> dict[str, Any]:
        """The ``lesson.recalled`` payload."""
        return {
            "lesson_id": self.lesson_id,
            "firing_id": self.firing_id,
            "agent_id": self.agent_id,
            "session_id": self.session_id,
            "cause_seq": self.seq,
            "similarity": self.similarity,
        }


Update = PressureUpdate | GuidanceFiring | GuidanceOutcome | LessonRecorded | LessonRecalled
"""What the engine hands its host; each has ``event_type`` and ``payload()`` (its event)."""


def firing_id(agent_id: str, session_id: str | None, seq: int, pattern: str) -> str:
    """The id of a firing: a BLAKE2b digest of what identifies it, the same in every process."""
    key = f"{agent_id}\x1f{session_id or ''}\x1f{seq}\x1f{pattern}"
    return "gf-" + blake2b(key.encode(), digest_size=12).hexdigest()


@dataclass(frozen=True, slots=True)
class AgentVitals:
    """An agent's current vitals (``VitalsEngine.snapshot``)."""

    agent_id: str
    session_id: str | None
    actions: int
    seq: int
    """The event of the agent's last update."""
    pressure: float
    effective_pressure: float
    mode: Mode
    signals: dict[str, SignalReading]
