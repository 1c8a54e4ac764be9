"""The worker side of ``ray`` isolation: the body of a ``ray`` tool's Ray task.

Registered with Ray by ``_ray`` and imported by reference in Ray's worker processes, so it
imports little: the call and its reply are ``_isolation``'s, shared with ``process`` tools.
"""

from __future__ import annotations

import os
import pickle
import sys
from collections.abc import Iterator
from typing import Any

from ._isolation import call_and_reply


def ray_task(tool: str, sys_path: list[str], payload: bytes) -> Iterator[Any]:
    """Yield where this runs — ``(node id, pid)``, so that the runtime can watch the worker
    process go when it stops the task — then the reply of the call.

    ``payload`` is the function and its keyword arguments (the ToolContext among them),
    pickled by the runtime rather than by Ray, so that the runtime's ``sys.path`` is in place
    before the tool's module is imported: appended after the worker's own entries, it finds
    the modules the runtime found (a script's folder…) on the same machine, and is harmless
    elsewhere.
    """
    import ray  # in a Ray worker: already imported

    yield ray.get_runtime_context().get_node_id(), os.getpid()
    for entry in sys_path:
        if entry not in sys.path:
            sys.path.append(entry)
    try:
        fn, kwargs = pickle.loads(payload)
    except BaseException as exc:
        problem = f"cannot load the function in its Ray worker: {type(exc).__qualname__}: {exc}"
        yield {"ok": False, "kind": "load", "message": problem}
        return
    yield call_and_reply(tool, fn, kwargs)
