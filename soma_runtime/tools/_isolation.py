"""The executors behind :meth:`ToolSpec.invoke`: one invocation under one isolation.

``task`` and ``thread`` are thin. ``process`` and ``command`` run an OS child process under
the rules of ``_child`` (own process group, dies with the runtime, SIGTERM then SIGKILL on a
stop, always reaped).
"""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import sys
import threading
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import anyio.to_thread
from pydantic_core import PydanticSerializationError, to_jsonable_python

from ._child import Log, run_child
from .errors import (
    CommandFailed,
    CommandNotFound,
    ToolAbandoned,
    ToolCrashed,
    ToolDefinitionError,
    ToolError,
    ToolFailed,
    ToolLoadError,
    ToolOutputNotSerializable,
    ToolOutputTooLarge,
)

#: Cap on the JSON result a ``process`` tool sends back.
RESULT_LIMIT = 32 * 1024 * 1024

# --------------------------------------------------------------------------- outputs

_JSON_SCALARS = frozenset({str, int, float, bool, type(None)})


def to_json_value(tool: str, value: Any) -> Any:
    """``value`` as plain JSON data (dicts, lists, str, numbers, bools, None).

    Outputs go into events and into later steps' arguments; converting here (models,
    dataclasses, tuples, datetimes…) makes the in-memory output equal to what a replay reads
    back. Anything pydantic cannot encode fails the call with a clear error.
    """
    if type(value) in _JSON_SCALARS:  # the common case, without a conversion pass
        return value
    try:
        return to_jsonable_python(value)
    except (PydanticSerializationError, ValueError, TypeError, RecursionError) as exc:
        raise ToolOutputNotSerializable(tool, str(exc)) from None


def failure(tool: str, exc: BaseException) -> ToolFailed:
    """The ``ToolFailed`` reporting that a tool raised ``exc``."""
    kind = type(exc).__qualname__
    text = str(exc)
    return ToolFailed(tool, f"{kind}: {text}" if text else kind, error_type=kind)


# --------------------------------------------------------------------------- task and thread


async def run_in_task(tool: str, fn: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
    """Run in the caller's task. Cancellation reaches the tool at its next ``await``."""
    try:
        result = fn(**kwargs)
        if inspect.isawaitable(result):
            result = await result
    except ToolError:
        raise  # already typed and named (a built-in's refusal, a nested tool's failure)
    except Exception as exc:
        raise failure(tool, exc) from exc
    return result


async def run_in_thread(
    tool: str,
    fn: Callable[..., Any],
    kwargs: dict[str, Any],
    log: Log,
    on_abandon: Callable[[BaseException], object] | None,
) -> Any:
    """Run in a worker thread; on cancel the thread is abandoned (threads cannot be killed)."""
    running = threading.Event()

    def call() -> Any:
        running.set()
        try:
            return fn(**kwargs)
        finally:
            running.clear()

    try:
        return await anyio.to_thread.run_sync(call, abandon_on_cancel=True)
    except anyio.get_cancelled_exc_class():
        # Only a call that had started and not finished is left behind in its thread.
        if running.is_set():
            abandoned = ToolAbandoned(tool)
            log.warning("%s", abandoned)
            if on_abandon is not None:
                on_abandon(abandoned)
        raise
    except ToolError:
        raise
    except Exception as exc:
        raise failure(tool, exc) from exc


# --------------------------------------------------------------------------- process


@dataclass(frozen=True, slots=True)
class FunctionRef:
    """Where a child process finds a tool's function: import ``module``, walk ``qualname``.

    ``file`` is the module's source file; the child imports it by path when the module is
    the parent's ``__main__`` (a script) or is not importable by name.
    """

    module: str
    qualname: str
    file: str | None


def function_ref(tool: str, fn: Callable[..., Any]) -> FunctionRef:
    """The :class:`FunctionRef` of ``fn``, or a ToolDefinitionError if a child cannot find it."""
    module = getattr(fn, "__module__", None)
    qualname = getattr(fn, "__qualname__", None)
    if not isinstance(module, str) or not isinstance(qualname, str):
        raise ToolDefinitionError(tool, "isolation", "'process' needs a plain function (module + name)")
    if "<" in qualname:  # <locals>, <lambda>: nothing a fresh interpreter can import
        raise ToolDefinitionError(
            tool, "isolation", f"'process' needs a module-level function; {qualname!r} is not one"
        )
    file = getattr(sys.modules.get(module), "__file__", None)
    if module == "__main__" and not file:
        raise ToolDefinitionError(
            tool, "isolation", "'process' cannot run a function defined in an interactive session"
        )
    return FunctionRef(module, qualname, file if isinstance(file, str) else None)


# The worker is started by code rather than `-m`, so it is found even when Soma is on the
# parent's sys.path without being installed; the worker then adopts the parent's sys.path.
_BOOTSTRAP = (
    "import sys; sys.path.insert(0, sys.argv[1]); from soma_runtime.tools._worker import main; main()"
)
_PACKAGE_PARENT = str(Path(__file__).resolve().parents[2])  # the folder soma_runtime/ is in


async def run_in_process(
    tool: str,
    origin: FunctionRef,
    args: Mapping[str, Any],
    context: Mapping[str, Any],
    log: Log,
    *,
    grace: float,
    on_spawn: Callable[[int], object] | None,
) -> Any:
    """Run the function in a fresh Python child process.

    Transport: the request (function reference, the parent's ``sys.path``, JSON arguments
    and context) goes on the child's stdin; the child moves its own stdout to stderr — so
    the tool's prints cannot corrupt anything — and writes one JSON reply on the original
    stdout. Arguments and results therefore cross as JSON only.
    """
    request = {
        "tool": tool,
        "module": origin.module,
        "qualname": origin.qualname,
        "file": origin.file,
        "sys_path": [entry for entry in sys.path if isinstance(entry, str)],
        "parent_pid": os.getpid(),
        "args": dict(args),
        "context": dict(context),
    }
    outcome = await run_child(
        [sys.executable, "-c", _BOOTSTRAP, _PACKAGE_PARENT],
        stdin_data=json.dumps(request).encode(),
        cwd=None,
        env=None,
        max_stdout=RESULT_LIMIT,
        grace=grace,
        log=log,
        on_spawn=on_spawn,
    )
    if outcome.overflow:
        raise ToolOutputTooLarge(tool, RESULT_LIMIT, "result")
    reply = _decode_reply(outcome.stdout) if outcome.returncode == 0 else None
    if reply is None:
        raise ToolCrashed(tool, outcome.returncode, outcome.stderr)
    return reply_value(tool, reply)


def reply_value(tool: str, reply: Mapping[str, Any]) -> Any:
    """The value of a worker's reply (:func:`call_and_reply`), or the typed error it reports."""
    if reply.get("ok") is True:
        return reply.get("value")
    message = str(reply.get("message", ""))
    kind = reply.get("kind")
    if kind == "load":
        raise ToolLoadError(tool, message)
    if kind == "output":
        raise ToolOutputNotSerializable(tool, message)
    error_type = str(reply.get("type") or "Exception")
    error = (
        ToolFailed(tool, message)  # the tool's own typed failure keeps its message as is
        if reply.get("tool_failed")
        else ToolFailed(tool, f"{error_type}: {message}" if message else error_type, error_type=error_type)
    )
    if reply.get("traceback"):
        error.add_note(f"traceback in the tool's worker process:\n{reply['traceback']}")
    raise error


def call_and_reply(tool: str, fn: Callable[..., Any], kwargs: dict[str, Any]) -> dict[str, Any]:
    """The worker side of :func:`reply_value`: call the tool function once, in a worker
    (``_worker`` for ``process``, ``_ray_worker`` for ``ray``), and say how it went as plain
    data — so that the runtime never has to unpickle a tool's exception."""
    try:
        result = fn(**kwargs)
        if inspect.iscoroutine(result):
            result = asyncio.run(result)
    except BaseException as exc:  # SystemExit too: the tool failed, the worker reports it
        return {
            "ok": False,
            "kind": "error",
            "type": type(exc).__qualname__,
            "message": exc.message if isinstance(exc, ToolFailed) else str(exc),
            "tool_failed": isinstance(exc, ToolFailed),
            "traceback": traceback.format_exc(limit=-20),
        }
    try:
        return {"ok": True, "value": to_json_value(tool, result)}
    except ToolOutputNotSerializable as exc:
        return {"ok": False, "kind": "output", "message": exc.problem}


def _decode_reply(data: bytes) -> dict[str, Any] | None:
    try:
        reply = json.loads(data)
    except ValueError:
        return None
    return reply if isinstance(reply, dict) and "ok" in reply else None


# --------------------------------------------------------------------------- command


async def run_command(
    tool: str,
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str] | None,
    max_output: int,
    grace: float,
    log: Log,
    on_spawn: Callable[[int], object] | None,
) -> str:
    """Run ``argv`` (no shell) and return its stdout text; see ``CommandTool``."""
    program = argv[0]
    try:
        outcome = await run_child(
            argv,
            stdin_data=None,
            cwd=cwd,
            env=env,
            max_stdout=max_output,
            grace=grace,
            log=log,
            on_spawn=on_spawn,
        )
    except OSError as exc:
        raise _spawn_error(tool, program, cwd, exc) from exc
    if outcome.overflow:
        raise ToolOutputTooLarge(tool, max_output)
    if outcome.returncode != 0:
        raise CommandFailed(tool, program, outcome.returncode, outcome.stderr)
    return outcome.stdout.decode("utf-8", errors="replace")


def _spawn_error(tool: str, program: str, cwd: Path, exc: OSError) -> ToolError:
    # subprocess reports a failed chdir with the directory as the filename, a failed exec
    # with the program: only the latter means the program is at fault.
    if exc.filename is not None and str(exc.filename) == str(cwd):
        return ToolFailed(tool, f"cannot use working directory {str(cwd)!r}: {exc.strerror or exc}")
    if isinstance(exc, FileNotFoundError):
        where = "" if os.sep in program else " on PATH"
        return CommandNotFound(tool, program, f"was not found{where}")
    if isinstance(exc, PermissionError):
        return CommandNotFound(tool, program, "is not executable (permission denied)")
    return CommandNotFound(tool, program, f"cannot be executed: {exc.strerror or exc}")
