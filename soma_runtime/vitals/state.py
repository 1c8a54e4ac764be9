"""Exporting and importing a ``VitalsEngine``'s state as JSON-able data.

The monitor may checkpoint an engine and resume from the checkpoint after a restart instead
of replaying the log from its start. Everything that shapes future numbers is exported — the
config, the trust graph, every agent's window, baseline and pattern memory, the sessions'
intents and budgets, the tool calls still open, the files known to exist — so that an
imported engine continues bit for bit like the one that was exported. Floats go through JSON
unchanged (``json`` writes the shortest repr that reads back to the same double); the
windows' running integer sums are rebuilt from the actions, which gives the same integers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from ._agent import Agent, CallInfo, Context
from .arms import Arms
from .baseline import Baseline, BaselineParams
from .config import VitalsConfig
from .followup import OpenFiring
from .lessons import Lessons
from .patterns import Budget, PatternState
from .pressure import Mode
from .signals import Intent, SignalWindow
from .trust import TrustGraph

STATE_VERSION: Final = 3
"""2 (issue 21): per-signal reading counts in the baselines; which signals had a reading; in
the window, each action's stuck flag, the last calls' outcomes, the agent's previous tool
call, and whether its model calls reported tokens and cost. 3 (issue 18): the A/B blocks,
the lessons, each agent's open firings and failing tools, each open call's arguments."""


@dataclass
class EngineState:
    """Everything a ``VitalsEngine`` knows that shapes its future numbers."""

    config: VitalsConfig
    last_seq: int
    trust: TrustGraph
    contexts: dict[str, Context]
    agents: dict[str, Agent]
    pending: dict[str, CallInfo]
    known_paths: dict[str, None]
    arms: Arms
    lessons: Lessons


def export_state(engine: EngineState) -> dict[str, Any]:
    return {
        "version": STATE_VERSION,
        "config": engine.config.to_json(),
        "last_seq": engine.last_seq,
        "trust": [list(edge) for edge in engine.trust.edges()],
        "contexts": {
            key: [ctx.intent.text if ctx.intent is not None else None, ctx.budget.to_json()]
            for key, ctx in engine.contexts.items()
        },
        "agents": [_agent_json(a) for a in engine.agents.values()],
        "pending": [[call_id, *info] for call_id, info in engine.pending.items()],
        "known_paths": list(engine.known_paths),
        "arms": engine.arms.to_json(),
        "lessons": engine.lessons.to_json(),
    }


def import_state(state: Mapping[str, Any]) -> EngineState:
    if state.get("version") != STATE_VERSION:
        raise ValueError(f"vitals state version {state.get('version')!r}, expected {STATE_VERSION}")
    config = VitalsConfig.from_json(state["config"])
    engine = EngineState(
        config,
        int(state["last_seq"]),
        TrustGraph((src, dst, t) for src, dst, t in state["trust"]),
        {},
        {},
        {},
        dict.fromkeys(state["known_paths"]),
        Arms.from_json(config.ab_block, state["arms"]),
        Lessons(config.max_lessons_per_agent, config.max_lessons, config.lesson_similarity),
    )
    engine.lessons.load(state["lessons"])
    params = BaselineParams(config)
    intents: dict[str, Intent] = {}  # one vector per distinct intent text

    def intent_of(intent_text: str | None) -> Intent | None:
        if intent_text is None:
            return None
        found = intents.get(intent_text)
        if found is None:
            found = intents[intent_text] = Intent(intent_text)
        return found

    for key, (intent_text, budget) in state["contexts"].items():
        engine.contexts[key] = Context(intent_of(intent_text), Budget.from_json(budget))
    for data in state["agents"]:
        agent = Agent(data["agent_id"], config.window, params)
        agent.session_id = data["session_id"]
        agent.actions = data["actions"]
        agent.seq = data["seq"]
        agent.pressure = data["pressure"]
        agent.effective = data["effective"]
        agent.mode = Mode(data["mode"])
        agent.values = tuple(data["values"])
        agent.zs = tuple(data["zs"])
        agent.ps = tuple(data["ps"])
        agent.measured = tuple(bool(m) for m in data["measured"])
        agent.baseline = Baseline.from_json(data["baseline"], params)
        agent.patterns = PatternState.from_json(data["patterns"])
        agent.window = SignalWindow.from_json(config.window, data["window"], intent_of(data["intent"]))
        agent.open_firings = [OpenFiring.from_json(f) for f in data["open_firings"]]
        agent.fails = {tool: list(entry) for tool, entry in data["fails"].items()}
        engine.agents[agent.agent_id] = agent
    for call_id, tool, key, command, path, access, tool_words, args in state["pending"]:
        engine.pending[call_id] = (tool, key, command, path, access, list(tool_words), dict(args))
    return engine


def _agent_json(a: Agent) -> dict[str, Any]:
    intent = a.window.intent
    return {
        "agent_id": a.agent_id,
        "session_id": a.session_id,
        "actions": a.actions,
        "seq": a.seq,
        "pressure": a.pressure,
        "effective": a.effective,
        "mode": a.mode.value,
        "values": list(a.values),
        "zs": list(a.zs),
        "ps": list(a.ps),
        "measured": list(a.measured),
        "baseline": a.baseline.to_json(),
        "patterns": a.patterns.to_json(),
        "window": a.window.to_json(),
        "intent": intent.text if intent is not None else None,
        "open_firings": [f.to_json() for f in a.open_firings],
        "fails": {tool: list(entry) for tool, entry in a.fails.items()},
    }
