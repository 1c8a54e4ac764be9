"""The chart of ``BENCHMARKS.md``: three panels, log scales, one colour per peer.

Left, throughput normalised to raw asyncio (1× is the floor written by hand; higher is
better); middle, cancel latency; right, memory per live actor (both lower is better).
Each bar is labelled with its value; whiskers span the runs' min to max; "n/a" marks what a
peer cannot do.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure  # renders to files with no pyplot and no display
from matplotlib.ticker import FuncFormatter, NullFormatter

from ._peer import CALL, CANCEL, HEAP, ONEWAY, RESTARTS, RSS, SPAWN, Workload
from .report import Results

COLOURS = {
    "raw": "#9e9e9e",
    "soma": "#d62728",
    "thespian": "#1f77b4",
    "triotp": "#2ca02c",
    "pykka": "#ff7f0e",
}


def _plain(value: float, _pos: object) -> str:
    return f"{value:g}"


def _panel(
    ax: Any,
    results: Results,
    groups: list[tuple[str, Workload]],
    divisor: Callable[[Workload], float | None],
    label: Callable[[float], str],
) -> None:
    """Grouped bars: one group per workload, one bar per peer, each value ÷ divisor."""
    peers = results.peers
    width = 0.8 / len(peers)
    for i, peer in enumerate(peers):
        for g, (_name, workload) in enumerate(groups):
            x = g + (i - (len(peers) - 1) / 2) * width
            spread, base = results.spread(workload, peer), divisor(workload)
            colour = COLOURS.get(peer, "#444444")
            if spread is None or base is None:
                # In axes coordinates vertically: at the bottom whatever the scale.
                ax.text(
                    x,
                    0.03,
                    "n/a",
                    rotation=90,
                    ha="center",
                    va="bottom",
                    fontsize=7,
                    color="#666666",
                    transform=ax.get_xaxis_transform(),
                )
                continue
            value = spread.median / base
            ax.bar(x, value, width, color=colour, label=results.labels[peer] if g == 0 else None)
            low, high = (spread.median - spread.low) / base, (spread.high - spread.median) / base
            ax.errorbar(
                x, value, yerr=[[low], [high]], fmt="none", ecolor="#222222", elinewidth=0.7, capsize=1.5
            )
            ax.annotate(
                label(value),
                (x, value + high),
                xytext=(0, 2),
                textcoords="offset points",
                ha="center",
                va="bottom",
                fontsize=6.5,
                rotation=90,
            )
    ax.set_xticks(range(len(groups)), [name for name, _w in groups])
    ax.set_xlim(-0.5, len(groups) - 0.5)  # room for every peer's slot, "n/a" ones included
    ax.set_yscale("log")
    ax.margins(y=0.25)
    low, high = ax.get_ylim()
    ax.yaxis.set_major_formatter(FuncFormatter(_plain))
    # Under about a decade and a half there are few major ticks: label the minor ones too.
    ax.yaxis.set_minor_formatter(FuncFormatter(_plain) if high / low < 30 else NullFormatter())
    ax.tick_params(axis="y", which="minor", labelsize=7)
    ax.grid(axis="y", which="major", alpha=0.3)


def draw(results: Results, path: Path) -> None:
    fig = Figure(figsize=(15, 6))
    left, middle, right = fig.subplots(1, 3, gridspec_kw={"width_ratios": [4.5, 1.6, 2.6]})

    def over_raw(workload: Workload) -> float | None:
        raw = results.spread(workload, "raw")
        return None if raw is None else raw.median

    throughput = [("call", CALL), ("one-way", ONEWAY), ("spawn + stop", SPAWN), ("restarts", RESTARTS)]
    _panel(left, results, throughput, over_raw, lambda v: f"{v:.2g}×")
    left.axhline(1.0, color="#555555", linewidth=0.8, linestyle="--")
    left.set_title("Throughput ÷ raw asyncio (higher is better)", fontsize=10)
    _panel(middle, results, [("blocked handler", CANCEL)], lambda _w: 1.0, lambda v: f"{v:.1f}")
    middle.set_title("Cancel latency, µs (lower is better)", fontsize=10)
    _panel(
        right, results, [("Python heap", HEAP), ("RSS growth", RSS)], lambda _w: 1024.0, lambda v: f"{v:.1f}"
    )
    right.set_title("Memory per live actor, KB (lower is better)", fontsize=10)
    handles, labels = left.get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), frameon=False)
    fig.suptitle("Soma and its peers: the same workloads in one process (medians; whiskers: min to max)")
    fig.tight_layout(rect=(0, 0.06, 1, 0.96))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
