"""Typed errors of the tools layer.

Every error names the tool (``tool``, ``None`` only when no tool is known yet) and says what
was wrong in its message, which is what ends up in ``tool.failed`` / ``step.failed`` events:
a run's failure reason is ``str(error)``, so the message must stand on its own.
"""

from __future__ import annotations

import difflib
import signal
from collections.abc import Iterable, Sequence
from typing import NamedTuple


class ToolError(Exception):
    """Base class of every error the tools layer raises."""

    def __init__(self, message: str, tool: str | None = None) -> None:
        super().__init__(message)
        self.tool = tool


# --------------------------------------------------------------------------- definition


class ToolDefinitionError(ToolError, ValueError):
    """A tool was defined wrongly (``@tool`` options, ``CommandTool`` argv, a signature).

    ``parameter`` names the offending option or function parameter.
    """

    def __init__(self, tool: str | None, parameter: str, problem: str) -> None:
        where = f"tool {tool!r}" if tool else "tool definition"
        super().__init__(f"{where}: invalid {parameter}: {problem}", tool)
        self.parameter = parameter
        self.problem = problem


class UnknownTool(ToolError, LookupError):
    """No tool is registered under ``name``."""

    def __init__(self, name: str, known: Iterable[str] = ()) -> None:
        known = sorted(known)
        message = f"unknown tool {name!r}"
        close = difflib.get_close_matches(name, known, n=1)
        if close:
            message += f" (did you mean {close[0]!r}?)"
        elif known:
            shown = ", ".join(known[:20]) + (", …" if len(known) > 20 else "")
            message += f" (known tools: {shown})"
        super().__init__(message, name)
        self.name = name


# --------------------------------------------------------------------------- arguments


class ArgumentProblem(NamedTuple):
    """One invalid argument: ``field`` is a dotted path (``"query"``, ``"filters.0.name"``)."""

    field: str
    message: str


class ToolArgumentsError(ToolError, ValueError):
    """The arguments failed validation; the tool was not called.

    ``problems`` lists every bad field. Input values are deliberately left out of the
    message: they may be large, or secrets, and the message goes into events.
    """

    def __init__(self, tool: str, problems: Sequence[ArgumentProblem]) -> None:
        detail = "; ".join(f"{p.field}: {p.message}" for p in problems) or "invalid arguments"
        super().__init__(f"invalid arguments for tool {tool!r}: {detail}", tool)
        self.problems = tuple(problems)

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(p.field for p in self.problems)


# --------------------------------------------------------------------------- execution


class ToolFailed(ToolError):
    """The tool ran and failed: it raised, or its command exited non-zero.

    ``message`` is the failure without the tool-name prefix; ``error_type`` is the name of
    the exception the tool raised, when there was one.
    """

    def __init__(self, tool: str, message: str, *, error_type: str | None = None) -> None:
        super().__init__(f"tool {tool!r} failed: {message}", tool)
        self.message = message
        self.error_type = error_type


def describe_exit(returncode: int) -> str:
    """``exited with code 2`` / ``was killed by signal SIGKILL``."""
    if returncode >= 0:
        return f"exited with code {returncode}"
    try:
        name = signal.Signals(-returncode).name
    except ValueError:
        name = f"signal {-returncode}"
    return f"was killed by signal {name}"


def _with_stderr(message: str, stderr_tail: str) -> str:
    tail = stderr_tail.strip()
    return f"{message}; stderr: {tail}" if tail else message


class CommandFailed(ToolFailed):
    """A ``CommandTool``'s program exited non-zero (or was killed by a signal it did not
    receive from Soma). ``stderr_tail`` is the end of what it wrote to stderr."""

    def __init__(self, tool: str, program: str, returncode: int, stderr_tail: str) -> None:
        super().__init__(tool, _with_stderr(f"command {program!r} {describe_exit(returncode)}", stderr_tail))
        self.program = program
        self.returncode = returncode
        self.stderr_tail = stderr_tail


class ToolCrashed(ToolFailed):
    """The child process of a ``process`` tool died without sending a result (a segfault,
    ``os._exit``, the OOM killer…)."""

    def __init__(self, tool: str, returncode: int, stderr_tail: str) -> None:
        message = f"its worker process {describe_exit(returncode)} without returning a result"
        super().__init__(tool, _with_stderr(message, stderr_tail))
        self.returncode = returncode
        self.stderr_tail = stderr_tail


class ToolLoadError(ToolError):
    """The child process of a ``process`` tool could not import the tool's function."""

    def __init__(self, tool: str, problem: str) -> None:
        super().__init__(f"tool {tool!r} could not be loaded in its worker process: {problem}", tool)
        self.problem = problem


class ToolOutputTooLarge(ToolError):
    """The output exceeded the cap; for a command the OS process was killed at the cap."""

    def __init__(self, tool: str, limit: int, what: str = "output") -> None:
        super().__init__(f"tool {tool!r} produced more than {limit} bytes of {what} (the cap)", tool)
        self.limit = limit


class ToolOutputNotSerializable(ToolError, TypeError):
    """The tool returned something that cannot be JSON-encoded (outputs go into events)."""

    def __init__(self, tool: str, problem: str) -> None:
        super().__init__(f"tool {tool!r} returned a value that is not JSON-serialisable: {problem}", tool)
        self.problem = problem


class CommandNotFound(ToolError):
    """A ``CommandTool``'s program is missing, not executable, or not a program at all."""

    def __init__(self, tool: str, program: str, reason: str) -> None:
        super().__init__(f"tool {tool!r}: program {program!r} {reason}", tool)
        self.program = program
        self.reason = reason


class ToolAbandoned(ToolError):
    """A ``thread`` tool was cancelled (or timed out) while its function was running.

    Python threads cannot be killed: the worker thread was abandoned and keeps running
    until the function returns on its own; its result, if any, is discarded. A tool that
    must really stop on cancel needs ``isolation="process"``.
    """

    def __init__(self, tool: str) -> None:
        super().__init__(
            f"tool {tool!r} was cancelled while running in a worker thread; Python threads cannot "
            "be killed, so the thread was abandoned and keeps running until the function returns "
            "(its result will be discarded)",
            tool,
        )


class PathOutsideRoot(ToolError):
    """A file tool was given a path that resolves outside its confinement root."""

    def __init__(self, tool: str, path: str, root: str) -> None:
        super().__init__(f"tool {tool!r}: path {path!r} is outside the tool root {root!r}", tool)
        self.path = path
        self.root = root


# --------------------------------------------------------------------------- ray


class RayUnavailable(ToolError):
    """A ``ray`` tool was called where there is no Ray to run it: the ``ray`` extra is not
    installed, or this process is not connected to a Ray cluster (``Runtime.open(ray=...)``)."""

    def __init__(self, tool: str | None, problem: str) -> None:
        where = f"tool {tool!r}" if tool else "Ray"
        super().__init__(f"{where}: {problem}", tool)
        self.problem = problem


class RayTaskLost(ToolFailed):
    """The Ray task of a ``ray`` tool ended without returning a result: its worker process
    died (a crash, ``os._exit``, the out-of-memory killer), its node died, or Ray could not
    run it. ``ray_error`` is the name of the error Ray reported (``WorkerCrashedError``…)."""

    def __init__(self, tool: str, ray_error: str, detail: str) -> None:
        first = detail.strip().splitlines()[0] if detail.strip() else ""
        message = f"its Ray task ended without returning a result ({ray_error})"
        super().__init__(tool, f"{message}: {first}" if first else message, error_type=ray_error)
        self.ray_error = ray_error
        self.detail = detail
