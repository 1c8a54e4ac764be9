"""Replay: a recorded event slice through a fresh engine, and comparison with the record.

``replay(events)`` returns the trajectory — the pressure updates, in order — that a fresh
engine computes from ``events`` (any slice; ``vitals.updated`` and ``guidance.fired`` events in
it are ignored by the engine). What is compared with a recorded ``vitals.updated`` event is its
whole payload: ``PressureUpdate.payload()`` is exactly what the monitor records, so

    [u.payload() for u in replay(events)] == recorded_trajectory(events)

holds for a log the monitor produced with a fresh engine from the slice's start and the same
config and trust graph. Every field takes part: ``agent_id``, ``session_id``, ``cause_seq``,
``action``, ``pressure``, ``effective_pressure``, ``mode`` and the per-signal ``signals``
(raw values), ``z`` and ``signal_pressures``. Floats are compared with ``==`` after the JSON
round trip of the store, which preserves every bit of a finite double.

The guidance is replayed the same way (``replay_guidance`` against ``recorded_guidance``):
every ``guidance.fired`` with its A/B arm, every ``guidance.outcome``, every ``lesson.*``
payload, in order — the arms are keyed on firing ids, never on a clock or a random source.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .config import VitalsConfig
from .engine import EventLike, VitalsEngine
from .trust import TrustGraph
from .updates import PressureUpdate


def replay(
    events: Iterable[EventLike], *, config: VitalsConfig | None = None, trust: TrustGraph | None = None
) -> list[PressureUpdate]:
    """The pressure trajectory a fresh engine computes from ``events``."""
    engine = VitalsEngine(config, trust=trust)
    return [u for u in engine.observe_many(events) if isinstance(u, PressureUpdate)]


GUIDANCE_TYPES = ("guidance.fired", "guidance.outcome", "lesson.recorded", "lesson.recalled")


def replay_guidance(
    events: Iterable[EventLike], *, config: VitalsConfig | None = None, trust: TrustGraph | None = None
) -> list[dict[str, Any]]:
    """The payloads of the firings (with their arms), outcomes and lessons a fresh engine
    computes from ``events``, in order."""
    engine = VitalsEngine(config, trust=trust)
    return [u.payload() for u in engine.observe_many(events) if not isinstance(u, PressureUpdate)]


def recorded_guidance(events: Iterable[EventLike]) -> list[dict[str, Any]]:
    """The payloads of the recorded ``guidance.fired``, ``guidance.outcome`` and ``lesson.*``
    events among ``events``, in order."""
    return [dict(e.payload) for e in events if e.type in GUIDANCE_TYPES]


def recorded_trajectory(events: Iterable[EventLike]) -> list[dict[str, Any]]:
    """The payloads of the ``vitals.updated`` events among ``events``, in order."""
    return [dict(e.payload) for e in events if e.type == "vitals.updated"]


def first_divergence(
    events: Iterable[EventLike], *, config: VitalsConfig | None = None, trust: TrustGraph | None = None
) -> int | None:
    """Index of the first point where the replayed trajectory and the recorded one differ
    (a missing point counts), or None when they are identical."""
    log = list(events)
    replayed = [u.payload() for u in replay(log, config=config, trust=trust)]
    return divergence(replayed, recorded_trajectory(log))


def divergence(replayed: Sequence[Mapping[str, Any]], recorded: Sequence[Mapping[str, Any]]) -> int | None:
    """Index of the first differing point of two trajectories (payloads), or None if equal."""
    for i, (mine, theirs) in enumerate(zip(replayed, recorded, strict=False)):
        if mine != theirs:
            return i
    if len(replayed) != len(recorded):
        return min(len(replayed), len(recorded))
    return None
