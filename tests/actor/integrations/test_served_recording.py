"""Recording through a live runtime: the control ops ``soma serve`` registers (their answers
and their refusals), and ``soma hook --serve`` starting a ``soma serve`` for the database that
records the next hooks and stops by itself once idle."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import anyio
import pytest
from _hooks import bash, hook, pre, session_start

from soma_actor.integrations._control import ControlLedger, Refused, Unreachable, request
from soma_actor.integrations._ledger import Draft
from soma_actor.integrations.served import register
from soma_runtime import Runtime
from soma_runtime.store.glance import glance

pytestmark = pytest.mark.anyio


async def test_the_ops_record_hand_out_guidance_once_and_refuse_bad_requests(tmp_path: Path) -> None:
    socket = str(tmp_path / "soma.sock")
    async with Runtime.open(db=tmp_path / "soma.db", control=socket) as rt:
        register(rt)
        ledger = ControlLedger(socket)

        def step(i: int) -> object:
            events = [
                Draft(
                    "tool.started",
                    {"tool": "Bash", "args": {"command": "make"}, "source": "hook"},
                    agent_id="a",
                    session_id="s",
                    tool_call_id=f"t{i}",
                ),
                Draft(
                    "tool.failed",
                    {"tool": "Bash", "error": "exit 2", "source": "hook"},
                    agent_id="a",
                    session_id="s",
                    tool_call_id=f"t{i}",
                ),
            ]
            return ledger.exchange(events, "a", "hook:PostToolUseFailure")

        outcomes = [await anyio.to_thread.run_sync(step, i) for i in range(6)]
        handed = [f.firing_id for o in outcomes for f in o.guidance]  # type: ignore[attr-defined]
        assert handed and len(handed) == len(set(handed))
        start = Draft(
            "session.started", {"intent": None, "source": "hook"}, agent_id="a", session_id="s", once="s"
        )
        for _ in range(2):
            await anyio.to_thread.run_sync(ledger.exchange, [start], "a", None)
        facts = await anyio.to_thread.run_sync(ledger.facts, "a", ["s", "other"], "a")
        assert facts.started == {"s"} and facts.vitals is not None and facts.vitals.mode != "observe"
        assert len(await rt.events.query(type="session.started")) == 1
        for params, problem in [
            ({"agent_id": "", "events": []}, "agent_id"),
            ({"agent_id": "a", "events": {}}, "'events' must be a list"),
            ({"agent_id": "a", "events": [{"type": "no.such"}]}, "unknown event type"),
            ({"agent_id": "a", "events": [{"type": "tool.failed", "payload": {"tool": "x"}}]}, "error"),
            ({"agent_id": "a", "events": [], "channel": 3}, "'channel'"),
        ]:
            with pytest.raises(Refused) as refused:
                await anyio.to_thread.run_sync(
                    lambda p=params: request(socket, "vitals_exchange", p, timeout=5)
                )
            assert refused.value.code == "bad_request" and problem in refused.value.message
    with pytest.raises(Unreachable):
        request(socket, "hello", {}, timeout=1)


def _gone(pid: int) -> bool:
    """The process has exited (a zombie nobody reaped yet counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def test_serve_starts_a_runtime_that_records_and_stops_when_idle(tmp_path: Path) -> None:
    db, control = tmp_path / "soma.db", tmp_path / "soma.sock"
    session = "7a7a7a7a-0000-4000-8000-000000000000"
    started = hook(db, session_start(session, tmp_path), control, "--serve", "--serve-idle", "4")
    assert (started.code, started.out, started.err) == (0, "", "")
    pid = int((tmp_path / "soma.sock.serve").read_text())
    try:
        deadline = time.monotonic() + 60
        while True:  # it is starting: wait for it to answer
            try:
                hello = request(str(control), "hello", {}, timeout=2)
                break
            except Unreachable:
                assert time.monotonic() < deadline and not _gone(pid), "the runtime never answered"
        assert hello["os_pid"] == pid and hello["db"] == str(db)
        assert "vitals_exchange" in hello["ops"]
        answer = hook(db, pre(session, tmp_path, "Bash", bash("ls"), "toolu_1"), control, "--serve")
        assert answer.code == 0
        with glance(db) as log:
            assert [e.type for e in log.query(session_id=session)] == ["session.started", "tool.started"]
        deadline = time.monotonic() + 60
        while not _gone(pid):  # idle for 4 s: it stops by itself, in order
            assert time.monotonic() < deadline, "the runtime did not stop when idle"
            time.sleep(0.1)
        assert not control.exists(), "an orderly stop removes its socket"
        assert "stopping" in (tmp_path / "soma.db-serve.log").read_text()
    finally:
        if not _gone(pid):
            os.kill(pid, 9)


async def test_a_runtime_serving_hooks_records_what_waited_in_the_spool(tmp_path: Path) -> None:
    from soma_actor.integrations.claude_code import spool

    db, socket = tmp_path / "soma.db", str(tmp_path / "soma.sock")
    session = "8b8b8b8b-0000-4000-8000-000000000000"
    waited = pre(session, tmp_path, "Bash", bash("make"), "toolu_waited")
    spool.keep(str(db), {"input": waited}, "the writer lock was held")
    async with Runtime.open(db=db, control=socket) as rt:
        register(rt)
        for use in ("toolu_now", "toolu_next"):  # the second finds the spool empty
            now = json.dumps(pre(session, tmp_path, "Bash", bash("ls"), use))
            answer = await anyio.to_thread.run_sync(
                lambda raw=now: request(socket, "claude_hook", {"raw": raw, "config": None}, timeout=5)
            )
            assert answer == {"answer": None}
        recorded = [(e.type, e.tool_call_id) for e in await rt.events.query() if e.type != "vitals.trust"]
    assert recorded == [
        ("hook.spooled", None),
        ("session.started", None),
        ("tool.started", "toolu_waited"),
        ("tool.started", "toolu_now"),
        ("tool.started", "toolu_next"),
    ]
    assert await anyio.Path(spool.spool_path(str(db))).read_text() == ""
