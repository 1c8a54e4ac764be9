"""What an integration asks of the store it records to, and what it gets back.

An agent that runs elsewhere — a Claude Code session, a script on an SDK client — has no
session process to steer: its integration records what the agent did and asks, in the same
breath, where the agent's vitals stand and which guidance is waiting for it. A :class:`Ledger`
answers both, through one of two doors:

* a running runtime, over its control socket (``served``: the runtime appends the events,
  its vitals monitor observes them, and the answer is read after it caught up);
* the database itself, when no runtime listens (``direct``: the events are appended under the
  database's writer lock, and the same vitals engine runs in the caller's process).

Either way the same events give the same vitals, and each guidance firing is handed out
once: :func:`delivery` turns what was pending into a ``guidance.delivered`` event, recorded
in the same step that read it.

Standard library only, and no ``typing`` at run time: ``soma hook`` imports this.
"""

from __future__ import annotations

# typing is not imported at run time: ``soma hook`` imports this on its hot path, where typing
# would cost a few milliseconds of its ~20 (type checkers read TYPE_CHECKING as typing's own).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any, Protocol

SOURCES = ("runtime", "hook", "wrap", "replay", "test")
"""Who may be named as recording an event (``store.events.SOURCES``, not imported: standard
library only here)."""

ACTIONS = frozenset({"tool.succeeded", "tool.failed", "llm.succeeded", "llm.failed"})
"""Event types the vitals engine counts as an agent's actions (the ones that move pressure)."""

MAX_GUIDANCE = 20
"""Firings handed out at most in one delivery (older pending ones are delivered as read)."""


class Draft:
    """An event to record: its type, payload and ids. ``once`` names a session: the event is
    recorded only if that session has no ``session.started`` yet (checked by the ledger in
    the same step, so two hooks racing at a session's start record it once). ``source`` is who
    records it (``hook``, ``wrap``: the envelope's ``source``; None: the store's default)."""

    __slots__ = (
        "agent_id",
        "correlation_id",
        "event_id",
        "once",
        "payload",
        "session_id",
        "source",
        "task_id",
        "tool_call_id",
        "type",
    )

    def __init__(
        self,
        type: str,
        payload: dict[str, Any],
        *,
        agent_id: str | None = None,
        session_id: str | None = None,
        tool_call_id: str | None = None,
        task_id: str | None = None,
        correlation_id: str | None = None,
        once: str | None = None,
        event_id: str | None = None,
        source: str | None = None,
    ) -> None:
        self.type = type
        self.source = source
        self.payload = payload
        self.agent_id = agent_id
        self.session_id = session_id
        self.tool_call_id = tool_call_id
        self.task_id = task_id
        self.correlation_id = correlation_id
        self.once = once
        self.event_id = event_id  # None: a fresh one (a given one makes a retried write idempotent)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"type": self.type, "payload": self.payload}
        for name in ("agent_id", "session_id", "tool_call_id", "task_id", "correlation_id", "once", "source"):
            value = getattr(self, name)
            if value is not None:
                data[name] = value
        return data

    @classmethod
    def from_json(cls, data: Any) -> Draft:
        if not isinstance(data, dict):
            raise ValueError(f"an event must be a JSON object, got {data!r:.80}")
        kind, payload = data.get("type"), data.get("payload", {})
        if not isinstance(kind, str) or not kind:
            raise ValueError(f"an event needs a 'type' (a non-empty string), got {kind!r:.80}")
        if not isinstance(payload, dict):
            raise ValueError(f"the payload of a {kind} event must be a JSON object, got {payload!r:.80}")
        ids: dict[str, str | None] = {}
        for name in ("agent_id", "session_id", "tool_call_id", "task_id", "correlation_id", "once", "source"):
            value = data.get(name)
            if value is not None and (not isinstance(value, str) or not value):
                raise ValueError(f"{name!r} of a {kind} event must be a non-empty string, got {value!r:.80}")
            ids[name] = value
        if ids["source"] is not None and ids["source"] not in SOURCES:
            raise ValueError(f"'source' of a {kind} event must be one of {', '.join(SOURCES)}")
        unknown = set(data) - {"type", "payload", *ids}
        if unknown:
            raise ValueError(f"an event has no field {sorted(unknown)[0]!r}")
        return cls(kind, payload, **ids)

    def __repr__(self) -> str:
        return f"Draft({self.type!r}, agent_id={self.agent_id!r}, session_id={self.session_id!r})"


class Vitals:
    """An agent's vitals as last recorded: its mode and effective pressure (what it is
    steered by), its own pressure, and each measured signal's pressure."""

    __slots__ = ("agent_id", "mode", "own", "pressure", "signals")

    def __init__(
        self, agent_id: str, mode: str, pressure: float, own: float, signals: dict[str, float]
    ) -> None:
        self.agent_id = agent_id
        self.mode = mode
        self.pressure = pressure
        self.own = own
        self.signals = signals

    @classmethod
    def from_payload(cls, agent_id: str, payload: dict[str, Any]) -> Vitals:
        """From a ``vitals.updated`` payload."""
        own = float(payload.get("pressure", 0.0))
        return cls(
            agent_id,
            str(payload.get("mode", "observe")),
            float(payload.get("effective_pressure", own)),
            own,
            {k: float(v) for k, v in (payload.get("signal_pressures") or {}).items()},
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "agent_id": self.agent_id,
            "mode": self.mode,
            "pressure": self.pressure,
            "own": self.own,
            "signals": self.signals,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Vitals:
        return cls(data["agent_id"], data["mode"], data["pressure"], data["own"], dict(data["signals"]))

    @property
    def blocked(self) -> bool:
        return self.mode == "block"


class Firing:
    """A guidance firing waiting for its agent (from a ``guidance.fired`` event)."""

    __slots__ = ("firing_id", "message", "mode", "pattern", "pressure", "seq")

    def __init__(
        self, firing_id: str, seq: int, pattern: str, message: str, mode: str, pressure: float
    ) -> None:
        self.firing_id = firing_id
        self.seq = seq
        self.pattern = pattern
        self.message = message
        self.mode = mode
        self.pressure = pressure

    @classmethod
    def from_event(cls, seq: int, payload: dict[str, Any]) -> Firing:
        return cls(
            str(payload.get("firing_id", "")),
            seq,
            str(payload.get("pattern") or "guidance"),
            str(payload.get("message", "")),
            str(payload.get("mode") or "guide"),
            float(payload.get("pressure") or 0.0),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "firing_id": self.firing_id,
            "seq": self.seq,
            "pattern": self.pattern,
            "message": self.message,
            "mode": self.mode,
            "pressure": self.pressure,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Firing:
        return cls(
            data["firing_id"], data["seq"], data["pattern"], data["message"], data["mode"], data["pressure"]
        )


class Facts:
    """What a ledger knows before recording: which of the asked sessions have started, the
    task an agent is on, and its vitals."""

    __slots__ = ("open_task", "started", "vitals")

    def __init__(self, started: set[str], open_task: str | None, vitals: Vitals | None) -> None:
        self.started = started
        self.open_task = open_task
        self.vitals = vitals

    def to_json(self) -> dict[str, Any]:
        return {
            "started": sorted(self.started),
            "open_task": self.open_task,
            "vitals": None if self.vitals is None else self.vitals.to_json(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Facts:
        vitals = data.get("vitals")
        return cls(
            set(data.get("started") or ()),
            data.get("open_task"),
            None if vitals is None else Vitals.from_json(vitals),
        )


class Outcome:
    """What recording gave back: the agent's vitals after the events (None: none yet), the
    guidance handed out with it, and the seqs of the events recorded."""

    __slots__ = ("guidance", "seqs", "vitals")

    def __init__(self, vitals: Vitals | None, guidance: list[Firing], seqs: list[int]) -> None:
        self.vitals = vitals
        self.guidance = guidance
        self.seqs = seqs

    def to_json(self) -> dict[str, Any]:
        return {
            "vitals": None if self.vitals is None else self.vitals.to_json(),
            "guidance": [f.to_json() for f in self.guidance],
            "seqs": self.seqs,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Outcome:
        vitals = data.get("vitals")
        return cls(
            None if vitals is None else Vitals.from_json(vitals),
            [Firing.from_json(f) for f in data.get("guidance") or ()],
            list(data.get("seqs") or ()),
        )


if TYPE_CHECKING:

    class Ledger(Protocol):
        """A store to record an outside agent's events to (see the module docstring)."""

        def facts(self, agent_id: str, sessions: Sequence[str], task_agent: str | None) -> Facts:
            """Which of ``sessions`` have started, ``task_agent``'s open task, and
            ``agent_id``'s vitals."""
            ...

        def exchange(self, drafts: Sequence[Draft], agent_id: str, channel: str | None) -> Outcome:
            """Record ``drafts``, bring the vitals up to date, and — with a ``channel`` —
            hand out the guidance pending for ``agent_id`` (recording its delivery)."""
            ...


def delivery(firings: Sequence[Firing], agent_id: str, session_id: str | None, channel: str) -> Draft:
    """The ``guidance.delivered`` event of handing ``firings`` out through ``channel``."""
    return Draft(
        "guidance.delivered",
        {
            "firing_ids": [f.firing_id for f in firings],
            "channel": channel,
            "upto_seq": max(f.seq for f in firings),
        },
        agent_id=agent_id,
        session_id=session_id,
        source=channel.split(":", 1)[0],
    )


def newest(firings: Sequence[Firing]) -> list[Firing]:
    """The firings to hand out: the newest :data:`MAX_GUIDANCE`, oldest first."""
    return list(firings)[-MAX_GUIDANCE:]
