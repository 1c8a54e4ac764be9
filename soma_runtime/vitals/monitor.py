"""VitalsMonitor: the process that hosts the engine under the root supervisor.

    EventStore ──subscription──▶ feeder ──Observed──▶ VitalsMonitor ──▶ vitals.updated, guidance.fired
                                                          │
                                                          └─▶ Guidance / DestructiveBlock → sessions

The monitor steers only through the core's steering messages (``soma_runtime.execution.steering``).
Sessions ask for steering with ``SteerMe`` (the monitor is registered as ``soma.vitals``).

Restart without double counting: a (re)started monitor first makes the store commit
everything already sent (``EventLog.sync``: a dead predecessor's emits included), reads the
cause ``seq`` of the newest vitals event, and feeds the whole log through a fresh engine
from the start. The engine is deterministic, so replaying rebuilds exactly the state it had;
only events after that seq produce new ``vitals.*`` events and steering. Each cause event's
updates are emitted as one atomic batch, so the log never holds half of them.

What the monitor records for an event says the same ``source`` as that event (a hook's
action gives hook-sourced vitals, a test's runtime test-sourced ones), so a report that
leaves tests and replays out leaves their guidance and outcomes out too. A firing in the
control arm (``arms``) is recorded and followed but never sent to the agent's sessions.
An outcome is recorded only for a firing the log holds (the store refuses the others): one
this monitor recorded, or — after a restart — one it finds there.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from ..execution.steering import RESUBSCRIBE, DestructiveBlock, Guidance, SteerMe
from ..kernel import (
    NOREPLY,
    Call,
    Down,
    DynamicSupervisor,
    GenServer,
    NoProc,
    Pid,
    Process,
    Ref,
    current_node,
)
from ..store.events import Event, EventDraft
from ..store.log import EventLog
from .config import VitalsConfig
from .engine import VitalsEngine
from .pressure import Mode
from .trust import TrustGraph
from .updates import AgentVitals, GuidanceFiring, GuidanceOutcome, PressureUpdate

_VITALS_TYPES = ("vitals.updated", "guidance.fired", "guidance.outcome", "lesson.recorded", "lesson.recalled")
"""What the monitor records (each payload names its cause event: ``cause_seq``)."""
_MAX_REMEMBERED = 4096


@dataclass(frozen=True, slots=True)
class Observed:
    """Feeder → monitor: the next committed events the engine acts on, in order, and the
    seq the feed has read up to (the events between that it left out are nothing to it)."""

    events: list[Event]
    upto: int


FEED_BATCH: Final = 16
"""Events a message from the feeder carries at most: every event read and waiting, up to this
(a run's step is 4 or 5 of them, most of which the engine ignores, so a message each cost
more than their handling); a bound keeps the mailbox's (its capacity in messages) meaningful."""


async def _feed(proc: Process, monitor: Pid, events: EventLog, types: tuple[str, ...]) -> None:
    """Follow the log's events of ``types`` (what the engine acts on) into the monitor's
    mailbox (its bound gives backpressure). The rest — a run's ``step.*``, the monitor's own
    ``vitals.updated`` — are left in the feed's ring, never made envelopes: more than half
    a step's events, and most of what following cost. How far it has read goes along, so
    the monitor's "observed up to" moves past them all the same."""
    subscription = events.subscribe(from_seq=1, type=list(types))
    while True:
        try:
            batch = await subscription.next_batch(FEED_BATCH, or_progress=True)
        except StopAsyncIteration:
            return
        await monitor.send(Observed(batch, subscription.cursor))


class VitalsMonitor(GenServer):
    async def init(self, events: str, config: VitalsConfig | None, session_supervisor: str | None) -> None:
        self.events = EventLog(events)
        self.engine = VitalsEngine(config)
        self.modes: dict[str, Mode] = {}
        self.steered: dict[str, dict[Pid, Ref]] = {}
        self.waiting: list[tuple[int, Call]] = []  # callers of ("observed", seq)
        self.recorded: dict[str, bool] = {}  # firing id -> whether the log holds it (bounded)
        await self.events.sync()
        newest = await self.events.query(type=list(_VITALS_TYPES), descending=True, limit=1)
        self.acted_up_to = int(newest[0].payload.get("cause_seq", 0)) if newest else 0
        self.seen = 0  # the log is read up to here: every event the engine acts on, observed
        self.feeder = current_node().spawn(
            _feed, self.pid, self.events, self.engine.observed_types, link=True
        )
        if session_supervisor is not None and current_node().whereis(session_supervisor) is not None:
            # After a restart, sessions must ask again: their SteerMe went to the dead monitor.
            for child in await DynamicSupervisor.which_children(session_supervisor):
                if isinstance(child.pid, Pid):
                    child.pid.send_nowait(RESUBSCRIBE)

    async def handle_info(self, message: Any) -> None:
        if isinstance(message, Observed):
            for event in message.events:
                await self._observe(event)
            self.seen = max(self.seen, message.upto)
            if self.waiting:
                self._answer_waiting()
        elif isinstance(message, SteerMe):
            self._steer(message.agent_id, message.session)
        elif isinstance(message, Down):
            for sessions in self.steered.values():
                if sessions.get(message.pid) is message.ref:
                    del sessions[message.pid]

    async def handle_call(self, request: Any, caller: Call) -> Any:
        match request:
            case "snapshot":
                return self.engine.snapshot()
            case "acted_up_to":
                return self.acted_up_to
            case ("observed", int() as seq):
                if self.seen >= seq:
                    return self.seen
                self.waiting.append((seq, caller))
                return NOREPLY
        raise ValueError(f"unknown vitals request {request!r}")

    def _answer_waiting(self) -> None:
        last = self.seen
        still = []
        for seq, caller in self.waiting:
            if last >= seq:
                caller.reply(last)
            else:
                still.append((seq, caller))
        self.waiting = still

    def _steer(self, agent_id: str, session: Pid) -> None:
        sessions = self.steered.setdefault(agent_id, {})
        if session not in sessions:
            sessions[session] = self._proc.monitor(session)
        if self.modes.get(agent_id) is Mode.BLOCK:
            snap = self.engine.snapshot().get(agent_id)
            pressure = snap.effective_pressure if snap is not None else 1.0
            session.send_nowait(DestructiveBlock(agent_id, True, pressure, "the agent is in BLOCK"))

    async def _observe(self, event: Event) -> None:
        updates = self.engine.observe(event)
        if not updates:
            return
        live = event.seq > self.acted_up_to
        drafts: list[EventDraft] = []
        steering: list[tuple[str, Any]] = []
        source = event.source
        for update in updates:
            if live and isinstance(update, GuidanceOutcome) and not await self._holds(update):
                continue
            drafts.append(
                EventDraft(
                    update.event_type,
                    update.payload(),
                    session_id=update.session_id,
                    agent_id=update.agent_id,
                    source=source,
                )
            )
            if isinstance(update, PressureUpdate):
                before = self.modes.get(update.agent_id, Mode.OBSERVE)
                self.modes[update.agent_id] = update.mode
                if (before is Mode.BLOCK) != (update.mode is Mode.BLOCK):
                    blocked = update.mode is Mode.BLOCK
                    why = "pressure reached BLOCK" if blocked else f"pressure fell to {update.mode.value}"
                    block = DestructiveBlock(update.agent_id, blocked, update.effective_pressure, why)
                    steering.append((update.agent_id, block))
            elif isinstance(update, GuidanceFiring):
                if live:
                    self._remember(update.firing_id, True)
                if not update.delivered:
                    continue  # the control arm: recorded as it would have been, not delivered
                guidance = Guidance(
                    update.agent_id,
                    update.firing_id,
                    update.pattern,
                    update.message,
                    update.pressure,
                    update.mode.value,
                )
                steering.append((update.agent_id, guidance))
        if not live:
            return  # replaying what a predecessor already recorded and acted on
        self.acted_up_to = event.seq
        # The engine's own events, typed against their models: trusted
        # (``store._batch.prepare_trusted``).
        await self.events.record_trusted(drafts)
        for agent_id, message in steering:
            for session in list(self.steered.get(agent_id, {})):
                session.send_nowait(message)

    async def _holds(self, outcome: GuidanceOutcome) -> bool:
        """Whether the log holds the outcome's firing (asked of the store once per firing
        this monitor did not record itself: one from before a restart)."""
        known = self.recorded.get(outcome.firing_id)
        if known is None:
            fired = await self.events.query(
                type="guidance.fired", agent_id=outcome.agent_id, session_id=outcome.session_id,
                descending=True, limit=4 * _MAX_REMEMBERED,
            )  # fmt: skip
            known = any(e.payload.get("firing_id") == outcome.firing_id for e in fired)
            self._remember(outcome.firing_id, known)
        return known

    def _remember(self, firing_id: str, held: bool) -> None:
        self.recorded[firing_id] = held
        if len(self.recorded) > _MAX_REMEMBERED:
            del self.recorded[next(iter(self.recorded))]


class Vitals:
    """``rt.vitals``: read the monitor's view and shape its trust graph."""

    def __init__(self, monitor: str, events: EventLog) -> None:
        self._monitor = monitor
        self._events = events

    def _pid(self) -> Pid:
        pid = current_node().whereis(self._monitor)
        if pid is None:
            raise NoProc(self._monitor)
        return pid

    async def snapshot(self) -> Mapping[str, AgentVitals]:
        """Each agent's pressure, effective pressure, mode and signals, now."""
        snapshot: dict[str, AgentVitals] = await self._pid().call("snapshot")
        return snapshot

    async def caught_up(self, timeout: float | None = 30.0) -> int:
        """Wait until the monitor has observed (and acted on) every event committed before
        this call, and its own vitals events for them are committed; returns that event's seq.
        For tests, tools and orderly hand-overs."""
        target = await self._events.sync()
        seen: int = await self._pid().call(("observed", target), timeout=timeout)
        await self._events.sync()  # the monitor emitted before it answered: commit those too
        return seen

    async def add_trust_edge(self, src: str, dst: str, trust: float) -> None:
        """When ``src`` struggles, ``dst`` picks up a share (``trust`` in [0, 1]).

        The edge is recorded as a ``vitals.trust`` event and reaches the engine through the
        log, in order with everything else: a restarted monitor and ``replay`` rebuild the
        same graph, so trajectories with trust stay bit-identical.
        """
        TrustGraph().add_edge(src, dst, trust)  # the graph's own checks, before recording
        await self._events.append("vitals.trust", {"src": src, "dst": dst, "trust": float(trust)})
