"""The trust graph: when an agent struggles, the agents that depend on it feel part of it.

An edge ``src → dst`` with trust t ∈ [0, 1] says dst relies on src's work. The effective
pressure of dst is::

    effective(dst) = max(own(dst), 0.6 · Σ t·p(src) / max(1, Σ t))

over dst's incoming edges, recomputed three times from the previous round's values (a
synchronous, Jacobi-style iteration, so the result does not depend on the order nodes are
visited in). Consequences, each covered by a property test:

* a single edge leaks 0.6·t of its source's pressure;
* many edges *average* (the divisor is the total trust once it passes 1) instead of adding up;
* every hop multiplies by at most 0.6, so pressure decays around a cycle and three rounds
  reach at most three hops;
* nothing ever exceeds the largest own pressure;
* with at most 1 total trust into each node (the "leaks add" regime) effective pressures are
  monotone in every trust. Past that, raising the trust of an edge from a *calm* source
  lowers the average on purpose — trusting a calm colleague more is reassuring.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

LEAK = 0.6
"""Share of a trusted source's pressure that reaches its dependant."""
ITERATIONS = 3
"""Rounds of propagation: pressure travels at most this many hops."""


class TrustGraph:
    """Directed, weighted edges between agent ids. Adding an existing edge replaces its trust."""

    __slots__ = ("_incoming", "version")

    def __init__(self, edges: Iterable[tuple[str, str, float]] = ()) -> None:
        # dst -> {src: trust}, both in insertion order: the float sums below are then
        # evaluated in the same order every time (bit-identical results).
        self._incoming: dict[str, dict[str, float]] = {}
        self.version = 0  # bumped on every change (lets a user cache derived data)
        for src, dst, trust in edges:
            self.add_edge(src, dst, trust)

    def add_edge(self, src: str, dst: str, trust: float) -> None:
        """Let ``dst`` rely on ``src`` with ``trust`` in [0, 1] (ValueError otherwise)."""
        for name, node in (("src", src), ("dst", dst)):
            if not isinstance(node, str) or not node:
                raise ValueError(f"trust edge {name} must be a non-empty agent id, got {node!r}")
        if src == dst:
            raise ValueError(f"an agent cannot trust itself ({src!r} -> {dst!r})")
        if isinstance(trust, bool) or not isinstance(trust, int | float) or not math.isfinite(trust):
            raise ValueError(f"trust must be a number in [0, 1], got {trust!r}")
        if not 0.0 <= trust <= 1.0:
            raise ValueError(f"trust must be in [0, 1], got {trust!r}")
        self._incoming.setdefault(dst, {})[src] = float(trust)
        self.version += 1

    def remove_edge(self, src: str, dst: str) -> None:
        """Forget the edge ``src → dst`` (KeyError if there is none)."""
        sources = self._incoming[dst]
        del sources[src]
        if not sources:
            del self._incoming[dst]
        self.version += 1

    def edges(self) -> list[tuple[str, str, float]]:
        """Every edge as ``(src, dst, trust)``, in a stable order (JSON-able, for state export)."""
        return [(src, dst, t) for dst, sources in self._incoming.items() for src, t in sources.items()]

    def nodes(self) -> list[str]:
        """Every agent on an edge, once, in a stable order (first appearance in ``edges()``)."""
        return list(dict.fromkeys(node for src, dst, _ in self.edges() for node in (src, dst)))

    def __len__(self) -> int:
        return sum(len(sources) for sources in self._incoming.values())

    def propagate(self, pressures: Mapping[str, float]) -> dict[str, float]:
        """Effective pressure of every agent in ``pressures`` and of every node of the graph
        (an agent with no own pressure counts as 0). Own pressures must be in [0, 1]."""
        own: dict[str, float] = {}
        for agent, p in pressures.items():
            if not 0.0 <= p <= 1.0:  # also refuses NaN
                raise ValueError(f"pressure of {agent!r} must be in [0, 1], got {p!r}")
            own[agent] = p
        for node in self.nodes():
            own.setdefault(node, 0.0)
        return self._propagate(own)

    def _propagate(self, own: dict[str, float]) -> dict[str, float]:
        """:meth:`propagate` without the checks; ``own`` must hold every node of the graph."""
        current = own
        incoming = self._incoming
        for _ in range(ITERATIONS):
            nxt = dict(own)
            for dst, sources in incoming.items():
                weighted = 0.0
                total = 0.0
                for src, trust in sources.items():
                    weighted += trust * current[src]
                    total += trust
                leak = LEAK * weighted / (total if total > 1.0 else 1.0)
                if leak > nxt[dst]:
                    nxt[dst] = leak
            current = nxt
        return current
