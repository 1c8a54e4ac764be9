"""An agent's vitals as a test reads them: its trajectory, what caused each point, its firings.

Read from the log (``vitals.updated`` and ``guidance.fired`` are events), so a check sees
exactly what the monitor recorded and acted on — the same numbers the dashboard, the OTel
export and ``soma replay`` show. :func:`report` renders one for a failure message: the
trajectory (around the peak when it is long), the signals that drove the peak, the firings.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from ..store.events import Event
from ..vitals.config import SIGNALS
from ..vitals.pressure import Mode

VITALS_TYPES: Final = ("vitals.updated", "guidance.fired")
_SHORT: Final = {
    "uncertainty": "uncert",
    "drift": "drift",
    "error_rate": "errors",
    "token_usage": "tokens",
    "cost": "cost",
}
_MAX_ROWS: Final = 24


@dataclass(frozen=True, slots=True)
class Point:
    """One ``vitals.updated``: the agent's vitals after the event ``cause_seq``."""

    seq: int
    cause_seq: int
    action: int
    pressure: float
    effective_pressure: float
    mode: Mode
    signal_pressures: Mapping[str, float]
    signals: Mapping[str, float]
    z: Mapping[str, float]

    @classmethod
    def from_event(cls, event: Event) -> Point:
        p = event.payload
        return cls(
            event.seq,
            int(p.get("cause_seq", 0)),
            int(p.get("action", 0)),
            float(p["pressure"]),
            float(p.get("effective_pressure", p["pressure"])),
            Mode(p["mode"]),
            dict(p.get("signal_pressures") or {}),
            dict(p.get("signals") or {}),
            dict(p.get("z") or {}),
        )


@dataclass(frozen=True, slots=True)
class Trajectory:
    agent_id: str
    points: tuple[Point, ...]
    firings: tuple[Event, ...]
    causes: Mapping[int, Event]
    """The events the points were computed after, by seq (to say what drove each one)."""

    def peak(self, *, effective: bool = True) -> Point:
        """The highest point (the first of equals); ``ValueError`` on an empty trajectory."""
        if not self.points:
            raise ValueError(f"agent {self.agent_id!r} has no vitals")
        return max(self.points, key=lambda p: (_value(p, effective), -p.seq))

    def highest_mode(self) -> Mode:
        return max((p.mode for p in self.points), key=lambda m: m.rank, default=Mode.OBSERVE)


def build(agent_id: str, events: Iterable[Event]) -> Trajectory:
    """The trajectory of ``agent_id`` among ``events`` (any order; others ignored)."""
    points: list[Point] = []
    firings: list[Event] = []
    others: dict[int, Event] = {}
    for event in sorted(events, key=lambda e: e.seq):
        agent = event.payload.get("agent_id") if event.type in VITALS_TYPES else event.agent_id
        if agent != agent_id and event.agent_id != agent_id:
            continue
        if event.type == "vitals.updated":
            points.append(Point.from_event(event))
        elif event.type == "guidance.fired":
            firings.append(event)
        else:
            others[event.seq] = event
    causes = {p.cause_seq: others[p.cause_seq] for p in points if p.cause_seq in others}
    return Trajectory(agent_id, tuple(points), tuple(firings), causes)


def agents_with_vitals(events: Iterable[Event]) -> list[str]:
    """Every agent a ``vitals.updated`` was recorded for, in order of first appearance."""
    seen: dict[str, None] = {}
    for event in events:
        if event.type == "vitals.updated":
            agent = event.payload.get("agent_id") or event.agent_id
            if isinstance(agent, str):
                seen.setdefault(agent, None)
    return list(seen)


def _value(point: Point, effective: bool) -> float:
    return point.effective_pressure if effective else point.pressure


def _cause(trajectory: Trajectory, point: Point) -> str:
    event = trajectory.causes.get(point.cause_seq)
    if event is None:
        return f"seq {point.cause_seq}"
    what = event.payload.get("tool") or event.payload.get("model") or ""
    return f"{event.type} {what}".strip()


def report(
    trajectory: Trajectory, headline: str, *, effective: bool = True, peak: Point | None = None
) -> str:
    """``headline``, then the trajectory, the signals that drove ``peak`` and the firings."""
    top = peak or trajectory.peak(effective=effective)
    points = trajectory.points
    lines = [headline, ""]
    which = "effective pressure" if effective else "own pressure"
    lines.append(f"trajectory ({len(points)} updates; pressure = {which}, then each signal's pressure):")
    header = f"  {'seq':>5} {'act':>4}  {'pressure':>8}  {'mode':<7}  " + "  ".join(
        f"{_SHORT.get(s, s):>6}" for s in SIGNALS
    )
    lines.append(header + "  after")
    for row in _rows(points, top):
        if row is None:
            lines.append("     …")
            continue
        mark = "▶" if row is top else " "
        signals = "  ".join(f"{row.signal_pressures.get(s, 0.0):>6.2f}" for s in SIGNALS)
        lines.append(
            f"{mark} {row.seq:>5} {row.action:>4}  {_value(row, effective):>8.3f}  {row.mode.value:<7}  "
            f"{signals}  {_cause(trajectory, row)}"
        )
    lines += ["", f"signals that drove the peak (seq {top.seq}), strongest first:"]
    ranked = sorted(SIGNALS, key=lambda s: -top.signal_pressures.get(s, 0.0))
    for name in ranked:
        pressure = top.signal_pressures.get(name, 0.0)
        if pressure <= 0.0 and name != ranked[0]:
            continue
        lines.append(
            f"  {name:<12} pressure {pressure:.2f}   z {top.z.get(name, 0.0):+.2f}   "
            f"value {_number(top.signals.get(name, 0.0))}"
        )
    lines += ["", f"guidance fired ({len(trajectory.firings)}):"]
    if not trajectory.firings:
        lines.append("  none")
    for event in trajectory.firings[-10:]:
        p = event.payload
        lines.append(
            f"  seq {event.seq:>5}  {p.get('pattern')!s:<18} {p.get('mode')!s:<7} "
            f"p={float(p.get('pressure') or 0.0):.2f}  {_quote(p.get('message'))}"
        )
    return "\n".join(lines)


def _rows(points: Sequence[Point], peak: Point) -> list[Point | None]:
    """All points if few; else the start, the stretch up to and after the peak, and the end
    (None marks a gap)."""
    if len(points) <= _MAX_ROWS:
        return list(points)
    at = points.index(peak)
    keep = {0, 1, 2, len(points) - 2, len(points) - 1, *range(max(0, at - 12), min(len(points), at + 5))}
    rows: list[Point | None] = []
    previous = -1
    for index in sorted(keep):
        if index != previous + 1:
            rows.append(None)
        rows.append(points[index])
        previous = index
    return rows


def _number(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, int | float) else str(value)


def _quote(message: Any) -> str:
    text = str(message or "").replace("\n", " ")
    return f'"{text[:90]}…"' if len(text) > 90 else f'"{text}"'
