"""What the store's process tests share: the writer process of a store, whether an OS
process is alive, waiting on state no event announces, a process holding SQLite's lock."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import anyio

from soma_runtime.kernel import Pid
from soma_runtime.store._writer_process import WriterProcess


async def until(condition: Callable[[], bool], what: str) -> None:
    """Poll a real condition (state held by a SQLite thread or the file: no event to await)
    until it is seen once: some come and go (a busy handler sleeps, wakes to retry, sleeps
    again), so it is not asked a second time."""
    with anyio.move_on_after(10):
        while not condition():  # noqa: ASYNC110
            await anyio.sleep(0.001)
        return
    raise AssertionError(what)


def writer_of(pid: Pid) -> WriterProcess:
    writer = pid.process.behaviour._log._writer  # type: ignore[union-attr]
    assert isinstance(writer, WriterProcess)
    return writer


def process_alive(os_pid: int) -> bool:
    """Whether the OS process ``os_pid`` still exists (a zombie counts as gone)."""
    try:
        with open(f"/proc/{os_pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


HOLDER = Path(__file__).with_name("_lock_holder.py")


@contextmanager
def lock_holder(db: Path, seq: int) -> Iterator[subprocess.Popen[str]]:
    """A child process holding the write lock inside an uncommitted batch, until killed."""
    child = subprocess.Popen(
        [sys.executable, str(HOLDER), str(db), str(seq)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline() == "locked\n", child.stderr.read() if child.stderr else ""
        yield child
    finally:
        if child.poll() is None:
            child.kill()
        child.communicate()
