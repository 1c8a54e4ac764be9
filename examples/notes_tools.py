"""Tools for ``examples/soma.toml``: a runtime served with ``soma serve --config`` imports them
by their module path (``notes_tools``, found beside the config file).

soma serve --config examples/soma.toml
"""

from __future__ import annotations

import anyio

from soma_runtime import tool


@tool(effect="pure")
def word_count(text: str) -> int:
    """How many words the text has."""
    return len(text.split())


@tool(effect="read", idempotent=True, timeout=60.0)
async def slow_lookup(topic: str, seconds: float = 5.0) -> str:
    """A lookup that takes its time (something to watch, and to cancel)."""
    await anyio.sleep(seconds)
    return f"notes on {topic}"
