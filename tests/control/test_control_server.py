"""The control server against a real runtime over a real Unix socket: framing and bad input,
permissions, the views, cancel, follow, and the socket's life (stale, live, killed)."""

from __future__ import annotations

import asyncio
import contextvars
import json
import os
import socket
import stat
from contextlib import aclosing
from pathlib import Path

import anyio
import pytest
from _control import raw_client
from _stubborn import quiesce, stubborn, stubborn_probe

from soma_runtime import RunState, Runtime, Step
from soma_runtime.control import (
    CONTROL_NAME,
    PROTOCOL_VERSION,
    ControlClient,
    ControlError,
    ControlSocketError,
    NoRuntimeListening,
)
from soma_runtime.control.protocol import MAX_REQUEST_BYTES
from soma_runtime.kernel import Pid, Supervisor, current_node
from soma_runtime.runtime import ROOT

pytestmark = pytest.mark.anyio


@pytest.fixture
def sock(tmp_path: Path) -> Path:
    return tmp_path / "soma.sock"


async def test_socket_is_owner_only_answers_hello_and_is_removed_on_shutdown(sock: Path) -> None:
    async with Runtime.open(control=sock) as rt:
        mode = os.stat(sock).st_mode
        assert stat.S_ISSOCK(mode)
        assert stat.S_IMODE(mode) == 0o600
        assert not [p for p in sock.parent.iterdir() if p.name.startswith(".soma-")], "no temp file left"
        async with ControlClient.connect(sock) as client:
            hello = await client.hello()
        assert hello["protocol"] == PROTOCOL_VERSION
        assert hello["os_pid"] == os.getpid()
        assert hello["control"] == str(sock)
        assert hello["db"] == ":memory:"
        assert hello["last_seq"] == await rt.events.last_seq()
        assert {"hello", "sessions", "runs", "tree", "cancel_run", "follow", "actors", "cancel_task"} <= set(
            hello["ops"]
        )
        assert hello["actor_layer"] is False
    assert not await anyio.Path(sock).exists()


async def test_bad_requests_get_error_replies_and_the_connection_keeps_serving(sock: Path) -> None:
    async with Runtime.open(control=sock), raw_client(sock) as raw:
        cases: list[tuple[bytes | dict[str, object], str, object]] = [
            (b"{not json", "bad_request", None),
            (b"[1, 2]", "bad_request", None),
            ({"v": 1, "op": "hello"}, "bad_request", None),  # no id
            ({"v": 1, "id": True, "op": "hello"}, "bad_request", None),
            ({"v": 2, "id": 3, "op": "hello"}, "version", 3),
            ({"id": 4, "op": "hello"}, "version", 4),
            ({"v": 1, "id": "x", "op": ""}, "bad_request", "x"),
            ({"v": 1, "id": 6, "op": "reboot"}, "unknown_op", 6),
            ({"v": 1, "id": 7, "op": "cancel_run"}, "bad_request", 7),  # no run_id
            ({"v": 1, "id": 8, "op": "sessions", "verbose": True}, "bad_request", 8),
            ({"v": 1, "id": 9, "op": "runs", "recent": -1}, "bad_request", 9),
            ({"v": 1, "id": 10, "op": "follow", "types": []}, "bad_request", 10),
            ({"v": 1, "id": 11, "op": "follow", "from_seq": "1"}, "bad_request", 11),
        ]
        for line, code, request_id in cases:
            reply = await raw.ask(line)
            assert reply["v"] == PROTOCOL_VERSION
            assert reply["ok"] is False, line
            assert reply["error"]["code"] == code, (line, reply)
            assert reply["error"]["message"]
            assert reply["id"] == request_id
        assert "reboot" in (await raw.ask({"v": 1, "id": 12, "op": "reboot"}))["error"]["message"]

        # A line over the limit is discarded as it arrives; the next one is served.
        pad = b"x" * (2 * MAX_REQUEST_BYTES)
        await raw.send(b'{"v": 1, "id": 1, "op": "hello", "pad": "' + pad + b'"}\n')
        reply = await raw.reply()
        assert reply["error"]["code"] == "bad_request"
        assert str(MAX_REQUEST_BYTES) in reply["error"]["message"]

        reply = await raw.ask({"v": 1, "id": "last", "op": "hello"})
        assert reply == {"v": 1, "id": "last", "ok": True, "result": reply["result"]}
        # Two requests in one write are answered in order.
        await raw.send(b'{"v":1,"id":1,"op":"sessions"}\n\n{"v":1,"id":2,"op":"actors"}\n')
        assert [(await raw.reply())["id"], (await raw.reply())["id"]] == [1, 2]


async def test_views_show_sessions_live_and_finished_runs_and_the_tree(sock: Path) -> None:
    async with Runtime.open(control=sock) as rt:
        session = await rt.start_session("research")
        done = await session.start_run([Step("s1", "echo", {"value": 1})])
        await done.result()
        slow = await session.start_run([Step("a", "echo", {"value": 0}), Step("b", "sleep", {"seconds": 60})])
        async with ControlClient.connect(sock) as client:
            [view] = await client.sessions()
            assert view["session_id"] == session.session_id and view["agent_id"] == "research"
            assert view["status"] == "alive"
            assert [r["run_id"] for r in view["live_runs"]] == [slow.run_id]
            assert view["finished_runs"] == 1

            runs = await client.runs()
            assert [(r["run_id"], r["live"]) for r in runs] == [(slow.run_id, True), (done.run_id, False)]
            live, finished = runs
            assert live["session_id"] == session.session_id and live["agent_id"] == "research"
            assert live["steps"] == 2 and live["state"] in ("executing", "waiting_tool")
            assert finished["state"] == "completed" and finished["error"] is None
            assert [r["run_id"] for r in await client.runs(recent=0)] == [slow.run_id]

            tree = await client.tree()
            json.dumps(tree)
            [root] = [p for p in tree if p["name"] == ROOT]
            names = [child["name"] for child in root["children"]]
            assert names[-1] == CONTROL_NAME, "the control server is the root's last child"
            control = root["children"][-1]
            assert control["behaviour"] == "gen_server" and control["queue_depth"] >= 0
            assert len(control["children"]) == 2, "its acceptor, and this client's connection"
            await slow.cancel()


async def test_cancel_a_live_run(sock: Path) -> None:
    tool = stubborn_probe("control")
    async with Runtime.open(control=sock, tools=[stubborn], vitals=False) as rt:
        session = await rt.start_session("a")
        run = await session.start_run([Step("s1", "stubborn", {"name": "control"})])
        await tool.started.wait()
        async with ControlClient.connect(sock) as client:
            replies: list[tuple[dict[str, object], bool]] = []

            async def cancel() -> None:
                reply = await client.cancel_run(run.run_id)
                replies.append((reply, tool.task.done()))

            async with anyio.create_task_group() as tg:
                tg.start_soon(cancel)
                await tool.stopping.wait()  # the request reached the run: the tool is stopping
                await quiesce(rt.events)
                assert replies == [] and run.pid.is_alive(), "answered before the tool stopped"
                tool.release.set()
            [(result, tool_stopped)] = replies
            assert tool_stopped, "the reply came while the tool's task was still running"
            assert not tool.pids[0].is_alive() and not run.pid.is_alive()
            assert result["run_id"] == run.run_id
            assert result["state"] == "cancelled"
            assert result["session_id"] == session.session_id
            assert (await run.result()).state is RunState.CANCELLED
            [cancelled] = await rt.events.query(run_id=run.run_id, type="run.cancelled")
            assert cancelled.session_id == session.session_id
            # Cancel is idempotent: a finished run answers with its recorded result.
            assert (await client.cancel_run(run.run_id))["state"] == "cancelled"
            with pytest.raises(ControlError) as err:
                await client.cancel_run("run-nope")
            assert err.value.code == "not_found" and "run-nope" in err.value.message
            # The session survived and takes new runs.
            again = await session.start_run([Step("s1", "echo", {"value": 2})])
            assert (await again.result()).outputs == {"s1": 2}


async def test_follow_streams_history_then_live_events_until_the_client_closes(sock: Path) -> None:
    async with Runtime.open(control=sock, vitals=False) as rt, ControlClient.connect(sock) as client:
        start = (await client.hello())["last_seq"] + 1
        first = await rt.start_session("a")
        seen = []
        async with aclosing(client.follow(from_seq=start, types=["session.*"])) as events:
            async for event in events:
                seen.append(event)
                if len(seen) == 1:
                    await rt.start_session("b")  # after the follow began: a live event
                else:
                    break
            follower = max(_connections())  # the newest connection is the follow's own
        assert [(e.type, e.agent_id) for e in seen] == [("session.started", "a"), ("session.started", "b")]
        assert seen[0].session_id == first.session_id and seen[0].seq == start
        with anyio.fail_after(5):
            await follower.wait()  # its process ends once the client closed it
        assert len(_connections()) == 1, "the client's own connection still serves"
        assert (await client.hello())["last_seq"] >= seen[-1].seq

        with pytest.raises(ControlError) as err:
            async with aclosing(client.follow(types=["run.*", ""])) as events:
                await events.__anext__()
        assert err.value.code == "bad_request"


def _connections() -> list[Pid]:
    """The connection processes of the control server (one per client connection)."""
    server = current_node().whereis(CONTROL_NAME)
    assert server is not None
    connections: set[Pid] = server.process.behaviour.connections
    return sorted(pid for pid in connections if pid.is_alive())


async def test_a_stale_socket_is_replaced_and_a_live_one_refused(sock: Path) -> None:
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(str(sock))
    dead.close()  # a runtime that died without removing its socket
    with pytest.raises(NoRuntimeListening) as err:
        async with ControlClient.connect(sock):
            pass
    assert str(sock) in str(err.value) and "refused" in str(err.value)

    async with Runtime.open(control=sock), ControlClient.connect(sock) as client:
        assert (await client.hello())["control"] == str(sock)

        async def second_runtime() -> None:
            async with Runtime.open(control=sock):
                pass

        # Its own node, as another program would have (a fresh context has no current node).
        task = asyncio.get_running_loop().create_task(second_runtime(), context=contextvars.Context())
        with pytest.raises(ControlSocketError) as refused:
            await task
        assert "another runtime is listening" in str(refused.value)
        assert (await client.hello())["control"] == str(sock), "the first runtime still serves"


async def test_something_else_at_the_path_is_never_replaced(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("keep me")
    with pytest.raises(ControlSocketError) as err:
        async with Runtime.open(control=path):
            pass
    assert "not a socket" in str(err.value) and str(path) in str(err.value)
    assert path.read_text() == "keep me"
    with pytest.raises(ControlSocketError, match="does not exist"):
        async with Runtime.open(control=tmp_path / "missing" / "soma.sock"):
            pass


async def test_a_killed_control_server_is_restarted_and_serves_again(sock: Path) -> None:
    async with Runtime.open(control=sock) as rt:
        server = current_node().whereis(CONTROL_NAME)
        assert server is not None
        async with ControlClient.connect(sock) as client:
            await client.hello()
            server.kill()  # terminate does not run: the socket file must still go with it
            # The restart is handled before the supervisor answers a call queued after it.
            await Supervisor.which_children(rt.root)
            with pytest.raises(NoRuntimeListening):
                await client.hello()  # that connection died with the old server
        successor = current_node().whereis(CONTROL_NAME)
        assert successor is not None and successor != server
        assert stat.S_IMODE(os.stat(sock).st_mode) == 0o600
        async with ControlClient.connect(sock) as client:
            assert (await client.hello())["control"] == str(sock)


async def test_no_runtime_listening_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "none.sock"
    with pytest.raises(NoRuntimeListening) as err:
        async with ControlClient.connect(missing):
            pass
    assert err.value.path == str(missing)
    assert str(missing) in str(err.value) and "no such socket" in str(err.value)
