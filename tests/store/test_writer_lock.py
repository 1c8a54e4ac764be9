"""One writer per database (docs/design.md §5c): a second writer is refused promptly with
``StoreLocked`` naming the holder's pid — after waiting out a hook's few milliseconds;
readers work beside the writer; the lock dies with
its holder, SIGKILL included, and a clean close leaves no lock file behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import anyio
import pytest

from soma_runtime import Runtime, open_event_log
from soma_runtime.kernel import Node
from soma_runtime.store import StoreLocked, StoreOpenError, WriterLock

pytestmark = pytest.mark.anyio

CHILD = Path(__file__).with_name("_writer_child.py")


def writer(db: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, str(CHILD), str(db)], stdout=subprocess.PIPE, text=True)


def first_line(proc: subprocess.Popen[str]) -> list[str]:
    assert proc.stdout is not None
    return proc.stdout.readline().split()


async def test_a_second_writer_in_another_process_is_refused_at_once_naming_the_holder(
    tmp_path: Path,
) -> None:
    db = tmp_path / "soma.db"
    holder = writer(db)
    try:
        opened = first_line(holder)
        assert opened == ["OPEN", str(holder.pid)]
        second = writer(db)
        locked = first_line(second)
        assert second.wait(timeout=30) == 3
        assert locked[:2] == ["LOCKED", str(holder.pid)]
        assert float(locked[2]) < 1.0, "refused at once, not after a busy timeout"
        # Readers are never refused: they read beside the writer.
        async with open_event_log(db, readonly=True) as log:
            assert [e.type for e in await log.query()] == []
            assert await log.last_seq() == 0
        # The lock dies with its holder, even killed outright: the next writer opens.
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(timeout=10)
        successor = writer(db)
        try:
            assert first_line(successor) == ["OPEN", str(successor.pid)]
        finally:
            successor.kill()
            successor.wait()
    finally:
        holder.kill()
        holder.wait()


async def test_a_runtime_opening_while_a_hook_writes_waits_for_the_hook_and_opens(tmp_path: Path) -> None:
    """A ``soma hook`` writing straight into the file holds the same lock for one transaction;
    a runtime starting in that moment waits it out instead of taking it for another runtime."""
    from soma_actor.integrations._lock import WriteLock

    db = tmp_path / "soma.db"
    hook = WriteLock.acquire(str(db), wait=0)
    opened = anyio.Event()

    async def open_runtime() -> None:
        async with Runtime.open(db=db, vitals=False):
            opened.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(open_runtime)
        await anyio.sleep(0.05)  # the hook's transaction, its length the test's choice
        assert not opened.is_set()
        hook.release()
    assert opened.is_set()


async def test_a_second_writer_in_the_same_process_is_refused_too(tmp_path: Path) -> None:
    db = tmp_path / "soma.db"
    async with Runtime.open(db=db, vitals=False):
        assert (tmp_path / "soma.db-lock").read_text().strip() == str(os.getpid())
        with pytest.raises(StoreLocked, match=f"this process \\(pid {os.getpid()}\\)") as info:
            async with Node.open(), Runtime.open(db=db, vitals=False):  # a runtime of its own
                pass
        assert isinstance(info.value, StoreOpenError) and info.value.pid == os.getpid()
        with pytest.raises(StoreLocked):
            async with open_event_log(db):  # a bare store is a writer too
                pass
    assert not (tmp_path / "soma.db-lock").exists(), "a clean close leaves nothing behind"
    async with Runtime.open(db=db, vitals=False):  # and the next writer opens
        pass


def test_the_lock_file_replaced_under_a_waiting_writer_is_locked_afresh(tmp_path: Path) -> None:
    db = str(tmp_path / "soma.db")
    first = WriterLock.acquire(db)
    first.release()
    second = WriterLock.acquire(db)  # a new file: the old one was removed on release
    try:
        with pytest.raises(StoreLocked):
            WriterLock.acquire(db)
        assert os.stat(second.path).st_mode & 0o777 == 0o600
    finally:
        second.release()
    assert not Path(second.path).exists()
