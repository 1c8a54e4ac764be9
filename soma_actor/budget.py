"""Budgets: how much one task may spend before it is stopped.

Each task gets the actor's budget afresh; exhausting it fails that task (``budget`` stage of
the proposal checks, or before the next model call) and never the actor. ``None`` means no
limit for that measure.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from .task import TaskUsage


@dataclass(frozen=True, slots=True)
class Budget:
    max_model_calls: int | None = 10
    max_steps: int | None = 50
    max_tokens: int | None = None
    max_cost_usd: float | None = None

    def __post_init__(self) -> None:
        for name in ("max_model_calls", "max_steps", "max_tokens"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ValueError(f"Budget.{name} must be a positive int or None, got {value!r}")
        cost = self.max_cost_usd
        if cost is not None and (
            isinstance(cost, bool)
            or not isinstance(cost, int | float)
            or not math.isfinite(cost)
            or cost <= 0
        ):
            raise ValueError(f"Budget.max_cost_usd must be a positive number or None, got {cost!r}")

    @classmethod
    def unlimited(cls) -> Budget:
        return cls(None, None, None, None)

    def before_model_call(self, used: TaskUsage) -> str | None:
        """Why another model call would overspend, or None if it may be made."""
        if self.max_model_calls is not None and used.model_calls >= self.max_model_calls:
            made, limit = used.model_calls, self.max_model_calls
            return f"budget exhausted: {made} model calls made (max_model_calls={limit})"
        if self.max_tokens is not None and used.tokens >= self.max_tokens:
            return f"budget exhausted: {used.tokens} tokens used (max_tokens={self.max_tokens})"
        if self.max_cost_usd is not None and used.cost_usd >= self.max_cost_usd:
            return f"budget exhausted: ${used.cost_usd:.4f} spent (max_cost_usd={self.max_cost_usd})"
        return None

    def before_steps(self, used: TaskUsage, steps: int) -> str | None:
        """Why running ``steps`` more steps would overspend, or None."""
        limit = self.max_steps
        if limit is not None and used.steps + steps > limit:
            return f"budget exhausted: {steps} more steps after {used.steps} would exceed max_steps={limit}"
        return None

    def to_json(self) -> dict[str, Any]:
        return {
            "max_model_calls": self.max_model_calls,
            "max_steps": self.max_steps,
            "max_tokens": self.max_tokens,
            "max_cost_usd": self.max_cost_usd,
        }
