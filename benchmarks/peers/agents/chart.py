"""The agent runtimes' chart: six panels, one bar per column (median, whiskers min to max),
log scales where the columns differ by orders of magnitude; "n/a" where a column cannot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from matplotlib.figure import Figure  # renders to files with no pyplot and no display
from matplotlib.ticker import FuncFormatter, NullFormatter

from . import BY_KEY
from .report import value
from .results import AgentResults

COLOURS = {
    "soma": "#f4a6a6",
    "soma-sqlite": "#d62728",
    "langgraph": "#a6c8f4",
    "langgraph-sqlite": "#1f77b4",
    "langgraph-sqlite-sync": "#0b3d75",
    "autogen": "#2ca02c",
}
PANELS = (
    ("loop", "µs", True, "1,000-step no-op loop:\nµs per step"),
    ("cancel", "µs", True, "cancel, tool blocked in an await:\nµs until its cleanup ran"),
    (
        "command",
        "µs",
        True,
        "cancel, tool running `sleep 60`: µs until\nits cleanup ran (peers: program left running)",
    ),
    ("rerun", "steps", False, "crash-resume: completed steps\nrun again after SIGKILL + resume"),
    ("resume_first", "ms", False, "crash-resume: ms from reopen\nuntil the first resumed step ran"),
    ("resume_done", "ms", True, "crash-resume: ms from reopen\nuntil the run finished"),
)


def _panel(ax: Any, results: AgentResults, measure: str, unit: str, log: bool, title: str) -> None:
    columns = list(reversed(results.columns))  # first column on top
    for y, column in enumerate(columns):
        s = results.spread(measure, column)
        if s is None:
            ax.text(0.02, y, "n/a", transform=ax.get_yaxis_transform(), va="center", fontsize=8, color="#666")
            continue
        bar = max(s.median, 0.5) if log else s.median
        ax.barh(y, bar, color=COLOURS.get(column, "#999"), height=0.7)
        ax.errorbar(bar, y, xerr=[[bar - min(s.low, bar)], [max(s.high - bar, 0)]], fmt="none",
                    ecolor="#333", capsize=2, lw=0.8)  # fmt: skip
        ax.text(max(s.high, bar), y, "  " + value(s.median, unit), va="center", fontsize=8)
    ax.set_yticks(range(len(columns)), [BY_KEY[c].label for c in columns], fontsize=8)
    if log:
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
    ax.margins(x=0.35)
    ax.set_title(title, fontsize=9)
    ax.tick_params(axis="x", labelsize=8)


def draw(results: AgentResults, path: Path) -> None:
    fig = Figure(figsize=(15, 6.5), layout="constrained")
    axes = fig.subplots(2, 3, sharey=True)
    for ax, (measure, unit, log, title) in zip(axes.flat, PANELS, strict=True):
        _panel(ax, results, measure, unit, log, title)
    fig.suptitle("Agent runtimes: Soma, LangGraph, autogen-core (medians; whiskers: min to max)", fontsize=10)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
