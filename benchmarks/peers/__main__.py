"""``python -m benchmarks.peers [--write] [--quick] [--peers raw soma ...]``

Round after round, every workload runs through every peer, the peers' order rotating each
round; each figure is the median of its rounds, with min and max. ``--write`` puts the
results into ``BENCHMARKS.md`` (between its generated-block markers) and draws the chart.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from importlib import import_module
from pathlib import Path
from types import ModuleType

from ._peer import HEAP, RSS, SPAWN, TIMED, measure, scaled
from .memory import measure_in_child
from .report import Results, console, machine, markdown, package_versions, write_block

PEERS = ("raw", "soma", "thespian", "triotp", "pykka")
ROOT = Path(__file__).resolve().parents[2]
CHART = "docs/benchmarks.png"
DATA = "docs/benchmarks-peers.json"  # every run's figure, to redraw without measuring again


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def run(peers: list[str], rounds: int, heavy_rounds: int, scale: float) -> Results:
    """``heavy_rounds`` (fewer) for the 10k-actor workloads: spawn + stop and memory."""
    modules: dict[str, ModuleType] = {p: import_module(f"{__package__}.{p}") for p in peers}
    results = Results(peers, {p: m.LABEL for p, m in modules.items()})
    packages = [pkg for m in modules.values() for pkg in m.PACKAGES]
    results.versions = package_versions(list(dict.fromkeys([*packages, "matplotlib"])))
    results.machine = machine()
    samples: dict[str, dict[str, list[float]]] = {}
    started, results.load = time.perf_counter(), (_load(), "")
    for r in range(max(rounds, heavy_rounds)):
        order = peers[r % len(peers) :] + peers[: r % len(peers)]
        for workload in TIMED:
            if r >= (heavy_rounds if workload is SPAWN else rounds):
                continue
            for name in order:
                why = modules[name].UNSUPPORTED.get(workload.key)
                if why is not None:
                    results.unsupported.setdefault(workload.key, {})[name] = why
                    continue
                figure = measure(modules[name], workload, scaled(workload, scale))
                samples.setdefault(workload.key, {}).setdefault(name, []).append(figure)
        if r < heavy_rounds:
            for name in order:
                figures = measure_in_child(name, scaled(HEAP, scale))
                for workload in (HEAP, RSS):
                    samples.setdefault(workload.key, {}).setdefault(name, []).append(figures[workload.key])
        print(f"round {r + 1}: {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    results.samples = samples
    results.summarise()
    results.seconds = time.perf_counter() - started
    results.load = (results.load[0], _load())
    results.rounds = (
        f"{rounds} rounds ({heavy_rounds} for spawn + stop and memory), workload sizes x{scale:g}"
    )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.peers", description=__doc__)
    parser.add_argument("--peers", nargs="+", choices=PEERS, default=list(PEERS))
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--heavy-rounds", type=int, default=3)
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every workload's size")
    parser.add_argument("--quick", action="store_true", help="a smoke run: --scale 0.1, 2 rounds")
    parser.add_argument("--write", action="store_true", help=f"update BENCHMARKS.md, {CHART}, {DATA}")
    parser.add_argument("--redraw", action="store_true", help=f"no measuring: rewrite from {DATA}")
    args = parser.parse_args()
    if args.quick:
        args.scale, args.rounds, args.heavy_rounds = 0.1, 2, 1
    if args.redraw:
        results = Results.from_json((ROOT / DATA).read_text(encoding="utf-8"))
    else:
        peers = args.peers if "raw" in args.peers else ["raw", *args.peers]  # every ratio needs it
        results = run(peers, args.rounds, args.heavy_rounds, args.scale)
    print(console(results))
    if args.write or args.redraw:
        from .chart import draw  # matplotlib only when a chart is asked for

        (ROOT / DATA).parent.mkdir(parents=True, exist_ok=True)
        (ROOT / DATA).write_text(results.to_json() + "\n", encoding="utf-8")
        draw(results, ROOT / CHART)
        write_block(ROOT / "BENCHMARKS.md", markdown(results, CHART))
        print(f"wrote BENCHMARKS.md, {CHART} and {DATA}", file=sys.stderr)


if __name__ == "__main__":
    main()
