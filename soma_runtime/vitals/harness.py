"""Tool calls of agent harnesses (Claude Code): their tool names and argument names.

Soma's own tools declare what they are — a ``tool.started`` from a run says the call's
``isolation`` (``"command"`` for a ``CommandTool``), its ``effect`` and whether it is
``destructive``, and file tools take a ``path``. A harness records none of that: Claude
Code's hooks report ``Bash`` with a ``command``, ``Edit`` with a ``file_path``. So that the
patterns (``bash_retry``, ``bash_error_streak``, ``blind_edit``) judge those calls as they
judge Soma's, the engine reads a call through the harness's shape when the call says nothing
of its own isolation (``isolation`` absent or null — a run always sets it, so a native call
is never reinterpreted, whatever its tool is called):

=============================  ===========  ========================  =======================
tool                           kind         path argument             identity (repeats)
=============================  ===========  ========================  =======================
``Bash``                       command      —                         ``command``
``Read``                       read         ``file_path``             every argument
``Edit`` ``Write``             write        ``file_path``             every argument
``MultiEdit``                  write        ``file_path``             every argument
``NotebookEdit``               write        ``notebook_path``         every argument
``Grep``                       read         ``path`` (when given)     every argument
``Glob``                       —            —                         every argument
=============================  ===========  ========================  =======================

A ``Bash`` call is identified by its command alone: Claude Code adds a ``description`` (and
sometimes a ``timeout``) that it words afresh on a retry of the very same command, and a
retried command is what ``bash_retry`` is about. The words a call contributes to the drift
signal are unchanged (every argument value), so only the patterns read these shapes.
"""

from __future__ import annotations

from typing import Any, Final, NamedTuple


class Shape(NamedTuple):
    command: bool
    """A shell command (a command tool, for the patterns)."""
    access: str | None
    """``"read"``, ``"write"`` or None."""
    path_arg: str | None
    """The argument naming the file the call reads or writes."""
    identity: tuple[str, ...] | None
    """The arguments that identify the call for repeat detection (None: all of them)."""


SHAPES: Final[dict[str, Shape]] = {
    "Bash": Shape(True, None, None, ("command",)),
    "Read": Shape(False, "read", "file_path", None),
    "Edit": Shape(False, "write", "file_path", None),
    "Write": Shape(False, "write", "file_path", None),
    "MultiEdit": Shape(False, "write", "file_path", None),
    "NotebookEdit": Shape(False, "write", "notebook_path", None),
    "Grep": Shape(False, "read", "path", None),
    "Glob": Shape(False, None, None, None),
}


def harness_shape(tool: str, payload: Any) -> Shape | None:
    """The shape to read a call of ``tool`` through, or None for a call that declares its
    own isolation (every native call) or of a tool no harness shape describes."""
    if payload.get("isolation") is not None:
        return None
    return SHAPES.get(tool)


def identity_args(shape: Shape, args: dict[str, Any]) -> dict[str, Any]:
    """The arguments that identify a call of this shape (see the module docstring)."""
    if shape.identity is None:
        return args
    return {name: args[name] for name in shape.identity if name in args}
