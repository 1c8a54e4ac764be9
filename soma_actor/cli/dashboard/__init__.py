"""``soma dashboard``: a live Textual view of a runtime — agents and their pressure, runs,
the supervision tree, the event tail and guidance — from its database, and through its
control socket when one is given (which also lets it cancel runs).

    run_dashboard(db="soma.db", control="soma.sock")   # what the command calls
    SomaDashboard(db="soma.db")                         # the app itself (tests drive it)

Names are imported on first use: ``soma --help`` lists this verb without loading Textual.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from soma_runtime._lazy import lazy_exports

_EXPORTS = {
    "SomaDashboard": ".app",
    "run_dashboard": ".entry",
    "DashboardScreen": ".screen",
    "DashboardError": ".source",
    "DashboardSource": ".source",
}

__all__ = ["DashboardError", "DashboardScreen", "DashboardSource", "SomaDashboard", "run_dashboard"]
assert set(__all__) == set(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:
    from .app import SomaDashboard
    from .entry import run_dashboard
    from .screen import DashboardScreen
    from .source import DashboardError, DashboardSource
