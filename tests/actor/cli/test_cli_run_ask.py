"""``soma serve --config``, ``soma run``, ``soma ask`` and ``soma cancel`` as real processes:
a runtime started from a config file gets work from other processes, which print progress
as events arrive and exit by outcome; Ctrl-C (a real SIGINT) cancels or detaches, or asks on
a terminal (a pseudo-terminal here)."""

from __future__ import annotations

import json
import os
import pty
import signal
from collections.abc import Awaitable
from contextlib import aclosing
from pathlib import Path

import anyio
import pytest
from _cli import SOMA, clean_env
from _served import Served, served, write_project
from anyio.streams.buffered import BufferedByteReceiveStream

from soma_runtime import open_event_log
from soma_runtime.control import ControlClient

pytestmark = pytest.mark.anyio


async def events(db: Path, **query: str) -> list[str]:
    async with open_event_log(db, readonly=True) as log:
        return [e.type for e in await log.query(**query)]  # type: ignore[arg-type]


async def test_serve_a_config_then_run_ask_and_cancel_from_other_processes(tmp_path: Path) -> None:
    async with served(tmp_path) as rt:
        assert rt.serving["tools"] == ["shout", "whisper"] and rt.serving["agents"] == ["greeter", "ponder"]
        # Its start-up heap is out of the collector's way (the command owns its process).
        assert rt.serving["frozen_objects"] > 10_000
        sock = str(rt.sock)
        chained = ["--step", "echo value=hi", "--step", "whisper text=@s1"]
        (code, out, err), (bg_code, bg_out, _), (ask_code, reply, ask_err) = await _all(
            rt.soma("run", "--wait", "--control", sock, *chained),
            rt.soma("run", "--control", sock, "--step", "sleep seconds=120", "--agent", "night"),
            rt.soma("ask", "greeter", "say hi", "--control", sock),
        )
        assert code == 0, err
        assert out.splitlines() == ["s1: hi", "s2: hi"]
        lines = err.splitlines()
        assert lines[0].endswith("(2 steps, agent cli)")
        assert lines[1].startswith("✓ s1 echo → hi") and lines[2].startswith("✓ s2 whisper → hi")
        assert lines[3].startswith("✓ run-") and " completed in " in lines[3]

        assert ask_code == 0, ask_err
        assert reply == "said HI\n"
        assert "✓ model call:" in ask_err and "✓ call-" in ask_err and "shout → HI" in ask_err

        # Without --wait: the id, at once; the run goes on in the runtime.
        assert bg_code == 0
        run_id = bg_out.strip()
        async with ControlClient.connect(sock) as client:
            [live] = [r for r in await client.runs() if r["run_id"] == run_id]
            assert live["live"] and live["agent_id"] == "night"
        code, out, err = await rt.soma("cancel", run_id, "--control", sock)
        assert (code, out) == (0, f"{run_id} cancelled\n"), err
        assert (await events(rt.db, run_id=run_id))[-1] == "run.cancelled"

        # A task that thinks for two minutes, cancelled by its id from another process.
        code, task_id, _ = await rt.soma("ask", "ponder", "take your time", "--no-wait", "--control", sock)
        task_id = task_id.strip()
        assert code == 0 and task_id.startswith("task-")
        code, out, err = await rt.soma("cancel", task_id, "--control", sock)
        assert (code, out) == (0, f"{task_id} cancelled\n"), err


async def test_exit_codes_say_how_the_work_ended(tmp_path: Path) -> None:
    async with served(tmp_path) as rt:
        sock = str(rt.sock)
        steps = tmp_path / "steps.json"
        slow = [{"id": "a", "tool": "sleep", "args": {"seconds": 30}}]
        steps.write_text(json.dumps({"steps": slow, "timeout": 0.2}))
        listed = b'[{"id": "x", "tool": "echo", "args": {"value": [1]}}]'
        failed, timed_out, refused, as_json, rejected_input, unknown_agent = await _all(
            rt.soma("run", "--wait", "--control", sock, "--step", "fail message=boom"),
            rt.soma("run", "--wait", "--control", sock, str(steps)),
            rt.soma("run", "--wait", "--control", sock, "--step", "nope"),
            rt.soma("run", "--wait", "--json", "--control", sock, "-", stdin=listed),
            rt.soma("run", "--control", sock, "--step", "echo value"),
            rt.soma("ask", "nobody", "hi", "--control", sock),
        )
        assert failed[0] == 3 and failed[1] == ""
        assert "✗ s1 fail: ToolFailed: tool 'fail' failed: boom" in failed[2]
        assert timed_out[0] == 4 and " timeout " in timed_out[2].splitlines()[-1]
        assert refused[0] == 1
        [line] = refused[2].splitlines()
        assert line == "soma: error: invalid run: step 's1': tool: " + (
            "unknown tool 'nope': no tool of that name is registered"
        )
        assert as_json[0] == 0
        assert json.loads(as_json[1]) | {"run_id": "?"} == {
            "run_id": "?", "state": "completed", "outputs": {"x": [1]}, "error": None
        }
        assert rejected_input[0] == 2 and "'value' is not KEY=VALUE" in rejected_input[2]
        assert unknown_agent[0] == 1
        expected = "soma: error: no actor 'nobody' in this runtime (actors: greeter, ponder)"
        assert unknown_agent[2].strip() == expected
    assert await events(rt.db, type="run.accepted") == ["run.accepted"] * 3, "the refused run never started"


@pytest.mark.parametrize(("choice", "ends"), [("cancel", "run.cancelled"), ("detach", None)])
async def test_ctrl_c_cancels_or_detaches(tmp_path: Path, choice: str, ends: str | None) -> None:
    async with served(tmp_path) as rt:
        command = [*SOMA, "run", "--wait", "--on-interrupt", choice, "--control", str(rt.sock)]
        command += ["--step", "sleep seconds=120"]
        async with await anyio.open_process(command, env=clean_env(), cwd=tmp_path) as proc:
            run_id = await _live_run(rt)
            proc.send_signal(signal.SIGINT)
            with anyio.fail_after(30):
                assert await proc.wait() == 130
            assert proc.stderr is not None
            err = (await proc.stderr.receive()).decode()
        types = await events(rt.db, run_id=run_id)
        if ends is not None:
            assert types[-1] == ends and "interrupted: cancelling" in err
        else:
            assert types[-1] == "tool.started", "left running"
            assert f"{run_id} left running: `soma cancel {run_id}` cancels it" in err
            assert (await rt.soma("cancel", run_id, "--control", str(rt.sock)))[0] == 0


async def test_on_a_terminal_ctrl_c_asks_and_a_yes_cancels(tmp_path: Path) -> None:
    async with served(tmp_path) as rt:
        master, slave = pty.openpty()
        command = [*SOMA, "ask", "ponder", "think hard", "--control", str(rt.sock)]
        screen = b""

        async def read_until(text: bytes) -> None:
            nonlocal screen
            with anyio.fail_after(30):
                while text not in screen:
                    await anyio.wait_readable(master)
                    screen += os.read(master, 65536)

        try:
            proc = await anyio.open_process(
                command, stdin=slave, stdout=slave, stderr=slave, env=clean_env(), cwd=tmp_path
            )
            os.close(slave)
            async with proc:
                await read_until(b"thinking (scripted)")  # the live line, with its spinner
                assert "\r\x1b[2K" in screen.decode()
                proc.send_signal(signal.SIGINT)
                await read_until(b"[d] detach, leave it running: ")
                os.write(master, b"y\n")
                await read_until(b" cancelled in ")
                with anyio.fail_after(30):
                    assert await proc.wait() == 130
        finally:
            os.close(master)
        assert "interrupted: cancelling ponder's task" in screen.decode()
        types = await events(rt.db, agent_id="ponder")
        assert "actor.task.cancelled" in types and "llm.cancelled" in types


async def test_a_runtime_that_dies_under_a_waiting_run_is_one_line_and_exit_1(tmp_path: Path) -> None:
    write_project(tmp_path)
    serve = [*SOMA, "--log-json", "serve", "--config", "soma.toml"]
    async with await anyio.open_process(serve, env=clean_env(), cwd=tmp_path) as runtime:
        assert runtime.stderr is not None
        logs = BufferedByteReceiveStream(runtime.stderr)
        with anyio.fail_after(30):
            while b'"serving"' not in await logs.receive_until(b"\n", 1 << 16):
                pass
        waiting = [*SOMA, "run", "--wait", "--control", "served.sock", "--step", "sleep seconds=120"]
        async with await anyio.open_process(waiting, env=clean_env(), cwd=tmp_path) as command:
            rt = Served(tmp_path, tmp_path / "served.db", tmp_path / "served.sock", runtime, {})
            await _live_run(rt)
            runtime.kill()  # SIGKILL: no orderly shutdown, no end recorded
            with anyio.fail_after(30):
                assert await command.wait() == 1
            assert command.stderr is not None
            err = b""
            async for chunk in command.stderr:
                err += chunk
        [line] = err.decode().splitlines()[1:]  # after the run's first line of progress
        assert line.startswith("soma: error: the runtime on served.sock stopped before run-"), line


async def _live_run(rt: Served) -> str:
    """The run the runtime started, once its tool has started."""
    async with ControlClient.connect(rt.sock) as client:
        with anyio.fail_after(30):
            async with aclosing(client.follow(types=["tool.started"])) as started:
                event = await anext(started)
    assert event.run_id is not None
    return event.run_id


Outcome = tuple[int, str, str]


async def _all(*calls: Awaitable[Outcome]) -> list[Outcome]:
    """The commands' outcomes, run at once (each pays the interpreter's start only once)."""
    results: list[Outcome] = [(-1, "", "")] * len(calls)

    async def one(i: int, call: Awaitable[Outcome]) -> None:
        results[i] = await call

    async with anyio.create_task_group() as tg:
        for i, call in enumerate(calls):
            tg.start_soon(one, i, call)
    return results
