"""The executor behind ``isolation="ray"``: one invocation as one Ray task.

The runtime stays where it is — the run, its events, its journal and resume — and only the
tool's function travels: it is pickled here with its arguments and context, the task
(``_worker.ray_task``) calls it in a Ray worker process and returns the same plain-data reply
a ``process`` tool's worker writes, and that reply becomes the ToolCall's result, which the
ToolCall sends to its run as a message like any other tool's.

Stopping (the run cancelled the ToolCall: a cancel, a step or run timeout, a shutdown) is
``ray.cancel(force=True)``, which kills the worker process that runs the task, and then a
wait — shielded from the cancellation that asked for the stop — until Ray reports the task
ended, which it does once the worker is gone. Only the kernel's kill (a second, native
cancellation, after the run's ``cancel_grace``) cuts that wait short, for a cluster that no
longer answers. There is no grace period: a Ray task cannot be asked to stop politely.

Ray never retries a task (``max_retries=0``): whether a call may run again is resume's
decision, by the tool's ``idempotent`` and ``effect`` (``execution._journal``). A runtime
that dies with a Ray task in flight takes the task with it — Ray ends the tasks of a driver
that went away — and the call is judged at the next open like any other in flight.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any

import anyio

from . import ray_cluster
from ._child import Log
from ._isolation import reply_value
from .errors import RayTaskLost, RayUnavailable, ToolFailed


async def run_on_ray(
    tool: str,
    fn: Callable[..., Any],
    kwargs: dict[str, Any],
    context_param: str | None,
    context: dict[str, Any],
    log: Log,
) -> Any:
    """Run ``fn(**kwargs)`` (plus the context, rebuilt in the worker) as a Ray task and
    return its JSON-ready output; see the module docstring for the stop."""
    ray = ray_cluster.import_ray(tool)
    if not ray.is_initialized():
        raise RayUnavailable(
            tool, "this process is not connected to Ray: open the runtime with Runtime.open(ray=...)"
        )
    try:
        payload = ray.cloudpickle.dumps((fn, kwargs, context_param, context))
    except Exception as exc:
        raise ToolFailed(tool, f"its function or arguments cannot be sent to Ray: {exc}") from exc
    connection = ray_cluster.current()
    config = connection.config if connection is not None else ray_cluster.RayConfig()
    task = _remote(ray).options(name=f"soma.tool:{tool}", **config.options_for(tool))
    sys_path = [entry for entry in sys.path if isinstance(entry, str)]
    ref = task.remote(tool, sys_path, payload)
    try:
        reply = await ref
    except anyio.get_cancelled_exc_class():
        await _stop(ray, ref, tool, log)
        raise
    except ray.exceptions.RayError as exc:
        raise RayTaskLost(tool, type(exc).__name__, str(exc)) from None
    return reply_value(tool, reply)


@functools.cache
def _remote(ray: Any) -> Any:
    """The Ray remote function of ``_worker.ray_task`` (registered with Ray once, on first use)."""
    from ._worker import ray_task

    return ray.remote(ray_task)


async def _stop(ray: Any, ref: Any, tool: str, log: Log) -> None:
    """Kill the task's worker and wait until Ray reports the task ended."""
    log.debug("cancelling the Ray task of tool %r (force: its worker process is killed)", tool)
    ray.cancel(ref, force=True)
    try:
        with anyio.CancelScope(shield=True):
            await _ended(ref)
    except anyio.get_cancelled_exc_class():
        log.warning("stopped waiting for the Ray task of tool %r to end; Ray did not report it", tool)
        raise


async def _ended(ref: Any) -> None:
    """Wait for ``ref`` to resolve, whatever it resolves to: cancelled (the usual), lost,
    or a result that arrived just before the cancel did."""
    try:
        await ref
    except anyio.get_cancelled_exc_class():
        raise
    except Exception:
        return
