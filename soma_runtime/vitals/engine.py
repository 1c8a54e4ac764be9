"""``VitalsEngine``: events in, pressure updates and guidance firings out. Pure and synchronous.

The engine reads the envelope and payload dict of each event directly (``type``, ``seq``,
``agent_id``, ``session_id``, ``tool_call_id``, ``payload``) — any object with those
attributes will do, a stored ``Event`` included — and never validates through pydantic: this
is the hot path of the monitor and of replay.

What it reads:

* ``session.started``: the session's ``intent`` (drift) and ``metadata.budget`` (budget
  pattern); ``session.stopped`` forgets them.
* ``actor.task.*``: the first one of a session with a text field (``text``, ``prompt``,
  ``task``, ``input``, ``message`` or ``content``) becomes its intent if it declared none.
* ``tool.started``: the call's arguments and isolation, kept by ``tool_call_id`` until the
  call ends (the terminal events do not carry them).
* Actions — ``tool.succeeded|failed`` and ``llm.succeeded|failed`` of an agent (events with
  no ``agent_id`` are skipped) — update the agent's signals, baseline, pressure and patterns.
  The pressure aggregates the signals that have a reading (``signals``); the baseline learns
  what is in control (``baseline``), and nothing while the agent is stuck retrying a failed
  call (a stuck call is in its window): a retry storm is distress by its very shape, and
  whatever the agent does in one — its growing context, its words — is not its normal.

Guidance (``patterns``, ``lessons``): each firing gets its arm (``arms``: treatment,
control, or none when the pattern is not randomized) and is followed until its outcomes at
h = 1, 5, 10 of its agent's actions are settled or censored (``followup``); an agent's fixed
errors become lessons, recalled by similar errors later (``lessons``).

Everything else — ``vitals.updated``, ``guidance.*`` and ``lesson.*`` included — is ignored:
the engine never feeds on its own output. An event whose ``seq`` is not above the last one seen is
ignored too, so a host that resumes from exported state can re-deliver a few events safely.

Determinism: no clock, no randomness, no ``hash()``; float operations happen in the same
order for the same events, so a replay is bit-identical. Sessions are keyed by
``session_id``; actions without one share a per-agent context.
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Iterable, Mapping
from hashlib import blake2b
from typing import Any, Final, Protocol

from . import text
from ._agent import Agent, CallInfo, Context
from .arms import Arms
from .baseline import BaselineParams
from .config import SIGNALS, VitalsConfig
from .followup import censor, open_firing, settle
from .harness import harness_shape, identity_args
from .lessons import MAX_ERROR_CHARS, MAX_TOOLS_REMEMBERED, MIN_FAILURES, Lesson, Lessons, call_args, fix_of
from .lessons import lesson_id as new_lesson_id
from .patterns import Budget, Finding, classify, detect, escalation, shaped_access
from .pressure import Mode
from .signals import Action, Intent
from .state import EngineState, export_state, import_state
from .trust import TrustGraph
from .updates import (
    AgentVitals,
    GuidanceFiring,
    LessonRecalled,
    LessonRecorded,
    PressureUpdate,
    Update,
    firing_id,
    readings,
)

MAX_PENDING_CALLS: Final = 4096
"""Tool calls remembered between ``tool.started`` and their end; beyond, the oldest go."""
MAX_CONTEXTS: Final = 65536
MAX_KNOWN_PATHS: Final = 65536
_TASK_TEXT_FIELDS: Final = ("text", "prompt", "task", "input", "message", "content")
_NO_USAGE: Final = (0, 0, 0, 0)
_DRIFT: Final = SIGNALS.index("drift")


class EventLike(Protocol):
    """What the engine reads of an event (``soma_runtime.store.events.Event`` has it all)."""

    @property
    def seq(self) -> int: ...
    @property
    def type(self) -> str: ...
    @property
    def agent_id(self) -> str | None: ...
    @property
    def session_id(self) -> str | None: ...
    @property
    def tool_call_id(self) -> str | None: ...
    @property
    def payload(self) -> Mapping[str, Any]: ...


_TASK_FAMILY: Final = "actor.task."
"""An agent's task events: their text is the session's intent when none was given."""


class VitalsEngine:
    """The per-agent vitals of an event stream. Feed events in ``seq`` order to :meth:`observe`."""

    def __init__(self, config: VitalsConfig | None = None, *, trust: TrustGraph | None = None) -> None:
        self._config = config if config is not None else VitalsConfig()
        self._trust = trust if trust is not None else TrustGraph()
        self._params = BaselineParams(self._config)
        self._hedge_weight = self._config.hedge_weight
        self._last_seq = 0
        self._agents: dict[str, Agent] = {}
        self._contexts: dict[str, Context] = {}
        self._pending: dict[str, CallInfo] = {}
        self._known_paths: dict[str, None] = {}  # an ordered set: oldest first
        self._prices: dict[str, Any] = {}  # model -> ModelPrice | None (a memo of price_for)
        self._trust_nodes: tuple[int, list[str], frozenset[str]] = (-1, [], frozenset())
        self._ab = frozenset(self._config.ab)
        self._arms = Arms(self._config.ab_block)
        cfg = self._config
        self._lessons = Lessons(cfg.max_lessons_per_agent, cfg.max_lessons, cfg.lesson_similarity)
        self._following: dict[str, None] = {}  # agents with open firings (``followup``)
        self._handlers = {
            "tool.succeeded": self._tool_ended,
            "tool.failed": self._tool_ended,
            "llm.succeeded": self._llm_ended,
            "llm.failed": self._llm_ended,
            "tool.started": self._tool_started,
            "session.started": self._session_started,
            "session.stopped": self._session_stopped,
            "vitals.trust": self._trust_edge,
        }

    @property
    def config(self) -> VitalsConfig:
        return self._config

    @property
    def trust(self) -> TrustGraph:
        """The trust graph (edges may be added at any time; they count from the next action)."""
        return self._trust

    @property
    def last_seq(self) -> int:
        """The ``seq`` of the last event observed (0 before any)."""
        return self._last_seq

    # -- input ------------------------------------------------------------------------------

    def observe(self, event: EventLike) -> list[Update]:
        """Take one event; return the updates it causes (usually none, or a pressure update
        and perhaps guidance firings for an action). Pressure updates come first."""
        seq = event.seq
        if seq <= self._last_seq:
            return []
        self._last_seq = seq
        kind = event.type
        handler = self._handlers.get(kind)
        if handler is not None:
            return handler(event)
        if kind.startswith(_TASK_FAMILY):
            self._task_text(event)
        return []

    @property
    def observed_types(self) -> tuple[str, ...]:
        """The event types (and families, ``"actor.task.*"``) :meth:`observe` acts on: every
        other event only moves :attr:`last_seq`. A follower may leave the rest unread —
        the vitals monitor's subscription does — and get the same updates."""
        return (*self._handlers, f"{_TASK_FAMILY}*")

    def observe_many(self, events: Iterable[EventLike]) -> list[Update]:
        updates: list[Update] = []
        observe = self.observe
        for event in events:
            found = observe(event)
            if found:
                updates.extend(found)
        return updates

    def _context(self, session_id: str | None, agent_id: str) -> Context:
        key = session_id if session_id is not None else _agent_key(agent_id)
        ctx = self._contexts.get(key)
        if ctx is None:
            ctx = self._contexts[key] = Context()
            if len(self._contexts) > MAX_CONTEXTS:
                del self._contexts[next(iter(self._contexts))]
        return ctx

    def _session_started(self, event: EventLike) -> list[Update]:
        session_id, agent_id = event.session_id, event.agent_id
        if session_id is None and agent_id is None:
            return []
        payload = event.payload
        intent = payload.get("intent")
        ctx = self._context(session_id, agent_id or "")
        ctx.intent = Intent(intent) if isinstance(intent, str) and intent.strip() else None
        ctx.budget = Budget.from_metadata(payload.get("metadata"))
        return []

    def _trust_edge(self, event: EventLike) -> list[Update]:
        """A recorded trust edge: part of the input, so replay rebuilds the same graph."""
        p = event.payload
        # Appends are validated (payload model TrustEdge); a malformed edge could only come
        # from a hand-edited import, and changes nothing.
        with contextlib.suppress(KeyError, TypeError, ValueError):
            self._trust.add_edge(str(p["src"]), str(p["dst"]), float(p["trust"]))
        return []

    def _session_stopped(self, event: EventLike) -> list[Update]:
        session_id = event.session_id
        if session_id is None:
            return []
        self._contexts.pop(session_id, None)
        # Its agents' firings will see no more actions in it: their open horizons are censored.
        out: list[Update] = []
        for agent_id in list(self._following):
            agent = self._agents[agent_id]
            still = []
            for f in agent.open_firings:
                if f.session_id == session_id:
                    censor(f, agent_id, event.seq, agent.actions, "session_stopped", out)
                else:
                    still.append(f)
            agent.open_firings = still
            if not still:
                del self._following[agent_id]
        return out

    def _task_text(self, event: EventLike) -> None:
        agent_id = event.agent_id
        if event.session_id is None and agent_id is None:
            return
        ctx = self._context(event.session_id, agent_id or "")
        if ctx.intent is not None:
            return
        payload = event.payload
        for name in _TASK_TEXT_FIELDS:
            value = payload.get(name)
            if isinstance(value, str) and value.strip():
                ctx.intent = Intent(value)
                return

    def _tool_started(self, event: EventLike) -> list[Update]:
        call_id = event.tool_call_id
        if call_id is not None:
            pending = self._pending
            pending[call_id] = _call_info(event.payload)
            if len(pending) > MAX_PENDING_CALLS:
                del pending[next(iter(pending))]
        return []

    def _tool_ended(self, event: EventLike) -> list[Update]:
        call_id = event.tool_call_id
        info = self._pending.pop(call_id, None) if call_id is not None else None
        agent_id = event.agent_id
        if agent_id is None:
            return []
        if info is None:  # its start was not seen (a slice of the log): use what this event says
            info = _call_info(event.payload)
        tool, key, command, path, access, tool_words, _ = info
        failed = event.type == "tool.failed"
        error = None
        if failed:
            error = event.payload.get("error")
            if isinstance(error, str) and error:
                tool_words = tool_words + text.words(text.normalize(error))
            else:
                error = None
        action = Action(
            False, failed, tool, key, text.features(tool_words), 0, 0, 0, 0, command, path, access
        )
        return self._act(event, agent_id, action, info, error)

    def _llm_ended(self, event: EventLike) -> list[Update]:
        agent_id = event.agent_id
        if agent_id is None:
            return []
        payload = event.payload
        failed = event.type == "llm.failed"
        usage = payload.get("usage")
        counts: tuple[int, ...] = _NO_USAGE
        if isinstance(usage, dict):
            counts = (
                usage.get("input_tokens", 0),
                usage.get("output_tokens", 0),
                usage.get("cache_read_tokens", 0),
                usage.get("cache_write_tokens", 0),
            )
            if not all(map(_is_count, counts)):  # the store validated them; synthetic events may not be
                counts = tuple(c if _is_count(c) else 0 for c in counts)
        tokens = counts[0] + counts[1]  # input already includes the cached parts
        cost = payload.get("cost_usd")
        if not (isinstance(cost, float | int) and 0 < cost < math.inf):
            model = payload.get("model")
            price = self._price(model) if isinstance(model, str) else None
            cost = price.cost(*counts) if price is not None else 0.0
        output = payload.get("error" if failed else "text")
        if isinstance(output, str) and output:
            normalized = text.normalize(output)
            output_words = text.words(normalized)
            found = text.features(output_words)
            if failed:
                key = None
                hedges = n_words = 0
            else:
                hedges = text.hedge_count(output_words)
                n_words = len(output_words)
                key = "m:" + blake2b(normalized.encode(), digest_size=8).hexdigest()
        else:
            found = set()
            key = None
            hedges = n_words = 0
        action = Action(
            True, failed, "llm", key, found, tokens, round(cost * 1e9), hedges, n_words, False, None, None
        )
        return self._act(event, agent_id, action)

    def _price(self, model: str) -> Any:
        prices = self._prices
        if model in prices:
            return prices[model]
        if len(prices) > 4096:
            prices.clear()
        price = prices[model] = self._config.price_for(model)
        return price

    # -- an action --------------------------------------------------------------------------

    def _act(
        self,
        event: EventLike,
        agent_id: str,
        action: Action,
        call: CallInfo | None = None,
        error: str | None = None,
    ) -> list[Update]:
        agent = self._agents.get(agent_id)
        if agent is None:
            agent = self._agents[agent_id] = Agent(agent_id, self._config.window, self._params)
        session_id = event.session_id
        ctx = self._context(session_id, agent_id)
        seq = event.seq
        agent.session_id = session_id
        agent.seq = seq
        agent.actions = index = agent.actions + 1
        action.index = index

        window = agent.window
        if window.intent is not ctx.intent:
            window.set_intent(ctx.intent)
            # Drift is distance from *this* intent: what was normal against another one
            # (another session, its own words) says nothing about it.
            agent.baseline.restart(_DRIFT, self._params)
        window.push(action)
        values = window.values(self._hedge_weight)
        measured = window.measured()
        zs, ps = agent.baseline.observe(values, measured, window.stuck > 0, self._params)
        agent.values = values
        agent.zs = zs
        agent.ps = ps
        agent.measured = measured
        # aggregate() of the measured signals' pressures, inlined and unchecked (they are in
        # [0, 1] by construction; uncertainty always has a reading, so there is at least one).
        # A signal without a reading is no evidence of calm: see ``signals``.
        taken = ps if all(measured) else [p for p, m in zip(ps, measured, strict=True) if m]
        pressure = 0.7 * (sum(taken) / len(taken)) + 0.3 * max(taken)
        agent.pressure = pressure = 1.0 if pressure > 1.0 else pressure
        budget = ctx.budget
        budget.used_tokens += action.tokens
        budget.used_cost_nanos += action.cost_nanos

        previous = agent.mode
        moved = None
        if self._trust._incoming:
            moved = self._settle(agent, previous)
            updates: list[Update] = [
                PressureUpdate(
                    a.agent_id,
                    a.session_id,
                    seq,
                    a.actions,
                    a.pressure,
                    a.effective,
                    a.mode,
                    a.values,
                    a.zs,
                    a.ps,
                    a.measured,
                )
                for a, _ in moved
            ]
        else:  # no trust graph: the effective pressure is the agent's own
            agent.effective = pressure
            agent.mode = mode = (
                Mode.OBSERVE if pressure < 0.25 else Mode.GUIDE if pressure < 0.5 else Mode.WARN
                if pressure < 0.75 else Mode.BLOCK
            )  # fmt: skip
            updates = [
                PressureUpdate(
                    agent_id, session_id, seq, index, pressure, pressure, mode, values, zs, ps, measured
                )
            ]
        if agent.open_firings:
            settle(
                agent.open_firings, agent_id, session_id, seq, index, agent.effective, action.failed, updates
            )
            if not agent.open_firings:
                self._following.pop(agent_id, None)
        patterns = agent.patterns
        known = self._known_paths
        findings = detect(patterns, action, budget, known)
        if findings:
            if len(known) > MAX_KNOWN_PATHS:
                del known[next(iter(known))]
            for pattern, severity, message, details in findings:
                if patterns.allow(pattern, severity, index):
                    self._fire(agent, seq, (pattern, severity, message, details), updates)
        if call is not None:
            self._lesson(agent, seq, action, call, error, updates)
        if moved is None:
            if agent.mode is not previous:
                self._escalation(agent, previous, seq, updates)
        else:
            for moved_agent, before in moved:
                self._escalation(moved_agent, before, seq, updates)
        return updates

    def _fire(self, a: Agent, seq: int, finding: Finding, updates: list[Update]) -> GuidanceFiring:
        """A firing, with its arm, followed from now on (``arms``, ``followup``)."""
        pattern, severity, message, details = finding
        fid = firing_id(a.agent_id, a.session_id, seq, pattern)
        arm = self._arms.assign(pattern, fid) if pattern in self._ab else None
        firing = GuidanceFiring(
            fid, a.agent_id, a.session_id, seq, a.actions, pattern, severity, message, a.effective, a.mode,
            details, arm,
        )  # fmt: skip
        updates.append(firing)
        open_firing(a.open_firings, firing, seq, updates)
        self._following[a.agent_id] = None
        return firing

    def _escalation(self, a: Agent, previous: Mode, seq: int, updates: list[Update]) -> None:
        """The ``pressure`` firing, when the agent's mode rose (see ``patterns.escalation``)."""
        found = escalation(previous, a.mode, a.pressure, a.effective, a.ps)
        if found is not None and a.patterns.allow(found[0], found[1], a.actions):
            self._fire(a, seq, found, updates)

    def _lesson(
        self, a: Agent, seq: int, action: Action, call: CallInfo, error: str | None, updates: list[Update]
    ) -> None:
        """Record a fixed error as a lesson, or recall one for a new error (``lessons``)."""
        tool = call[0]
        fails = a.fails
        entry = fails.pop(tool, None) if fails else None
        if action.failed:
            count = entry[0] + 1 if entry is not None else 1
            fails[tool] = [count, (error or "")[:MAX_ERROR_CHARS], call_args(call[6])]
            if len(fails) > MAX_TOOLS_REMEMBERED:
                del fails[next(iter(fails))]
            if error is None or not self._lessons.by_id:
                return
            found = self._lessons.recall(tool, error)
            if found is not None and a.patterns.allow("lesson", 1, a.actions):
                lesson, score = found
                details = {"lesson_id": lesson.lesson_id, "tool": tool, "similarity": score}
                firing = self._fire(a, seq, ("lesson", 1, lesson.message(), details), updates)
                updates.append(
                    LessonRecalled(lesson.lesson_id, firing.firing_id, a.agent_id, a.session_id, seq, score)
                )
        elif entry is not None and entry[0] >= MIN_FAILURES and entry[1]:
            fix = fix_of(call[2], entry[2], call_args(call[6]))
            if fix is None:
                return
            lesson = Lesson(new_lesson_id(a.agent_id, seq), a.agent_id, tool, entry[1], fix)
            self._lessons.add(lesson)
            updates.append(
                LessonRecorded(
                    lesson.lesson_id, a.agent_id, a.session_id, seq, tool, lesson.error, fix, entry[0]
                )
            )

    def _settle(self, agent: Agent, previous: Mode) -> list[tuple[Agent, Mode]]:
        """Effective pressures and modes after ``agent``'s pressure changed: (agent, previous
        mode) for it and for every other agent whose effective pressure moved."""
        graph = self._trust
        version, nodes, node_set = self._trust_nodes
        if version != graph.version:
            nodes = graph.nodes()
            node_set = frozenset(nodes)
            self._trust_nodes = (graph.version, nodes, node_set)
        if agent.agent_id not in node_set:
            agent.effective = agent.pressure
            agent.mode = Mode.for_pressure(agent.pressure)
            return [(agent, previous)]
        agents = self._agents
        own = {}
        for node in nodes:
            known = agents.get(node)
            own[node] = known.pressure if known is not None else 0.0
        effective = graph._propagate(own)
        agent.effective = effective[agent.agent_id]
        agent.mode = Mode.for_pressure(agent.effective)
        moved = [(agent, previous)]
        for node in nodes:
            other = agents.get(node)
            if other is None or other is agent:
                continue
            value = effective[node]
            if value != other.effective:
                moved.append((other, other.mode))
                other.effective = value
                other.mode = Mode.for_pressure(value)
        return moved

    # -- output -----------------------------------------------------------------------------

    def snapshot(self) -> dict[str, AgentVitals]:
        """Every agent's current vitals, by agent id."""
        return {
            agent_id: AgentVitals(
                agent_id,
                a.session_id,
                a.actions,
                a.seq,
                a.pressure,
                a.effective,
                a.mode,
                readings(a.values, a.zs, a.ps, a.measured),
            )
            for agent_id, a in self._agents.items()
        }

    # -- state export / import (``state``) ------------------------------------------------

    def state(self) -> dict[str, Any]:
        """Everything the engine knows, as JSON-able data (``json.dumps`` it as is).

        ``VitalsEngine.from_state(engine.state())`` continues exactly where this engine is:
        same updates for the same next events, bit for bit."""
        return export_state(
            EngineState(
                self._config,
                self._last_seq,
                self._trust,
                self._contexts,
                self._agents,
                self._pending,
                self._known_paths,
                self._arms,
                self._lessons,
            )
        )

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> VitalsEngine:
        """An engine restored from :meth:`state` (ValueError for another state version)."""
        parts = import_state(state)
        engine = cls(parts.config, trust=parts.trust)
        engine._last_seq = parts.last_seq
        engine._contexts = parts.contexts
        engine._agents = parts.agents
        engine._pending = parts.pending
        engine._known_paths = parts.known_paths
        engine._arms = parts.arms
        engine._lessons = parts.lessons
        engine._following = {a: None for a, agent in parts.agents.items() if agent.open_firings}
        return engine


def _is_count(value: Any) -> bool:
    return type(value) is int and value >= 0


def _agent_key(agent_id: str) -> str:
    """The context key of an agent's session-less actions (a session key is its session id;
    the NUL keeps the two apart)."""
    return "\x00agent:" + agent_id


_CANONICAL: Final = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
"""Arguments as canonical JSON (sorted keys): equal arguments, equal text."""


def _call_info(payload: Mapping[str, Any]) -> CallInfo:
    """What a tool call's start (or, failing that, its end) payload says about the call."""
    tool = payload.get("tool")
    if not isinstance(tool, str):
        tool = "?"
    args = payload.get("args")
    if not isinstance(args, dict):
        args = {}
    shape = harness_shape(tool, payload)
    if shape is None:
        command = payload.get("isolation") == "command"
        path, access = classify(tool, args, payload.get("effect"), payload.get("destructive"))
        encoded = _CANONICAL.encode(args)
    else:  # a harness's call (Claude Code's Bash, Edit…): see ``harness``
        command = shape.command
        path, access = shaped_access(shape.access, args.get(shape.path_arg) if shape.path_arg else None)
        encoded = _CANONICAL.encode(identity_args(shape, args))
    key = "t:" + blake2b(f"{tool}\x00{encoded}".encode(), digest_size=8).hexdigest()
    return (
        tool,
        key,
        command,
        path,
        access,
        text.words(text.normalize(tool + " " + _values(args)))[: text.VECTOR_WORDS],
        args,
    )


def _values(args: Mapping[str, Any]) -> str:
    """The arguments' values as text, in key order: what a call is about is in its values
    (a path, a query); the names of its parameters are the same for every call of the tool."""
    return " ".join(
        value if isinstance(value, str) else _CANONICAL.encode(value) for _, value in sorted(args.items())
    )
