"""Treatment or control: block randomization of guidance firings, keyed on the firing.

To learn whether a pattern's guidance helps, some of its firings must *not* be delivered: the
control arm, recorded as it would have been and compared with the delivered treatment arm
(``followup`` records what happened next; ``report`` compares). The unit of randomization is
the firing, not the session or the agent: two firings of one session may land in different
arms, so an agent is its own control and nothing about a session decides its arm.

Block randomization keeps the arms balanced at every point, not only on average: the firings
of a pattern are taken in blocks of ``VitalsConfig.ab_block`` (4) in the order the engine
sees them, and each block holds exactly half treatment and half control, in an order shuffled
by its first firing's id. No clock, no ``random``, no ``hash()``: the shuffle is a
Fisher-Yates driven by BLAKE2b of the firing id, so the same log gives the same arms in every
process — and a replay is bit-identical (``replay``). A firing's arm is fixed the moment it
fires; what comes later never changes it.
"""

from __future__ import annotations

from hashlib import blake2b
from typing import Any, Final

TREATMENT: Final = "treatment"
CONTROL: Final = "control"


def block_order(firing_id: str, size: int) -> list[str]:
    """The arms of a block of ``size`` firings (half each), shuffled by ``firing_id``."""
    arms = [TREATMENT] * (size // 2) + [CONTROL] * (size // 2)
    for i in range(size - 1, 0, -1):
        digest = blake2b(f"{firing_id}\x1f{i}".encode(), digest_size=8).digest()
        j = int.from_bytes(digest, "big") % (i + 1)
        arms[i], arms[j] = arms[j], arms[i]
    return arms


class Arms:
    """Per pattern, what is left of its current block."""

    __slots__ = ("blocks", "size")

    def __init__(self, size: int) -> None:
        self.size = size
        self.blocks: dict[str, list[str]] = {}

    def assign(self, pattern: str, firing_id: str) -> str:
        """The arm of the next firing of ``pattern`` (a new block starts with this firing when
        the last one is used up)."""
        left = self.blocks.get(pattern)
        if not left:
            left = self.blocks[pattern] = block_order(firing_id, self.size)
        return left.pop(0)

    def to_json(self) -> dict[str, Any]:
        return {pattern: list(left) for pattern, left in self.blocks.items() if left}

    @classmethod
    def from_json(cls, size: int, data: dict[str, Any]) -> Arms:
        arms = cls(size)
        arms.blocks = {pattern: list(left) for pattern, left in data.items()}
        return arms
