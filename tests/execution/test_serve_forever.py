"""Running until a signal: ``await rt.serve_forever()`` in an embedding program, and
``soma serve`` — SIGINT (Ctrl-C) or SIGTERM stops the runtime in order, every live run
records its end, and no traceback is printed."""

from __future__ import annotations

import contextlib
import signal
import sys
from pathlib import Path

import anyio
import pytest
from anyio.abc import Process

from soma_runtime import Runtime, Step, open_event_log
from soma_runtime.execution.run_records import TERMINAL_EVENTS
from soma_runtime.store import StoreError
from soma_runtime.store.events import Event

pytestmark = pytest.mark.anyio

CHILD = Path(__file__).with_name("_serve_child.py")
SOMA = [sys.executable, "-m", "soma_actor.cli"]


async def logged(db: Path) -> list[Event]:
    async with open_event_log(db, readonly=True) as log:
        return await log.query()


async def until_logged(db: Path, event_type: str) -> Event:
    """The first ``event_type`` event, once the runtime in another process has written it."""
    with anyio.fail_after(30):
        while True:
            with contextlib.suppress(StoreError):  # not there yet, or still being created
                found = [e for e in await logged(db) if e.type == event_type]
                if found:
                    return found[0]
            await anyio.sleep(0.02)  # another process writes it: there is no event to await


async def finish(proc: Process) -> tuple[str, str]:
    assert proc.stdout is not None and proc.stderr is not None
    with anyio.fail_after(30):
        out = b"".join([chunk async for chunk in proc.stdout])
        err = b"".join([chunk async for chunk in proc.stderr])
        await proc.wait()
    return out.decode(), err.decode()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
async def test_serve_forever_ends_on_a_signal_and_the_runtime_stops_in_order(
    tmp_path: Path, sig: int
) -> None:
    db = tmp_path / "soma.db"
    async with await anyio.open_process([sys.executable, str(CHILD), str(db)]) as child:
        run_id = (await until_logged(db, "tool.started")).run_id
        child.send_signal(sig)
        out, err = await finish(child)
    assert child.returncode == 0, err
    assert out == f"SERVING\nSIGNAL {int(sig)}\n"
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    events = await logged(db)
    [end] = [e for e in events if e.run_id == run_id and e.type in TERMINAL_EVENTS]
    assert end.type == "run.cancelled" and end.payload["reason"] == "shutdown"
    assert events[-1].type == "session.stopped"


async def test_serve_forever_returns_0_when_the_tree_stops_by_itself(tmp_path: Path) -> None:
    async with Runtime.open(db=tmp_path / "soma.db", vitals=False) as rt:
        async with anyio.create_task_group() as tg:
            returned: list[int] = []

            async def serve() -> None:
                returned.append(await rt.serve_forever())

            tg.start_soon(serve)
            await anyio.wait_all_tasks_blocked()
            await rt.node.stop(rt.root)
        assert returned == [0]


@pytest.mark.parametrize("on_shutdown", ["cancel", "suspend"])
async def test_soma_serve_resumes_at_start_and_records_every_end_on_sigterm(
    tmp_path: Path, on_shutdown: str
) -> None:
    db, sock = tmp_path / "soma.db", tmp_path / "soma.sock"
    async with Runtime.open(db=db, vitals=False, on_shutdown="suspend") as rt:
        run = await (await rt.start_session("a")).start_run([Step("s1", "sleep", {"seconds": 60})])
        await anyio.wait_all_tasks_blocked()
    command = [*SOMA, "serve", "--db", str(db), "--control", str(sock), "--on-shutdown", on_shutdown]
    async with await anyio.open_process(command) as server:
        await until_logged(db, "run.resumed")
        server.send_signal(signal.SIGTERM)
        _, err = await finish(server)
    assert server.returncode == 0, err
    types = [e.type for e in await logged(db) if e.run_id == run.run_id]
    if on_shutdown == "cancel":
        assert types[-1] == "run.cancelled"
    else:  # a deploy: suspended again, for the next start
        assert types[-1] == "run.suspended" and not set(types) & set(TERMINAL_EVENTS)
        async with Runtime.open(db=db, vitals=False) as rt:
            assert rt.recovery.resumed == [run.run_id]
