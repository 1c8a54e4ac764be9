"""``python -m benchmarks.peers [--write] [--quick] [--only actors|agents] [--peers raw soma ...]``

Two parts, both by default: the actor libraries (``--peers``), then the agent runtimes
(``agents/``: Soma, LangGraph, autogen-core). Round after round, every workload runs through
every peer, the peers' order rotating each round; each figure is the median of its rounds,
with min and max. ``--write`` puts each part's results into ``BENCHMARKS.md`` (between its
generated-block markers) and draws its chart.
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
AGENTS_CHART = "docs/benchmarks-agents.png"
AGENTS_DATA = "docs/benchmarks-agents.json"


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


def actors(args: argparse.Namespace) -> None:
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


def agents(args: argparse.Namespace) -> None:
    from .agents import report
    from .agents.results import AgentResults

    if args.redraw:
        results = AgentResults.from_json((ROOT / AGENTS_DATA).read_text(encoding="utf-8"))
    else:
        from .agents import run as agent_run  # imports the agent libraries

        load = _load()
        quick = args.quick  # one round of 300 steps (killed at 100), 10 cancels a round
        results = agent_run.run(1, steps=300, cancels=10) if quick else agent_run.run(args.agent_rounds)
        results.load = (load, _load())
        results.machine = machine()
        packages = [*agent_run.packages(), "matplotlib"]
        results.versions = package_versions(list(dict.fromkeys(packages)))
    print(report.console(results))
    if args.write or args.redraw:
        from .agents.chart import draw

        (ROOT / AGENTS_DATA).write_text(results.to_json() + "\n", encoding="utf-8")
        draw(results, ROOT / AGENTS_CHART)
        block = report.markdown(results, AGENTS_CHART)
        write_block(ROOT / "BENCHMARKS.md", block, report.BEGIN, report.END)
        print(f"wrote BENCHMARKS.md, {AGENTS_CHART} and {AGENTS_DATA}", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.peers", description=__doc__)
    parser.add_argument("--peers", nargs="+", choices=PEERS, default=list(PEERS))
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--heavy-rounds", type=int, default=3)
    parser.add_argument("--agent-rounds", type=int, default=5, help="rounds of the agent workloads")
    parser.add_argument("--only", choices=("actors", "agents"), help="one part only")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every workload's size")
    parser.add_argument(
        "--quick", action="store_true", help="a smoke run: --scale 0.1, 2 rounds; agents: 1 round, 300 steps"
    )
    parser.add_argument("--write", action="store_true", help="update BENCHMARKS.md, the charts and data")
    parser.add_argument("--redraw", action="store_true", help="no measuring: rewrite from the data in docs/")
    args = parser.parse_args()
    if args.quick:
        args.scale, args.rounds, args.heavy_rounds = 0.1, 2, 1
    if args.only != "agents":
        actors(args)
    if args.only != "actors":
        agents(args)


if __name__ == "__main__":
    main()
