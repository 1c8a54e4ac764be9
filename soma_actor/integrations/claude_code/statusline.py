"""Claude Code's status line: the session's vitals in one line (``soma statusline``).

Claude Code runs the status-line command after each message, with JSON on stdin naming the
session (``session_id``), the model (``model.display_name``) and what the session cost so
far (``cost.total_cost_usd``). The line shows the session's mode and pressure, the signals
driving it (those at 0.5 or more), its subagents' worst mode, and the cost — read from the
database with a glance (standard library only: it is drawn after every message).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import agent_of

if TYPE_CHECKING:
    from typing import Any

    from soma_runtime.store.glance import Glance

_RANK = {"observe": 0, "guide": 1, "warn": 2, "block": 3}


def claude_line(db: Glance, claude: dict[str, Any]) -> str:
    session = str(claude["session_id"])
    agent = agent_of(session)
    latest = db.query(agent_id=agent, type="vitals.updated", descending=True, limit=1)
    cost = claude.get("cost")
    spent = cost.get("total_cost_usd") if isinstance(cost, dict) else None
    money = f" · ${spent:.2f}" if isinstance(spent, int | float) and not isinstance(spent, bool) else ""
    if not latest:
        started = db.query(session_id=session, type="session.started", limit=1)
        state = "watching, no actions yet" if started else "no hooks recorded for this session"
        return f"soma {state}{money}"
    payload = latest[0].payload
    mode = str(payload.get("mode", "observe"))
    pressure = float(payload.get("effective_pressure", payload.get("pressure", 0.0)))
    signals = payload.get("signal_pressures") or {}
    hot = [name for name, p in sorted(signals.items(), key=lambda kv: -kv[1]) if p >= 0.5]
    line = f"soma {mode.upper()} p={pressure:.2f}"
    if hot:
        line += f" ({', '.join(hot)})"
    subagents = _subagents(db, agent)
    if subagents:
        worst = max(subagents, key=lambda m: _RANK.get(m, 0))
        line += f" · {len(subagents)} subagent{'s' if len(subagents) != 1 else ''} ≤ {worst.upper()}"
    actions = payload.get("action")
    if isinstance(actions, int):
        line += f" · {actions} actions"
    return line + money


def _subagents(db: Glance, agent: str) -> list[str]:
    """The latest mode of each subagent of ``agent`` (its trust edges name them)."""
    modes = []
    for edge in db.query(type="vitals.trust"):
        payload = edge.payload
        if payload.get("dst") == agent and isinstance(payload.get("src"), str):
            found = db.query(agent_id=payload["src"], type="vitals.updated", descending=True, limit=1)
            modes.append(str(found[0].payload.get("mode", "observe")) if found else "observe")
    return modes
