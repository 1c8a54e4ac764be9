"""Vitals: a pure, deterministic behavioural monitor for agents (docs/design.md §5).

``VitalsEngine.observe(event)`` turns the event stream into per-agent pressure updates and
guidance firings; the same events give bit-identical numbers, so ``replay`` of a recorded log
reproduces the recorded ``vitals.updated`` trajectory. How good a detector it is — detection
delay and false alarms — is measured by the scenario suite in ``vitals.scenarios``.
"""

from .config import DEFAULT_BASELINES, DEFAULT_PRICES, SIGNALS, ModelPrice, VitalsConfig, price_for
from .engine import EventLike, VitalsEngine
from .pressure import Mode, aggregate, signal_pressure
from .replay import divergence, first_divergence, recorded_trajectory, replay
from .trust import TrustGraph
from .updates import AgentVitals, GuidanceFiring, PressureUpdate, SignalReading, Update

__all__ = [
    "DEFAULT_BASELINES",
    "DEFAULT_PRICES",
    "SIGNALS",
    "AgentVitals",
    "EventLike",
    "GuidanceFiring",
    "Mode",
    "ModelPrice",
    "PressureUpdate",
    "SignalReading",
    "TrustGraph",
    "Update",
    "VitalsConfig",
    "VitalsEngine",
    "aggregate",
    "divergence",
    "first_divergence",
    "price_for",
    "recorded_trajectory",
    "replay",
    "signal_pressure",
]
