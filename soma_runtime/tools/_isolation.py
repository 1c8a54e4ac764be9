"""The executors behind :meth:`ToolSpec.invoke`: one invocation under one isolation.

``task`` and ``thread`` are thin. ``process`` and ``command`` share one supervisor for an OS
child process, whose rules are the point of this module:

* The child runs in its own session and process group (``start_new_session``), so a stop
  signal reaches everything it started, and the terminal's Ctrl-C does not hit it directly:
  its parent decides when it dies.
* Stopping (the caller was cancelled or timed out) is SIGTERM to the group, up to ``grace``
  seconds for the leader to exit, then SIGKILL to the group, then reaping. The grace wait is
  shielded from the anyio cancellation that started the stop (it is level-triggered and
  would otherwise cut the wait short); a *second* native cancellation — the kernel's
  ``kill`` after a ``stop`` — does interrupt it, and the stop goes straight to SIGKILL.
* Reaping always happens: ``invoke`` returns or raises only after the child's exit has been
  collected, so its pid no longer exists (no zombie) by then.
* After a normal exit, stragglers left in the group are killed too (they would otherwise
  hold the output pipes open): an invocation owns every process it started.

A process that moves itself to another session (``setsid``) escapes the group; Soma cannot
track it, but stops waiting for the pipes it holds after ``_DRAIN_TIMEOUT``. Process groups
and signals make this POSIX-only (Linux, macOS).
"""

from __future__ import annotations

import contextlib
import inspect
import json
import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import anyio.to_thread
from pydantic_core import PydanticSerializationError, to_jsonable_python

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

Log = logging.LoggerAdapter[logging.Logger]

#: Bytes of a child's stderr kept for error messages (the end is where the error is).
STDERR_TAIL = 4096
#: Cap on the JSON result a ``process`` tool sends back.
RESULT_LIMIT = 32 * 1024 * 1024
# After the leader exits, how long its pipes may take to reach EOF before Soma stops reading.
_DRAIN_TIMEOUT = 2.0

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
    process = await _open([sys.executable, "-c", _BOOTSTRAP, _PACKAGE_PARENT], stdin=True, cwd=None, env=None)
    outcome = await _supervise(
        process,
        stdin_data=json.dumps(request).encode(),
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
        process = await _open(argv, stdin=False, cwd=cwd, env=env)
    except OSError as exc:
        raise _spawn_error(tool, program, cwd, exc) from exc
    outcome = await _supervise(
        process, stdin_data=None, max_stdout=max_output, grace=grace, log=log, on_spawn=on_spawn
    )
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


# --------------------------------------------------------------------------- OS child processes


@dataclass(frozen=True, slots=True)
class _Outcome:
    returncode: int
    stdout: bytes
    stderr: str  # the tail
    overflow: bool  # stdout went past the cap and the process was killed


async def _open(
    argv: Sequence[str], *, stdin: bool, cwd: Path | None, env: Mapping[str, str] | None
) -> anyio.abc.Process:
    # Shielded: cancelled mid-spawn, asyncio would SIGKILL the new leader alone and leave
    # whatever it had already started running. Spawning takes milliseconds; a cancellation
    # pending meanwhile lands at the next await, in _supervise, which stops the whole group.
    with anyio.CancelScope(shield=True):
        process = await anyio.open_process(
            list(argv),
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=cwd,
            env=env,
            start_new_session=True,
        )
    return process


async def _supervise(
    process: anyio.abc.Process,
    *,
    stdin_data: bytes | None,
    max_stdout: int,
    grace: float,
    log: Log,
    on_spawn: Callable[[int], object] | None,
) -> _Outcome:
    """Feed, drain and wait for ``process``; stop it if anything interrupts that."""
    capture = _Capture(process, max_stdout, log)
    try:
        if on_spawn is not None:
            on_spawn(process.pid)
        async with anyio.create_task_group() as tg:
            if stdin_data is not None:
                tg.start_soon(capture.feed, stdin_data)
            tg.start_soon(capture.read_stdout)
            tg.start_soon(capture.read_stderr)
            await process.wait()
            # The leader is gone; what it left in its group goes too, so the pipes reach
            # EOF. (Its pid was just reaped; with sequential pid allocation, the group id
            # cannot name a new group this soon.)
            _signal_group(process.pid, signal.SIGKILL)
            tg.cancel_scope.deadline = anyio.current_time() + _DRAIN_TIMEOUT
    except BaseException:
        await _terminate(process, grace, log)
        raise
    finally:
        with anyio.CancelScope(shield=True):
            await process.aclose()  # closes the pipes; the process is already reaped
    returncode = process.returncode
    assert returncode is not None
    return _Outcome(returncode, bytes(capture.stdout), capture.stderr_text(), capture.overflow)


async def _terminate(process: anyio.abc.Process, grace: float, log: Log) -> None:
    """SIGTERM the group, wait up to ``grace``, SIGKILL the group, reap.

    Cancelled again while waiting (a native cancellation gets through the shield): the
    ``finally`` sends SIGKILL at once and still reaps before the cancellation propagates.
    The cancellation of an enclosing anyio scope does not get through; it waits for the
    grace at most, which is why the grace is short.
    """
    try:
        if process.returncode is None:
            log.debug("stopping tool process group %d: SIGTERM, SIGKILL after %gs", process.pid, grace)
            _signal_group(process.pid, signal.SIGTERM)
            with anyio.CancelScope(shield=True), anyio.move_on_after(grace):
                await process.wait()
    finally:
        _signal_group(process.pid, signal.SIGKILL)
        await _reap(process)


async def _reap(process: anyio.abc.Process) -> None:
    """Wait for the (SIGKILLed) process's exit to be collected, whatever cancels us."""
    interrupted: BaseException | None = None
    while True:
        try:
            with anyio.CancelScope(shield=True):
                await process.wait()
            break
        except anyio.get_cancelled_exc_class() as exc:
            # The kill is sent and the exit is imminent: finish reaping, then propagate.
            interrupted = exc
    if interrupted is not None:
        raise interrupted


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    # ESRCH: the group is empty already (macOS answers EPERM when only zombies are left).
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


class _Capture:
    """The three pipes of one child: stdin fed once, stdout kept up to a cap, stderr's tail."""

    def __init__(self, process: anyio.abc.Process, max_stdout: int, log: Log) -> None:
        self.process = process
        self.max_stdout = max_stdout
        self.log = log
        self.stdout = bytearray()
        self.stderr = bytearray()
        self.overflow = False

    async def feed(self, data: bytes) -> None:
        stream = self.process.stdin
        assert stream is not None
        try:
            await stream.send(data)
            await stream.aclose()  # EOF: the request is complete
        except (OSError, anyio.BrokenResourceError, anyio.ClosedResourceError):
            pass  # the child exited without reading its input; its exit status says why

    async def read_stdout(self) -> None:
        stream = self.process.stdout
        assert stream is not None
        async for chunk in stream:
            if len(self.stdout) + len(chunk) > self.max_stdout:
                self.overflow = True
                # Past the cap the output is refused anyway: no reason to let it run.
                _signal_group(self.process.pid, signal.SIGKILL)
                return
            self.stdout += chunk

    async def read_stderr(self) -> None:
        stream = self.process.stderr
        assert stream is not None
        debug = self.log.isEnabledFor(logging.DEBUG)
        async for chunk in stream:
            self.stderr += chunk
            del self.stderr[:-STDERR_TAIL]
            if debug:  # a process tool's prints land here: visible when the app wants them
                text = chunk.decode(errors="replace").rstrip()
                self.log.debug("stderr of pid %d: %s", self.process.pid, text)

    def stderr_text(self) -> str:
        return self.stderr.decode("utf-8", errors="replace")
