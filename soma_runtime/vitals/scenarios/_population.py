"""A seeded synthetic population for judging guidance: does the A/B report find what is there?

Each *episode* is one agent (its own id, its own session) doing a little ordinary work, then
running into the trouble that fires one pattern (``trigger``), and then — depending on
whether the guidance reached it — recovering (its next calls succeed) or not (they keep
failing). The chance of recovering is ``p_treated`` when the firing was delivered (treatment,
or a pattern without A/B) and ``p_untreated`` when it was held back (control): equal chances
are a pattern whose guidance does nothing, a higher ``p_treated`` one that helps, a lower one
that harms. Everything is drawn from ``random.Random(seed)``, so a seed is a population.

The episode is split where the agent learns whether it got guidance: :meth:`Population.lead`
gives the events up to and including the trigger; the host finds the firing's arm (from the
engine's updates, or from the store) and asks :meth:`Population.follow` for the rest. The
events are ``(type, payload, ids)`` drafts; ``as_events`` numbers them into ``Event``s for an
engine, a runtime appends them (``soma demo``).
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator
from typing import Any, Final

from ...store.events import Event

Draft = tuple[str, dict[str, Any], dict[str, str]]
"""(type, payload, ids) of an event to record."""

TRIGGERS: Final = ("bash_error_streak", "error_cascade", "blind_edit")
FOLLOW_ACTIONS: Final = 10
"""Actions after the trigger: enough for every outcome horizon (1, 5, 10)."""
SHARED_FILE: Final = "src/settings.py"
"""The file a ``blind_edit`` episode writes without reading (read once, by the first episode)."""


class Population:
    """Episodes of one seeded population (see the module docstring)."""

    def __init__(self, seed: int, p_treated: float, p_untreated: float, *, prefix: str = "sim") -> None:
        self.rng = random.Random(seed)
        self.p_treated = p_treated
        self.p_untreated = p_untreated
        self.prefix = prefix
        self._calls = 0
        self._read_shared = False

    def lead(self, episode: int, trigger: str) -> tuple[str, list[Draft]]:
        """(agent id, the events up to and including the one that fires ``trigger``)."""
        if trigger not in TRIGGERS:
            raise ValueError(f"trigger must be one of {TRIGGERS}, got {trigger!r}")
        agent = f"{self.prefix}-{trigger}-{episode}"
        ids = {"agent_id": agent, "session_id": f"{agent}-session"}
        out: list[Draft] = [("session.started", {"intent": "fix the failing build", "metadata": {}}, ids)]
        if not self._read_shared:  # another agent reads it once: the file is known to exist
            self._read_shared = True
            librarian = {"agent_id": f"{self.prefix}-librarian", "session_id": f"{self.prefix}-librarian"}
            out += self._call(librarian, "read_file", {"path": SHARED_FILE}, None)
        for _ in range(3):
            out += self._call(ids, "read_file", {"path": f"src/module_{self.rng.randrange(40)}.py"}, None)
        if trigger == "bash_error_streak":
            for step in range(2):
                error = f"make: *** [build_{step}] Error 2: undefined symbol parse_{self.rng.randrange(9)}"
                out += self._call(ids, "shell", {"command": f"make build_{step}"}, error, command=True)
        elif trigger == "error_cascade":
            for tool in ("read_file", "fetch_url", "read_file"):
                error = f"{tool}: connection refused ({self.rng.randrange(1000)})"
                out += self._call(ids, tool, {"path": f"remote/{self.rng.randrange(99)}"}, error)
        else:
            out += self._call(ids, "write_file", {"path": SHARED_FILE, "content": "DEBUG = False"}, None)
        return agent, out

    def follow(self, agent: str, delivered: bool) -> tuple[bool, list[Draft]]:
        """(whether the agent recovered, its events after the trigger, its session's end)."""
        ids = {"agent_id": agent, "session_id": f"{agent}-session"}
        recovers = self.rng.random() < (self.p_treated if delivered else self.p_untreated)
        out: list[Draft] = []
        for k in range(FOLLOW_ACTIONS):
            tool = ("read_file", "grep_code", "list_dir")[k % 3]
            args = {"path": f"src/module_{self.rng.randrange(40)}.py"}
            error = None if recovers else f"{tool}: permission denied ({self.rng.randrange(1000)})"
            out += self._call(ids, tool, args, error)
        out.append(("session.stopped", {"reason": "normal"}, ids))
        return recovers, out

    def _call(
        self,
        ids: dict[str, str],
        tool: str,
        args: dict[str, Any],
        error: str | None,
        *,
        command: bool = False,
    ) -> list[Draft]:
        self._calls += 1
        call = {**ids, "tool_call_id": f"{ids['agent_id']}-call-{self._calls}"}
        started: dict[str, Any] = {"tool": tool, "args": args}
        if command:
            started["isolation"] = "command"
        if tool.startswith("write"):
            started["effect"] = "state"
        elif tool.startswith(("read", "grep", "list")):
            started["effect"] = "read"
        end: Draft = (
            ("tool.failed", {"tool": tool, "error": error}, call)
            if error is not None
            else ("tool.succeeded", {"tool": tool, "output": "ok"}, call)
        )
        return [("tool.started", started, call), end]


def as_events(drafts: Iterable[Draft], first_seq: int) -> Iterator[Event]:
    """The drafts as committed ``Event``s, numbered from ``first_seq`` (for an engine)."""
    for offset, (kind, payload, ids) in enumerate(drafts):
        seq = first_seq + offset
        yield Event(
            seq=seq,
            event_id=f"ev-{seq}",
            ts=seq,
            type=kind,
            payload=payload,
            agent_id=ids.get("agent_id"),
            session_id=ids.get("session_id"),
            tool_call_id=ids.get("tool_call_id"),
        )
