"""Vitals for agents that run elsewhere (docs/design.md §8).

- ``claude_code``: Claude Code sessions through its hooks (``soma init``, ``soma hook``);
- ``sdk``: ``wrap(client)``, a script's Anthropic or OpenAI SDK client (``from soma_actor import wrap``);
- ``destructive``: which of an outside agent's actions BLOCK refuses;
- ``served``: the control ops through which both record via a running ``soma serve``;
  ``_direct``: recording straight into the database when none runs.

Names are imported on first use: ``soma hook`` must not pay for ``wrap``'s SDK handling.
"""

# typing is not imported at run time on `soma hook`'s path (a few ms of its ~20); type
# checkers read TYPE_CHECKING as typing's own.
TYPE_CHECKING = False

_EXPORTS = {
    "wrap": ".sdk",
    "ToolBlocked": ".sdk",
    "Rules": ".destructive",
    "destructive_action": ".destructive",
}

__all__ = ["Rules", "ToolBlocked", "destructive_action", "wrap"]
assert set(__all__) == set(_EXPORTS)


def __getattr__(name: str) -> object:  # as in soma_actor: soma_runtime only when a name is read
    from soma_runtime._lazy import lazy_exports

    return lazy_exports(__name__, _EXPORTS)[0](name)


def __dir__() -> list[str]:
    from soma_runtime._lazy import lazy_exports

    return lazy_exports(__name__, _EXPORTS)[1]()

if TYPE_CHECKING:
    from .destructive import Rules, destructive_action
    from .sdk import ToolBlocked, wrap
