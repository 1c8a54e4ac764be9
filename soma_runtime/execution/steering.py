"""Steering messages: how a monitor (vitals) steers sessions and runs.

The execution core defines these types and acts on them; it never imports the monitor.
A session tells the process registered as ``STEERING_NAME`` (if there is one) which agent
it serves; the monitor then sends it :class:`Guidance` and :class:`DestructiveBlock`.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..kernel import Pid

STEERING_NAME = "soma.vitals"

RESUBSCRIBE = "steering.resubscribe"
"""Monitor → session: I (re)started; send me ``SteerMe`` again."""


@dataclass(frozen=True, slots=True)
class SteerMe:
    """Session → monitor: send steering for ``agent_id`` to ``session`` (until it exits)."""

    agent_id: str
    session: Pid


@dataclass(frozen=True, slots=True)
class Guidance:
    """Monitor → session: a message for the agent's next model call."""

    agent_id: str
    firing_id: str
    pattern: str
    message: str
    pressure: float
    mode: str


@dataclass(frozen=True, slots=True)
class DestructiveBlock:
    """Monitor → session → runs: refuse (``blocked``) or allow again destructive tools."""

    agent_id: str
    blocked: bool
    pressure: float
    reason: str
