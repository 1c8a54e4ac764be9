"""Policy: what an actor is allowed to do, checked on every proposal before anything runs.

Deny by default: ``Policy()`` lets an actor only reply (or decline). Tools and actors it may
use are listed by name; ``Policy.allow_all()`` is for trusted agents and demos.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

ANY = "*"


@dataclass(frozen=True, slots=True)
class Policy:
    allowed_tools: frozenset[str] = frozenset()
    """Tool names the actor may run (``"*"``: every tool of the runtime)."""
    allowed_actors: frozenset[str] = frozenset()
    """Actor ids it may message / delegate to (``"*"``: any)."""
    max_steps_per_proposal: int | None = None
    """At most this many steps in one proposal (None: no limit besides the budget)."""

    def __init__(
        self,
        allowed_tools: Iterable[str] = (),
        allowed_actors: Iterable[str] = (),
        max_steps_per_proposal: int | None = None,
    ) -> None:
        tools = _names("allowed_tools", allowed_tools)
        actors = _names("allowed_actors", allowed_actors)
        if max_steps_per_proposal is not None and (
            isinstance(max_steps_per_proposal, bool)
            or not isinstance(max_steps_per_proposal, int)
            or max_steps_per_proposal < 1
        ):
            raise ValueError(
                f"max_steps_per_proposal must be a positive int or None, got {max_steps_per_proposal!r}"
            )
        object.__setattr__(self, "allowed_tools", tools)
        object.__setattr__(self, "allowed_actors", actors)
        object.__setattr__(self, "max_steps_per_proposal", max_steps_per_proposal)

    @classmethod
    def allow_all(cls) -> Policy:
        return cls([ANY], [ANY])

    def may_use_tool(self, name: str) -> bool:
        return ANY in self.allowed_tools or name in self.allowed_tools

    def may_message(self, actor_id: str) -> bool:
        return ANY in self.allowed_actors or actor_id in self.allowed_actors

    @property
    def messages_anyone(self) -> bool:
        return bool(self.allowed_actors)

    def check_tools(self, actor_id: str, tools: Iterable[str]) -> str | None:
        """Why running these tools is not allowed, or None."""
        names = list(tools)
        denied = sorted({t for t in names if not self.may_use_tool(t)})
        if denied:
            return f"policy: actor {actor_id!r} may not use tool(s) {', '.join(map(repr, denied))}"
        if self.max_steps_per_proposal is not None and len(names) > self.max_steps_per_proposal:
            return (
                f"policy: {len(names)} steps in one proposal exceeds "
                f"max_steps_per_proposal={self.max_steps_per_proposal}"
            )
        return None

    def check_message(self, actor_id: str, to: str) -> str | None:
        if not self.may_message(to):
            return f"policy: actor {actor_id!r} may not message actor {to!r}"
        return None

    def to_json(self) -> dict[str, Any]:
        return {
            "allowed_tools": sorted(self.allowed_tools),
            "allowed_actors": sorted(self.allowed_actors),
            "max_steps_per_proposal": self.max_steps_per_proposal,
        }


def _names(field: str, names: Iterable[str]) -> frozenset[str]:
    if isinstance(names, str):
        raise TypeError(f"Policy.{field} must be a collection of names, not the string {names!r}")
    out = frozenset(names)
    for name in out:
        if not isinstance(name, str) or not name:
            raise ValueError(f"Policy.{field} holds {name!r}; names are non-empty strings")
    return out
