"""Memory per live actor, measured in a fresh interpreter: ``python -m benchmarks.peers.memory
PEER N`` prints ``{"heap": bytes, "rss": bytes}`` per actor for N live idle actors.

A fresh interpreter per peer (and per round) because resident memory a process has freed is
reused, not returned: measured after another peer, a peer would look cheaper than it is.

* ``heap``: what tracemalloc counts — the Python heap allocated for the live actors. It does
  not see an OS thread's stack (pykka's actors each have one).
* ``rss``: growth of the resident set, which does see them, minus the growth of tracemalloc's
  own bookkeeping (both are measured in the same pass).
"""

from __future__ import annotations

import gc
import json
import os
import sys
import tracemalloc
from importlib import import_module

from .._table import trace_heap, traced_bytes
from ._peer import json_from_child


def resident() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def per_actor(peer_name: str, n: int) -> dict[str, float]:
    peer = import_module(f"{__package__}.{peer_name}")
    marks: dict[str, int] = {}

    def before() -> None:
        trace_heap()
        marks["rss"], marks["tracing"] = resident(), tracemalloc.get_tracemalloc_memory()

    def after() -> None:
        gc.collect()
        rss, tracing = resident(), tracemalloc.get_tracemalloc_memory()
        marks["heap"] = traced_bytes()
        marks["rss"] = (rss - marks["rss"]) - (tracing - marks["tracing"])

    peer.live(n, before, after)
    return {"heap": marks["heap"] / n, "rss": marks["rss"] / n}


def measure_in_child(peer_name: str, n: int) -> dict[str, float]:
    """Run :func:`per_actor` in a fresh interpreter (the benchmarks' own, same environment)."""
    figures: dict[str, float] = json_from_child(__name__, peer_name, str(n))
    return figures


if __name__ == "__main__":
    print(json.dumps(per_actor(sys.argv[1], int(sys.argv[2]))))
