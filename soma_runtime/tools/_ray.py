"""The executor behind ``isolation="ray"``: one invocation as one Ray task.

The runtime stays where it is — the run, its events, its journal and resume — and only the
tool's function travels: it is pickled here with its arguments and context, the task
(``_ray_worker.ray_task``) calls it in a Ray worker process and returns the same plain-data reply
a ``process`` tool's worker writes, and that reply becomes the ToolCall's result, which the
ToolCall sends to its run as a message like any other tool's.

Stopping (the run cancelled the ToolCall: a cancel, a step or run timeout, a shutdown) is
``ray.cancel(force=True)``, which kills the worker process that runs the task, then a wait —
shielded from the cancellation that asked for the stop — until Ray reports the task ended
*and* the worker process is gone. Both, because Ray reports a force-cancelled task ended as
soon as it has sent the kill, while the worker may still be running for a moment: the task
therefore first yields where it runs (node id and pid), and a worker on this machine is
watched through a pidfd, which becomes readable when the process exits (a worker on
another node is Ray's to kill; its report is all there is). Only the kernel's kill (a
second, native cancellation, after the run's ``cancel_grace``) cuts that wait short, for a
cluster that no longer answers. There is no grace period: a Ray task cannot be asked to stop
politely.

Ray never retries a task (``max_retries=0``): whether a call may run again is resume's
decision, by the tool's ``idempotent`` and ``effect`` (``execution._journal``). A runtime
that dies with a Ray task in flight takes the task with it — Ray ends the tasks of a driver
that went away — and the call is judged at the next open like any other in flight.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio

from . import ray_cluster
from ._child import Log
from ._isolation import reply_value
from .errors import RayTaskLost, RayUnavailable, ToolFailed


async def run_on_ray(tool: str, fn: Callable[..., Any], kwargs: dict[str, Any], log: Log) -> Any:
    """Run ``fn(**kwargs)`` as a Ray task and return its JSON-ready output; see the module
    docstring for the stop. A ToolContext among ``kwargs`` travels with its default log (an
    adapter of the ``soma.tools`` logger, rebuilt by name in the worker)."""
    ray = ray_cluster.import_ray(tool)
    if not ray.is_initialized():
        raise RayUnavailable(
            tool, "this process is not connected to Ray: open the runtime with Runtime.open(ray=...)"
        )
    try:
        payload = ray.cloudpickle.dumps((fn, kwargs))
    except Exception as exc:
        raise ToolFailed(tool, f"its function or arguments cannot be sent to Ray: {exc}") from exc
    connection = ray_cluster.current()
    config = connection.config if connection is not None else ray_cluster.RayConfig()
    # Streaming: the task yields where it runs before its reply (see the module docstring).
    options = {**config.options_for(tool), "name": f"soma.tool:{tool}", "num_returns": "streaming"}
    sys_path = [entry for entry in sys.path if isinstance(entry, str)]
    try:
        stream = _remote(ray).options(**options).remote(tool, sys_path, payload)
    except (TypeError, ValueError) as exc:  # options Ray does not take (RayConfig.task_options…)
        raise RayUnavailable(tool, f"Ray refused to start its task: {exc}") from exc
    worker: _Worker | None = None
    try:
        node_id, pid = await _next(stream, tool)
        worker = _Worker.watch(ray, node_id, pid)
        reply = await _next(stream, tool)
    except anyio.get_cancelled_exc_class():
        await _stop(ray, stream, worker, tool, log)
        raise
    finally:
        if worker is not None:
            worker.close()
    return reply_value(tool, reply)


@functools.cache
def _remote(ray: Any) -> Any:
    """The Ray remote function of ``_ray_worker.ray_task`` (registered with Ray once, on first use)."""
    from ._ray_worker import ray_task

    return ray.remote(ray_task)


async def _next(stream: Any, tool: str) -> Any:
    """The task's next yielded value; ``RayTaskLost`` if the task ended instead."""
    ray = ray_cluster.import_ray(tool)
    try:
        return await (await stream.__anext__())
    except StopAsyncIteration:
        raise RayTaskLost(tool, "StopAsyncIteration", "the task ended before its reply") from None
    except ray.exceptions.RayError as exc:
        raise RayTaskLost(tool, type(exc).__name__, str(exc)) from None


class _Worker:
    """The worker process running a task, watched through a pidfd (this machine only)."""

    def __init__(self, pid: int, fd: int) -> None:
        self.pid = pid
        self.fd = fd

    @classmethod
    def watch(cls, ray: Any, node_id: str, pid: int) -> _Worker | None:
        if node_id != ray.get_runtime_context().get_node_id():
            return None  # another machine's process: Ray's report is all there is
        try:
            # Opened while the task is known to run in it, so the pid cannot name another.
            return cls(pid, os.pidfd_open(pid))
        except ProcessLookupError:
            return None  # gone already
        except (AttributeError, OSError):
            return None  # no pidfd here (not Linux, or a kernel before 5.3)

    async def exited(self) -> None:
        await anyio.wait_readable(self.fd)

    def close(self) -> None:
        os.close(self.fd)


async def _stop(ray: Any, stream: Any, worker: _Worker | None, tool: str, log: Log) -> None:
    """Kill the task's worker; wait until Ray reports the task ended and the worker is gone."""
    log.debug("cancelling the Ray task of tool %r (force: its worker process is killed)", tool)
    try:
        ray.cancel(stream, force=True)
    except Exception as exc:  # the cancellation must go on as a cancellation
        log.warning("Ray refused to cancel the task of tool %r: %s", tool, exc)
    late: _Worker | None = None  # where it ran, if that arrived only now
    try:
        with anyio.CancelScope(shield=True):
            async for value in _drain(stream):
                if worker is None and late is None and isinstance(value, tuple):
                    late = _Worker.watch(ray, *value)
            for watched in (worker, late):
                if watched is not None:
                    await watched.exited()
    except anyio.get_cancelled_exc_class():
        log.warning("stopped waiting for the Ray task of tool %r to end; Ray did not report it", tool)
        raise
    finally:
        if late is not None:
            late.close()


async def _drain(stream: Any) -> AsyncIterator[Any]:
    """What the task still yields, up to its end, however it ends: cancelled (the usual),
    lost, or with a reply that arrived just before the cancel did."""
    while True:
        try:
            yield await (await stream.__anext__())
        except StopAsyncIteration:
            return
        except anyio.get_cancelled_exc_class():
            raise
        except Exception:
            return  # it ended with an error (TaskCancelledError…): nothing follows
