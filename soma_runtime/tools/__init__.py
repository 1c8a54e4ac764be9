"""Tools (docs/design.md §3): what a tool is, and how one invocation runs.

- ``spec``: ``@tool``, :class:`ToolSpec`, :class:`CommandTool`, :class:`ToolContext`, and the
  effect / isolation options; ``_isolation`` holds the executors behind each isolation
  (``task``, ``thread``, ``process``, ``command``, and ``ray`` in ``_ray``), ``_worker`` the
  child side of ``process`` and ``_ray_worker`` the Ray task's body.
- ``ray_cluster``: :class:`RayConfig` and the process's connection to a Ray cluster
  (``Runtime.open(ray=...)``); Ray itself is imported only when a runtime asks for it.
- ``builtin``: ``echo``, ``sleep``, ``fail`` and the confined file/text tools.
- ``registry``: the :class:`ToolRegistry` process; ``tool_call``: the disposable ToolCall worker.
- ``errors``: the typed errors of the layer.

Importing this package imports neither the kernel, the store nor Ray: a ``process`` tool's worker
imports it in a fresh interpreter for every call. The registry and the ToolCall worker are
imported from their modules by the runtime that runs them.
"""

from .builtin import BUILTIN_TOOLS
from .errors import (
    ArgumentProblem,
    CommandFailed,
    CommandNotFound,
    PathOutsideRoot,
    RayTaskLost,
    RayUnavailable,
    ToolAbandoned,
    ToolArgumentsError,
    ToolCrashed,
    ToolDefinitionError,
    ToolError,
    ToolFailed,
    ToolLoadError,
    ToolOutputNotSerializable,
    ToolOutputTooLarge,
    UnknownTool,
)
from .ray_cluster import RayConfig
from .spec import CommandTool, Effect, Isolation, ToolContext, ToolSpec, tool

__all__ = [
    "BUILTIN_TOOLS",
    "ArgumentProblem",
    "CommandFailed",
    "CommandNotFound",
    "CommandTool",
    "Effect",
    "Isolation",
    "PathOutsideRoot",
    "RayConfig",
    "RayTaskLost",
    "RayUnavailable",
    "ToolAbandoned",
    "ToolArgumentsError",
    "ToolContext",
    "ToolCrashed",
    "ToolDefinitionError",
    "ToolError",
    "ToolFailed",
    "ToolLoadError",
    "ToolOutputNotSerializable",
    "ToolOutputTooLarge",
    "ToolSpec",
    "UnknownTool",
    "tool",
]
