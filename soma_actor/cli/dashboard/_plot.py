"""A pressure trajectory as a small chart of text: one column per point, the mode bands as
the scale.

    1.00 ┤
    0.75 ┤          █
    0.50 ┤        ▄██▆
    0.25 ┤  ▁▃▅▇██████▇▅▃
    0.00 ┼──────────────────
          #12        #64

Each column is one ``vitals.updated`` of the agent, oldest on the left; its bar's height is
the (effective) pressure, drawn in eighths of a row, and coloured by the mode it was in. The
rows are the mode bands' edges (OBSERVE < .25 ≤ GUIDE < .5 ≤ WARN < .75 ≤ BLOCK), so where a
bar ends says which band the agent was in. A pure function of the points: the same
trajectory draws the same chart.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from rich.text import Text

from . import _format

BARS: Final = " ▁▂▃▄▅▆▇█"
AXIS: Final = 7  # "0.75 ┤ "


def trajectory(
    points: Sequence[tuple[int, float, str | None]], width: int, height: int = 8
) -> Text:
    """``points``: (cause seq, pressure in [0, 1], mode) oldest first; the last ``width - AXIS``
    are drawn, ``height`` rows tall (at least 4: one per band)."""
    height = max(4, height)
    columns = max(1, width - AXIS)
    shown = list(points)[-columns:]
    chart = Text(no_wrap=True, overflow="crop")
    for row in range(height, 0, -1):
        top = row / height
        label = f"{top:.2f}" if _labelled(row, height) else "    "
        chart.append(f"{label} ┤ ", style="dim")
        for _, pressure, mode in shown:
            eighths = round(max(0.0, min(1.0, pressure)) * height * 8) - (row - 1) * 8
            chart.append(BARS[max(0, min(8, eighths))], style=_format.MODE_STYLES.get(mode or "", ""))
        chart.append("\n")
    chart.append("0.00 ┼─" + "─" * len(shown) + "\n", style="dim")
    if shown:
        first, last = f"#{shown[0][0]}", f"#{shown[-1][0]}"
        gap = max(1, len(shown) - len(first) - len(last))
        chart.append(" " * AXIS + first + (" " * gap + last if len(shown) > 1 else ""), style="dim")
    else:
        chart.append(" " * AXIS + "no vitals recorded yet", style="dim italic")
    return chart


def _labelled(row: int, height: int) -> bool:
    """Rows whose top edge is a band edge (.25, .5, .75, 1.0) carry its value."""
    return (row * 4) % height == 0
