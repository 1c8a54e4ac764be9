"""From z-scores to one pressure per agent, and from pressure to a mode (docs/design.md §5).

* :func:`signal_pressure` squashes one signal's z-score into [0, 1]: nothing below the
  baseline counts (z ≤ 0 → 0), a logistic centred on z = 3 in between, and anything past six
  standard deviations is simply saturated (→ 1; the jump from 0.9526 at z = 6 is by design:
  past that point "how far past" carries no information).
* :func:`aggregate` mixes the five signal pressures: 0.7·mean + 0.3·max. The mean is the
  overall state, the max keeps one alarming signal from being averaged away; one saturated
  signal alone gives 0.44 (GUIDE), reaching BLOCK takes several.
* :class:`Mode` cuts the aggregate into four bands, each inclusive at its bottom.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable

_exp = math.exp


def signal_pressure(z: float) -> float:
    """0 if z ≤ 0; 1 if z > 6; else 1 / (1 + e^(3 − z)). A NaN z is a bug: ValueError."""
    if z > 6.0:
        return 1.0
    if z > 0.0:
        return 1.0 / (1.0 + _exp(3.0 - z))
    if z <= 0.0:
        return 0.0
    raise ValueError("signal_pressure: z is NaN")


def aggregate(pressures: Iterable[float]) -> float:
    """0.7·mean + 0.3·max of signal pressures, clamped to [0, 1]; 0 for no signals.

    Each pressure must be a finite number in [0, 1] (ValueError otherwise).
    """
    values = list(pressures)
    for p in values:
        if not 0.0 <= p <= 1.0:  # also refuses NaN
            raise ValueError(f"a signal pressure must be in [0, 1], got {p!r}")
    if not values:
        return 0.0
    return _aggregate(values)


def _aggregate(values: list[float]) -> float:
    """:func:`aggregate` without the checks (the engine's values are in range by construction)."""
    p = 0.7 * (sum(values) / len(values)) + 0.3 * max(values)
    return 0.0 if p < 0.0 else 1.0 if p > 1.0 else p


class Mode(enum.StrEnum):
    """What the monitor does about an agent; ``rank`` orders them (the values are payload text)."""

    OBSERVE = "observe"  # [0, .25): nothing
    GUIDE = "guide"  # [.25, .5): a guidance message into the agent's next model call
    WARN = "warn"  # [.5, .75): a stronger message
    BLOCK = "block"  # [.75, 1]: runs of the agent refuse destructive tools

    @property
    def rank(self) -> int:
        """0 (OBSERVE) … 3 (BLOCK). Compare modes by rank, never as strings."""
        return _RANK[self]

    @classmethod
    def for_pressure(cls, pressure: float) -> Mode:
        """The band ``pressure`` falls in; each band includes its bottom (0.25 is GUIDE)."""
        if not 0.0 <= pressure <= 1.0:
            raise ValueError(f"pressure must be in [0, 1], got {pressure!r}")
        if pressure < 0.25:
            return cls.OBSERVE
        if pressure < 0.5:
            return cls.GUIDE
        if pressure < 0.75:
            return cls.WARN
        return cls.BLOCK


_RANK = {Mode.OBSERVE: 0, Mode.GUIDE: 1, Mode.WARN: 2, Mode.BLOCK: 3}
