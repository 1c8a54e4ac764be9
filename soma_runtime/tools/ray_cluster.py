"""The process's connection to a Ray cluster, for ``ray`` tools (docs/design.md §11).

``Runtime.open(ray=...)`` connects before the runtime's tree starts (so that runs resumed at
open can call their Ray tools) and disconnects after it has stopped (so that every Ray task
of its runs has been cancelled first):

* ``ray=True`` or ``RayConfig()``: start a local Ray instance of our own (``address`` None:
  never an instance someone else started on this machine), and shut it down at the end.
* ``ray="auto"``, ``ray="10.0.0.5:6379"``, ``ray="ray://head:10001"``, or
  ``RayConfig(address=...)``: connect to an existing cluster as a driver, and disconnect at
  the end; the cluster keeps running.

Ray's connection belongs to the process (``ray.init`` is global), so this one is shared:
if Ray is already initialised when a runtime opens — by the application, or by another
runtime in the same process — the runtime uses that connection and leaves it open when it
closes. What Soma started, Soma shuts down, once its last user has closed.

The executor (``_ray``) reads the task options from here. Ray itself is imported only when
a connection is made: ``import soma_runtime`` and every path without Ray never import it.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio.to_thread

from .errors import RayUnavailable

__all__ = ["RayConfig", "RayConnection", "connect", "current", "disconnect", "ray_connection"]

#: Task options Soma decides itself: a run's resume decides whether a tool call may run
#: again (its idempotency rule), so Ray must never retry one on its own.
_FIXED_TASK_OPTIONS: Mapping[str, Any] = {"max_retries": 0, "retry_exceptions": False}


@dataclass(frozen=True)
class RayConfig:
    """Where ``ray`` tools run, and with what.

    ``address``: None starts a local Ray instance (with ``num_cpus`` CPUs, default: all of
    them); anything else is passed to ``ray.init`` to connect to a running cluster
    (``"auto"``, ``"host:6379"``, ``"ray://host:10001"``). ``namespace`` and ``runtime_env``
    go to ``ray.init`` (a cluster on other machines needs the tools' code there: Soma installed,
    and the tools' modules, e.g. through ``runtime_env={"py_modules": [...]}``);
    ``init_options`` are any other ``ray.init`` keyword arguments, and override Soma's
    defaults (no dashboard for a local instance; workers' output is not copied to this
    process's stdout — ``log_to_driver=False`` — as a ``process`` tool's prints stay off it).

    ``task_options`` are the Ray task options of every ``ray`` tool (``num_cpus``,
    ``num_gpus``, ``memory``, ``resources``…), and ``tool_options`` add some for one tool, by
    its name. ``max_retries`` and ``retry_exceptions`` are Soma's: always 0 and False.
    """

    address: str | None = None
    num_cpus: int | None = None
    namespace: str | None = None
    runtime_env: Mapping[str, Any] | None = None
    init_options: Mapping[str, Any] = field(default_factory=dict)
    task_options: Mapping[str, Any] = field(default_factory=dict)
    tool_options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.address is not None and (not isinstance(self.address, str) or not self.address):
            raise ValueError(f"RayConfig.address must be a non-empty str or None, got {self.address!r}")
        if self.num_cpus is not None:
            if isinstance(self.num_cpus, bool) or not isinstance(self.num_cpus, int) or self.num_cpus < 1:
                raise ValueError(f"RayConfig.num_cpus must be a positive int, got {self.num_cpus!r}")
            if self.address is not None:
                raise ValueError(
                    "RayConfig.num_cpus sizes a local Ray instance; a cluster at an address has its own"
                )
        for name in ("init_options", "task_options", "tool_options"):
            value = getattr(self, name)
            if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
                raise ValueError(f"RayConfig.{name} must be a mapping with str keys, got {value!r}")
        for tool, options in self.tool_options.items():
            if not isinstance(options, Mapping):
                raise ValueError(f"RayConfig.tool_options[{tool!r}] must be a mapping, got {options!r}")

    def init_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of ``ray.init`` for this configuration."""
        kwargs: dict[str, Any] = {"log_to_driver": False}
        if self.address is None:
            # "local": a new instance of our own, even if `ray start` ran on this machine.
            kwargs.update(address="local", include_dashboard=False)
            if self.num_cpus is not None:
                kwargs["num_cpus"] = self.num_cpus
        else:
            kwargs["address"] = self.address
        if self.namespace is not None:
            kwargs["namespace"] = self.namespace
        if self.runtime_env is not None:
            kwargs["runtime_env"] = dict(self.runtime_env)
        kwargs.update(self.init_options)
        return kwargs

    def options_for(self, tool: str) -> dict[str, Any]:
        """The Ray task options of ``tool``'s task."""
        return {**self.task_options, **self.tool_options.get(tool, {}), **_FIXED_TASK_OPTIONS}


@dataclass(eq=False)
class RayConnection:
    """The process's connection: its configuration, whether Soma started it (and so shuts
    it down), and how many runtimes use it."""

    config: RayConfig
    started: bool
    users: int = 1


_lock = threading.Lock()  # connect/disconnect run in worker threads (ray.init blocks for seconds)
_current: RayConnection | None = None


def current() -> RayConnection | None:
    """The connection Soma holds in this process, if any."""
    return _current


def as_config(setting: RayConfig | str | bool | None) -> RayConfig | None:
    """``Runtime.open``'s ``ray=`` argument as a :class:`RayConfig` (None: no Ray)."""
    if setting is None or setting is False:
        return None
    if setting is True:
        return RayConfig()
    if isinstance(setting, str):
        return RayConfig(address=setting)
    if isinstance(setting, RayConfig):
        return setting
    raise TypeError(f"ray must be True, False, None, an address or a RayConfig, got {setting!r}")


def import_ray(tool: str | None = None) -> Any:
    """The ``ray`` module, or :class:`RayUnavailable` saying how to install it."""
    try:
        import ray
    except ImportError as exc:
        raise RayUnavailable(
            tool, f"Ray is not installed ({exc}); install the extra: pip install 'soma-runtime[ray]'"
        ) from None
    return ray


def connect(config: RayConfig) -> RayConnection:
    """Connect this process to Ray as ``config`` says, or join the connection it already has
    (blocking: starting a local instance takes seconds)."""
    global _current
    ray = import_ray()
    with _lock:
        if _current is not None:
            held = _current.config.address
            if config.address is not None and config.address != held:
                raise RayUnavailable(
                    None,
                    f"this process is already connected to Ray ({held or 'a local instance'}); "
                    f"it cannot connect to {config.address!r} as well",
                )
            _current.users += 1
            return _current
        if ray.is_initialized():  # the application's own connection: used, never shut down
            _current = RayConnection(config, started=False)
            return _current
        try:
            ray.init(**config.init_kwargs())
        except Exception as exc:
            target = config.address or "a local instance"
            raise RayUnavailable(None, f"cannot connect to Ray ({target}): {exc}") from exc
        _current = RayConnection(config, started=True)
        return _current


def disconnect(connection: RayConnection) -> None:
    """Release ``connection``; the last user of one Soma started shuts Ray down (for a
    cluster at an address: disconnects this driver, the cluster keeps running)."""
    global _current
    with _lock:
        if connection is not _current or connection.users <= 0:
            return
        connection.users -= 1
        if connection.users > 0:
            return
        _current = None
        if connection.started:
            import_ray().shutdown()


@asynccontextmanager
async def ray_connection(setting: RayConfig | str | bool | None) -> AsyncIterator[RayConnection | None]:
    """Hold a connection for the block (None when ``setting`` asks for no Ray)."""
    config = as_config(setting)
    if config is None:
        yield None
        return
    # Not abandoned on cancel: a connection half made would never be released.
    connection = await anyio.to_thread.run_sync(connect, config)
    try:
        yield connection
    finally:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(disconnect, connection)
