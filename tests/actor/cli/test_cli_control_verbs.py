"""``soma serve`` and ``soma cancel`` as real subprocesses against real runtimes: a served
runtime answers its socket and stops cleanly on SIGTERM; a second one on the same socket is
refused; cancel stops a live run of a runtime in this test; no runtime listening is one line."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

import anyio
import pytest
from _cli import SOMA, clean_env
from _stubborn import quiesce, stubborn, stubborn_probe
from anyio.streams.buffered import BufferedByteReceiveStream

from soma_runtime import RunState, Runtime, Step, open_event_log
from soma_runtime.control import ControlClient

pytestmark = pytest.mark.anyio


async def soma(*args: str) -> tuple[int, str, str]:
    done = await anyio.run_process([*SOMA, *args], check=False, env=clean_env())
    return done.returncode, done.stdout.decode(), done.stderr.decode()


async def read_to_end(stream: BufferedByteReceiveStream) -> bytes:
    chunks = []
    with anyio.fail_after(10):
        while True:
            try:
                chunks.append(await stream.receive())
            except anyio.EndOfStream:
                return b"".join(chunks)


async def test_serve_runs_until_sigterm_and_refuses_a_second_runtime_on_its_socket(tmp_path: Path) -> None:
    db, sock = tmp_path / "soma.db", tmp_path / "soma.sock"
    command = [*SOMA, "--log-json", "serve", "--db", str(db), "--control", str(sock)]
    async with await anyio.open_process(command, env=clean_env()) as proc:
        assert proc.stderr is not None
        stderr = BufferedByteReceiveStream(proc.stderr)
        logs: list[dict[str, Any]] = []
        with anyio.fail_after(30):
            while not logs or logs[-1]["event"] != "serving":
                logs.append(json.loads(await stderr.receive_until(b"\n", 1 << 16)))
        # The library's own stdlib records come through the command's structlog handler too.
        assert any(r["logger"] == "soma.control" and str(sock) in r["event"] for r in logs)
        assert logs[-1]["os_pid"] == proc.pid and logs[-1]["control"] == str(sock)

        async with ControlClient.connect(sock) as client:
            hello = await client.hello()
            assert (hello["os_pid"], hello["db"], hello["control"]) == (proc.pid, str(db), str(sock))
            code, out, err = await soma("serve", "--db", str(tmp_path / "other.db"), "--control", str(sock))
            assert code == 1 and out == ""
            assert err.splitlines() == [
                f"soma: error: cannot serve the control API on {sock}: another runtime is listening on it"
            ]
            assert await client.sessions() == [], "the first runtime still serves"

        proc.send_signal(signal.SIGTERM)
        with anyio.fail_after(30):
            assert await proc.wait() == 0
        rest = [json.loads(line) for line in (await read_to_end(stderr)).decode().splitlines()]
        assert [r["event"] for r in rest] == ["stopping", "stopped"]
        assert rest[0]["signal"] == "SIGTERM"
    assert not await anyio.Path(sock).exists(), "the socket went with the runtime"
    async with open_event_log(db, readonly=True) as log:
        assert (await log.stats()).path == str(db)


async def test_cancel_a_live_run_an_unknown_run_and_no_runtime_listening(tmp_path: Path) -> None:
    sock, nowhere = tmp_path / "soma.sock", tmp_path / "none.sock"
    tool = stubborn_probe("cli")
    async with Runtime.open(db=tmp_path / "soma.db", control=sock, tools=[stubborn], vitals=False) as rt:
        session = await rt.start_session("a")
        run = await session.start_run([Step("s1", "stubborn", {"name": "cli"})])
        await tool.started.wait()
        results: dict[str, tuple[int, str, str]] = {}

        async def invoke(key: str, *args: str) -> None:
            results[key] = await soma(*args)

        async with anyio.create_task_group() as tg:
            tg.start_soon(invoke, "live", "cancel", run.run_id, "--control", str(sock))
            tg.start_soon(invoke, "unknown", "cancel", "run-nope", "--control", str(sock))
            tg.start_soon(invoke, "nowhere", "cancel", run.run_id, "--control", str(nowhere))
            await tool.stopping.wait()  # `soma cancel` reached the run: its tool is stopping
            await quiesce(rt.events)
            assert "live" not in results and run.pid.is_alive(), "cancelled before the tool stopped"
            tool.release.set()

        assert results["live"] == (0, f"{run.run_id} cancelled\n", "")
        assert tool.task.done() and not tool.pids[0].is_alive() and not run.pid.is_alive()
        assert (await run.result()).state is RunState.CANCELLED
        assert [e.type for e in await rt.events.query(run_id=run.run_id)][-1] == "run.cancelled"

        code, out, err = results["unknown"]
        assert (code, out) == (1, "")
        assert err.splitlines() == [f"soma: error: no run 'run-nope' in this runtime (runtime on {sock})"]
        code, out, err = results["nowhere"]
        assert (code, out) == (1, "")
        [line] = err.splitlines()
        assert line.startswith(f"soma: error: no Soma runtime is listening on {nowhere}: no such socket")
