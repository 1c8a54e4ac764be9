"""``soma status`` and ``soma statusline``: each agent's vitals and budget, from the database.

Both read the event store read-only, so they work beside a running runtime and after it
stopped, through a glance (``soma_runtime.store.glance``: the standard library's sqlite3, no
asyncio, no pydantic): a status line is drawn at every shell prompt and must cost little
more than starting Python. An agent is any ``agent_id`` that started a session or an actor. Its vitals are its
latest ``vitals.updated`` event; what it spent is summed over its model calls' outcome events
(``llm.succeeded|failed|timeout|cancelled`` — ``llm.started`` announces a call and would
count it twice); its budget is the ``budget`` of its latest ``actor.started`` event.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

import click

from ._common import EXIT_OK, db_option, glance_db, plural

if TYPE_CHECKING:
    from soma_runtime.store.glance import Glance

LLM_OUTCOMES: Final = ("llm.succeeded", "llm.failed", "llm.timeout", "llm.cancelled")
MODES: Final = ("observe", "guide", "warn", "block")
# The vitals signals, by the letter each is shown with (docs/design.md §5).
SIGNAL_LETTERS: Final = {"uncertainty": "u", "drift": "d", "error_rate": "e", "token_usage": "t", "cost": "c"}


@dataclass(frozen=True, slots=True)
class AgentStatus:
    agent_id: str
    mode: str | None = None  # None: no vitals recorded for it (yet)
    pressure: float | None = None  # effective pressure: the one its mode is the band of
    signal_pressures: dict[str, float] = field(default_factory=dict)
    tokens: int = 0
    cost_usd: float = 0.0
    model_calls: int = 0
    steps: int = 0
    budget: dict[str, float] = field(default_factory=dict)  # the limits its actor declared

    @property
    def rank(self) -> int:
        return MODES.index(self.mode) if self.mode in MODES else -1


def agent_statuses(db: Glance) -> list[AgentStatus]:
    """Every agent in the log, most pressured first."""
    agents = list(
        dict.fromkeys(e.agent_id for e in db.query(type=["session.started", "actor.started"]) if e.agent_id)
    )
    statuses = [_agent_status(db, agent) for agent in agents]
    return sorted(statuses, key=lambda s: (-(s.pressure or 0.0), s.agent_id))


def _agent_status(db: Glance, agent: str) -> AgentStatus:
    vitals = db.query(agent_id=agent, type="vitals.updated", descending=True, limit=1)
    payload: dict[str, Any] = vitals[0].payload if vitals else {}
    tokens, cost, calls = 0, 0.0, 0
    for event in db.query(agent_id=agent, type=LLM_OUTCOMES):
        outcome = event.payload
        usage = outcome.get("usage") or {}
        tokens += int(usage.get("input_tokens", 0)) + int(usage.get("output_tokens", 0))
        cost += float(outcome.get("cost_usd", 0.0))
        calls += 1
    started = db.query(agent_id=agent, type="actor.started", descending=True, limit=1)
    budget = started[0].payload.get("budget") if started else None
    limits = {k: float(v) for k, v in budget.items() if isinstance(v, int | float)} if budget else {}
    # Counting steps reads every step of the agent: only when a limit makes it worth it.
    steps = len(db.query(agent_id=agent, type="step.started")) if "max_steps" in limits else 0
    return AgentStatus(
        agent_id=agent,
        mode=payload.get("mode"),
        pressure=payload.get("effective_pressure", payload.get("pressure")),
        signal_pressures=dict(payload.get("signal_pressures") or {}),
        tokens=tokens,
        cost_usd=cost,
        model_calls=calls,
        steps=steps,
        budget=limits,
    )


# --------------------------------------------------------------------------- rendering


def agent_line(status: AgentStatus, width: int) -> str:
    """``agent MODE p=… u=… d=… e=… t=… c=…  budget``."""
    if status.mode is None or status.pressure is None:
        vitals = f"{'-':<7} (no vitals yet)"
    else:
        # A signal without a reading (no intent, no model call seen…) shows as "-".
        signals = " ".join(
            f"{letter}={status.signal_pressures[name]:.2f}"
            if name in status.signal_pressures
            else f"{letter}=-"
            for name, letter in SIGNAL_LETTERS.items()
        )
        vitals = f"{status.mode.upper():<7} p={status.pressure:.2f} {signals}"
    return f"{status.agent_id:<{width}}  {vitals}  {budget_text(status)}"


def budget_text(status: AgentStatus) -> str:
    """Spent, and spent/limit where the agent's actor declared a limit."""
    b = status.budget

    def of(key: str, fmt: str) -> str:
        return f"/{b[key]:{fmt}}" if key in b else ""

    parts = [
        f"tokens {status.tokens}{of('max_tokens', '.0f')}",
        f"{dollars(status.cost_usd)}{of('max_cost_usd', '.2f')}",
    ]
    if status.model_calls or "max_model_calls" in b:
        parts.append(f"calls {status.model_calls}{of('max_model_calls', '.0f')}")
    if "max_steps" in b:
        parts.append(f"steps {status.steps}{of('max_steps', '.0f')}")
    return " ".join(parts)


def dollars(amount: float) -> str:
    """A cost with the digits that matter: ``$0``, ``$0.0035``, ``$0.000013``, ``$12.40``.

    Model calls cost fractions of a cent; a fixed four decimals would show most of them as
    ``$0.0000``. Below a dollar, two significant digits (at least two decimals) are kept.
    """
    if amount == 0:
        return "$0"
    if abs(amount) >= 1:
        return f"${amount:,.2f}"
    decimals = max(2, 1 - math.floor(math.log10(abs(amount))))
    return f"${amount:.{decimals}f}"


def mode_counts(statuses: list[AgentStatus]) -> str:
    counts = Counter(s.mode or "no vitals" for s in statuses)
    order = [*MODES, "no vitals"]
    return ", ".join(f"{counts[m]} {m}" for m in order if counts[m])


@click.command(short_help="Each agent's vitals and budget.")
@db_option
def status(db: str) -> int:
    """Each agent's vitals and budget, one line per agent, under a summary header.

    \b
    agent  MODE  p=pressure  u=uncertainty d=drift e=error_rate t=token_usage c=cost
    Signals are shown as their pressures in [0, 1]; p is the effective pressure, whose band
    is the mode (OBSERVE < .25 <= GUIDE < .5 <= WARN < .75 <= BLOCK). The budget column is
    what the agent spent on model calls, over its actor's limits when it declared some.

    \b
    Examples:
      soma status
      soma status --db agents.db
      watch -n1 soma status
    """
    from soma_runtime import __version__

    with glance_db(db) as log:
        statuses = agent_statuses(log)
        events = log.last_seq()
    tokens = sum(s.tokens for s in statuses)
    cost = sum(s.cost_usd for s in statuses)
    header = f"soma {__version__}  {db}  {plural(events, 'event')}  {plural(len(statuses), 'agent')}"
    if statuses:
        header += f" ({mode_counts(statuses)})  tokens {tokens} {dollars(cost)}"
    click.echo(header)
    width = max((len(s.agent_id) for s in statuses), default=0)
    for s in statuses:
        click.echo(agent_line(s, width))
    return EXIT_OK


@click.command(short_help="One short line for a shell prompt.")
@db_option
def statusline(db: str) -> int:
    """One short line for a shell prompt or a status bar: the most pressured agent, its
    mode and pressure, and how many agents are in each mode.

    \b
    Examples:
      soma statusline
      PS1='$(soma statusline 2>/dev/null) \\$ '
    """
    with glance_db(db) as log:
        statuses = agent_statuses(log)
    if not statuses:
        click.echo("soma: no agents")
        return EXIT_OK
    worst = max(statuses, key=lambda s: (s.rank, s.pressure or 0.0))
    if worst.mode is None or worst.pressure is None:
        lead = f"{worst.agent_id} no vitals"
    else:
        lead = f"{worst.mode.upper()} {worst.agent_id} p={worst.pressure:.2f}"
    click.echo(f"soma {lead} | {plural(len(statuses), 'agent')}: {mode_counts(statuses)}")
    return EXIT_OK
