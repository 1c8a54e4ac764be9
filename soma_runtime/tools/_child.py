"""The OS child process behind a ``process`` or ``command`` tool: started, fed, drained and
stopped by the rules that are the point of those isolations.

* The child runs in its own session and process group (``start_new_session``), so a stop
  signal reaches everything it started, and the terminal's Ctrl-C does not hit it directly:
  its parent decides when it dies.
* It dies with the runtime, also when the runtime is SIGKILLed and nothing of ours runs
  (Linux): between fork and exec it asks the kernel for SIGKILL when its parent dies
  (``PR_SET_PDEATHSIG``). The kernel means the parent *thread*: asyncio forks on the event
  loop's thread, which lives as long as the runtime does. A child whose parent died before
  it could ask exits at once instead. What the child starts itself is not covered (the
  setting is not inherited); the next runtime to open the database kills those (``_proc``).
* Stopping (the caller was cancelled or timed out) is SIGTERM to the group, up to ``grace``
  seconds for the leader to exit, then SIGKILL to the group, then reaping. The grace wait is
  shielded from the anyio cancellation that started the stop (it is level-triggered and
  would otherwise cut the wait short); a *second* native cancellation — the kernel's
  ``kill`` after a ``stop`` — does interrupt it, and the stop goes straight to SIGKILL.
* Reaping always happens: ``run_child`` returns or raises only after the child's exit has
  been collected, so its pid no longer exists (no zombie) by then.
* After a normal exit, stragglers left in the group are killed too (they would otherwise
  hold the output pipes open): an invocation owns every process it started.

A process that moves itself to another session (``setsid``) escapes the group; Soma cannot
track it, but stops waiting for the pipes it holds after ``_DRAIN_TIMEOUT``. Process groups
and signals make this POSIX-only (Linux, macOS).

The child is driven through asyncio's subprocess protocol (public API) rather than anyio's
``open_process``, which has no way to pass the pre-exec step.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import inspect
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import anyio

Log = logging.LoggerAdapter[logging.Logger]

#: Bytes of a child's stderr kept for error messages (the end is where the error is).
STDERR_TAIL: Final = 4096
# After the leader exits, how long its pipes may take to reach EOF before Soma stops reading.
_DRAIN_TIMEOUT: Final = 2.0
_PR_SET_PDEATHSIG: Final = 1
_SIGKILL: Final = int(signal.SIGKILL)
_ORPHANED_EXIT: Final = 128 + signal.SIGKILL  # as if the parent's death had killed it


@dataclass(frozen=True, slots=True)
class Outcome:
    returncode: int
    stdout: bytes
    stderr: str  # the tail
    overflow: bool  # stdout went past the cap and the process was killed


async def run_child(
    argv: Sequence[str],
    *,
    stdin_data: bytes | None,
    cwd: Path | None,
    env: Mapping[str, str] | None,
    max_stdout: int,
    grace: float,
    log: Log,
    on_spawn: Callable[[int], object] | None,
) -> Outcome:
    """Start ``argv``, feed it ``stdin_data``, collect its output and exit; stop it (see
    the module docstring) if anything interrupts that. ``OSError`` if it cannot start.

    ``on_spawn(pid)`` is called once the child exists; if it returns an awaitable, the
    child's input waits for it (a ``process`` tool's worker does nothing before its input)."""
    transport, pipes = await _spawn(argv, stdin_data is not None, cwd, env, max_stdout, log)
    pid = transport.get_pid()
    try:
        try:
            if on_spawn is not None:
                pending = on_spawn(pid)
                if inspect.isawaitable(pending):
                    await pending
            stdin = transport.get_pipe_transport(0)
            if stdin_data is not None and isinstance(stdin, asyncio.WriteTransport):
                stdin.write(stdin_data)
                stdin.close()  # EOF once written: the request is complete
            await pipes.exited.wait()
            # The leader is gone (and reaped); what it left in its group goes too, so the
            # pipes reach EOF. With sequential pid allocation, the group id cannot name a
            # new group this soon.
            signal_group(pid, signal.SIGKILL)
            with anyio.move_on_after(_DRAIN_TIMEOUT):
                await pipes.drained.wait()
        except BaseException:
            await _terminate(transport, pipes, grace, log)
            raise
    finally:
        transport.close()  # our ends of the pipes; the process is already reaped
    returncode = transport.get_returncode()
    assert returncode is not None
    return Outcome(returncode, bytes(pipes.stdout), pipes.stderr_text(), pipes.overflow)


def signal_group(pgid: int, sig: signal.Signals) -> None:
    # ESRCH: the group is empty already (macOS answers EPERM when only zombies are left).
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


async def _spawn(
    argv: Sequence[str],
    stdin: bool,
    cwd: Path | None,
    env: Mapping[str, str] | None,
    max_stdout: int,
    log: Log,
) -> tuple[asyncio.SubprocessTransport, _Pipes]:
    loop = asyncio.get_running_loop()
    # Shielded: cancelled mid-spawn, asyncio would SIGKILL the new leader alone and leave
    # whatever it had already started running. Spawning takes milliseconds; a cancellation
    # pending meanwhile lands at the next await, in run_child, which stops the whole group.
    with anyio.CancelScope(shield=True):
        spawned = await loop.subprocess_exec(
            lambda: _Pipes(max_stdout, log),
            *argv,
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=cwd,
            env=env,
            start_new_session=True,
            preexec_fn=_die_with_parent(),
        )
    return spawned


async def _terminate(transport: asyncio.SubprocessTransport, pipes: _Pipes, grace: float, log: Log) -> None:
    """SIGTERM the group, wait up to ``grace``, SIGKILL the group, reap.

    Cancelled again while waiting (a native cancellation gets through the shield): the
    ``finally`` sends SIGKILL at once and still reaps before the cancellation propagates.
    The cancellation of an enclosing anyio scope does not get through; it waits for the
    grace at most, which is why the grace is short.
    """
    pid = transport.get_pid()
    try:
        if transport.get_returncode() is None:
            log.debug("stopping tool process group %d: SIGTERM, SIGKILL after %gs", pid, grace)
            signal_group(pid, signal.SIGTERM)
            with anyio.CancelScope(shield=True), anyio.move_on_after(grace):
                await pipes.exited.wait()
    finally:
        signal_group(pid, signal.SIGKILL)
        await _reap(pipes)


async def _reap(pipes: _Pipes) -> None:
    """Wait for the (SIGKILLed) process's exit to be collected, whatever cancels us."""
    interrupted: BaseException | None = None
    while True:
        try:
            with anyio.CancelScope(shield=True):
                await pipes.exited.wait()
            break
        except anyio.get_cancelled_exc_class() as exc:
            # The kill is sent and the exit is imminent: finish reaping, then propagate.
            interrupted = exc
    if interrupted is not None:
        raise interrupted


class _Pipes(asyncio.SubprocessProtocol):
    """What the child writes, as it arrives (stdout up to a cap, stderr's tail), and its exit.

    asyncio calls ``process_exited`` once the child has been reaped.
    """

    def __init__(self, max_stdout: int, log: Log) -> None:
        self.max_stdout = max_stdout
        self.log = log
        self.debug = log.isEnabledFor(logging.DEBUG)
        self.stdout = bytearray()
        self.stderr = bytearray()
        self.overflow = False
        self.exited = asyncio.Event()
        self.drained = asyncio.Event()  # stdout and stderr reached EOF
        self.pid = 0
        self._open = {1, 2}

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.SubprocessTransport)
        self.pid = transport.get_pid()

    def pipe_data_received(self, fd: int, data: bytes) -> None:
        if fd == 1:
            if self.overflow:
                return
            if len(self.stdout) + len(data) > self.max_stdout:
                self.overflow = True
                # Past the cap the output is refused anyway: no reason to let it run.
                signal_group(self.pid, signal.SIGKILL)
                return
            self.stdout += data
        else:
            self.stderr += data
            del self.stderr[:-STDERR_TAIL]
            if self.debug:  # a process tool's prints land here: visible when the app wants them
                text = data.decode(errors="replace").rstrip()
                self.log.debug("stderr of pid %d: %s", self.pid, text)

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        self._open.discard(fd)
        if not self._open:
            self.drained.set()

    def process_exited(self) -> None:
        self.exited.set()

    def stderr_text(self) -> str:
        return self.stderr.decode("utf-8", errors="replace")


_prctl: Any = None


def _die_with_parent() -> Callable[[], None] | None:
    """The pre-exec step that makes the child die with this process (Linux; None elsewhere).

    It runs in the forked child, where only async-signal-safe work is wise: the function to
    call is looked up here, in the parent, and the child only calls it and reads its ppid.
    """
    global _prctl
    if not sys.platform.startswith("linux"):
        return None
    if _prctl is None:
        try:
            _prctl = ctypes.CDLL(None, use_errno=True).prctl
        except (OSError, AttributeError):
            return None
        _prctl.argtypes = (ctypes.c_int, ctypes.c_ulong)
        _prctl.restype = ctypes.c_int
    prctl = _prctl
    parent = os.getpid()

    def die_with_parent() -> None:
        prctl(_PR_SET_PDEATHSIG, _SIGKILL)
        if os.getppid() != parent:  # the parent died before we asked: nobody will stop us
            os._exit(_ORPHANED_EXIT)

    return die_with_parent
