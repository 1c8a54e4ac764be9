"""Isolation proofs: each one watches the real thing — the OS process (by pid, and its
process group) or the thread — not just what ``invoke`` returned."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import _tool_fixtures as fx
import anyio
import pytest

from soma_runtime.tools.errors import (
    CommandFailed,
    CommandNotFound,
    ToolAbandoned,
    ToolCrashed,
    ToolFailed,
    ToolLoadError,
    ToolOutputNotSerializable,
    ToolOutputTooLarge,
)
from soma_runtime.tools.spec import CommandTool, ToolContext, ToolSpec, tool

pytestmark = pytest.mark.anyio


def context(
    spec: ToolSpec, root: Path | None = None, log: logging.LoggerAdapter[Any] | None = None
) -> ToolContext:
    extra: dict[str, Any] = {"root": root} if root is not None else {}
    if log is not None:
        extra["log"] = log
    return ToolContext(spec.name, "tc-1", run_id="run-1", session_id="sess-1", step_id="s1", **extra)


async def call(spec: ToolSpec, pids: list[int] | None = None, root: Path | None = None, **args: Any) -> Any:
    on_spawn = pids.append if pids is not None else None
    return await spec.invoke(spec.validate_args(args), context(spec, root), on_spawn=on_spawn)


async def assert_gone(pid: int) -> None:
    """The process no longer exists — not even as a zombie — and nothing it started lives on."""
    assert_reaped(pid)
    # Its process group (id = its pid): members it started are not our children, so after the
    # SIGKILL their teardown and reaping (by init) is asynchronous and there is nothing to
    # await; poll /proc briefly for any member still alive.
    with anyio.fail_after(2):
        while live_members(pid):  # noqa: ASYNC110 - no event exists for another's process exit
            await anyio.sleep(0.01)


def assert_reaped(pid: int) -> None:
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # succeeds on a zombie: raising proves the exit was reaped
    assert not Path(f"/proc/{pid}").exists()


def live_members(pgid: int) -> list[int]:
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue  # exited while we looked
        state, pgrp = fields[0], int(fields[2])
        if pgrp == pgid and state not in ("Z", "X"):
            members.append(int(stat.parent.name))
    return members


async def wait_ready(fifo: Path) -> None:
    """Block until the child has written to the FIFO (opening it waits for the writer)."""
    with anyio.fail_after(10):
        assert (await anyio.to_thread.run_sync(fifo.read_text, abandon_on_cancel=True)).strip() == "ready"


def sigterm_watch() -> tuple[logging.LoggerAdapter[Any], anyio.Event]:
    """A context logger that reports the moment the stop sequence sends SIGTERM."""
    sent = anyio.Event()

    class Watch(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if "SIGTERM" in record.getMessage():
                sent.set()

    logger = logging.getLogger(f"test.isolation.{id(sent)}")
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    logger.addHandler(Watch())
    return logging.LoggerAdapter(logger, {}), sent


# --------------------------------------------------------------------------- task and thread


async def test_a_cancelled_task_tool_is_done() -> None:
    events: list[str] = []
    started = anyio.Event()

    @tool
    async def waits() -> None:
        events.append("started")
        started.set()
        try:
            await anyio.sleep_forever()
        finally:
            events.append("finally")

    tasks_before = asyncio.all_tasks()
    with anyio.CancelScope() as scope:
        async with anyio.create_task_group() as tg:
            tg.start_soon(call, waits)
            await started.wait()
            scope.cancel()
    assert scope.cancelled_caught
    # The cancellation reached the tool's coroutine, which ran its cleanup and finished;
    # nothing was left running on its behalf.
    assert events == ["started", "finally"]
    assert asyncio.all_tasks() == tasks_before


async def test_a_cancelled_thread_tool_is_reported_abandoned_and_keeps_running() -> None:
    started, release, finished = threading.Event(), threading.Event(), threading.Event()
    threads: list[threading.Thread] = []

    @tool
    def stuck() -> str:
        threads.append(threading.current_thread())
        started.set()
        release.wait()
        finished.set()
        return "late"

    assert stuck.isolation == "thread"
    abandoned: list[BaseException] = []
    with anyio.move_on_after(5) as scope:
        async with anyio.create_task_group() as tg:
            tg.start_soon(
                lambda: stuck.invoke(stuck.validate_args({}), context(stuck), on_abandon=abandoned.append)
            )
            await anyio.to_thread.run_sync(started.wait)
            scope.cancel()
    assert scope.cancelled_caught
    [error] = abandoned
    assert isinstance(error, ToolAbandoned)
    assert error.tool == "stuck"
    assert "keeps running" in str(error)
    # Really abandoned, not stopped: the thread is still inside the function, and finishes
    # on its own once released.
    assert threads[0] is not threading.current_thread()
    assert threads[0].is_alive() and not finished.is_set()
    release.set()
    assert await anyio.to_thread.run_sync(finished.wait, 5)


# --------------------------------------------------------------------------- process: results


async def test_a_process_tool_runs_in_a_child_process_and_its_prints_do_not_corrupt_the_result() -> None:
    pids: list[int] = []
    out = await call(fx.add, pids, a=40)
    assert out["sum"] == 42  # the default b=2 applied in the child
    assert out["pid"] == pids[0] != os.getpid()
    await assert_gone(pids[0])


async def test_an_async_process_tool_gets_its_context_across_the_process_boundary(tmp_path: Path) -> None:
    out = await call(fx.describe, root=tmp_path, label="x")
    assert out["label"] == "x"
    assert out["pid"] != os.getpid()
    assert out["root"] == str(tmp_path)
    assert out["ids"] == {
        "tool": "describe",
        "tool_call_id": "tc-1",
        "run_id": "run-1",
        "session_id": "sess-1",
        "step_id": "s1",
        "agent_id": None,
    }


async def test_an_exception_in_the_child_is_a_tool_failure_with_its_type_and_message() -> None:
    with pytest.raises(ToolFailed) as info:
        await call(fx.explode, message="bad input")
    assert info.value.error_type == "ValueError"
    assert str(info.value) == "tool 'explode' failed: ValueError: bad input"
    assert any("raise ValueError(message)" in note for note in info.value.__notes__)


async def test_a_non_json_result_from_the_child_is_refused() -> None:
    with pytest.raises(ToolOutputNotSerializable, match=r"'opaque'.*not JSON-serialisable"):
        await call(fx.opaque)


async def test_a_child_that_dies_without_a_result_is_reported_with_its_exit_and_stderr() -> None:
    pids: list[int] = []
    with pytest.raises(ToolCrashed) as info:
        await call(fx.crash, pids, code=7)
    assert info.value.returncode == 7
    assert "exited with code 7" in str(info.value)
    assert "about to crash" in info.value.stderr_tail
    await assert_gone(pids[0])


async def test_a_function_the_child_cannot_find_is_a_load_error() -> None:
    with pytest.raises(ToolLoadError, match=r"cannot load vanished.*AttributeError"):
        await call(fx.vanished_spec)


async def test_process_tools_defined_in_a_script_main_run_too(tmp_path: Path) -> None:
    script = tmp_path / "script_tool.py"
    script.write_text(
        textwrap.dedent(
            """
            import os
            import anyio
            from soma_runtime.tools import ToolContext, tool

            @tool(isolation="process")
            def where(x: int) -> dict:
                return {"x": x, "module": __name__, "pid": os.getpid()}

            async def main() -> None:
                out = await where.invoke(where.validate_args({"x": 5}), ToolContext("where", "tc-1"))
                print(out["x"], out["module"], out["pid"] != os.getpid())

            if __name__ == "__main__":
                anyio.run(main)
            """
        )
    )
    result = await anyio.run_process([sys.executable, str(script)])
    # The child imported the script under another name, so its __main__ block did not rerun.
    assert result.stdout.decode().split() == ["5", "__soma_main__", "True"]


# --------------------------------------------------------------------------- process: stopping


async def test_a_cancelled_process_tool_is_killed_and_reaped() -> None:
    pids: list[int] = []
    spawned = anyio.Event()

    def on_spawn(pid: int) -> None:
        pids.append(pid)
        spawned.set()

    with anyio.CancelScope() as scope:
        async with anyio.create_task_group() as tg:
            tg.start_soon(
                lambda: fx.blocked.invoke(
                    fx.blocked.validate_args({}), context(fx.blocked), on_spawn=on_spawn
                )
            )
            await spawned.wait()
            os.kill(pids[0], 0)  # alive while it runs
            scope.cancel()
    await assert_gone(pids[0])


async def test_a_process_tool_whose_caller_times_out_is_killed_and_reaped() -> None:
    pids: list[int] = []
    with pytest.raises(TimeoutError):
        with anyio.fail_after(0.3):
            await call(fx.blocked, pids)
    await assert_gone(pids[0])


async def test_a_child_ignoring_sigterm_is_sigkilled_after_the_grace(tmp_path: Path) -> None:
    fifo = tmp_path / "ready"
    os.mkfifo(fifo)
    pids: list[int] = []
    with anyio.CancelScope() as scope:
        async with anyio.create_task_group() as tg:
            tg.start_soon(lambda: call(fx.stubborn, pids, fifo=str(fifo)))
            await wait_ready(fifo)  # SIGTERM is ignored from here on
            started = time.monotonic()
            scope.cancel()
    elapsed = time.monotonic() - started
    assert fx.stubborn.kill_grace <= elapsed < fx.stubborn.kill_grace + 5
    await assert_gone(pids[0])


async def test_cancelled_again_during_the_grace_the_child_is_sigkilled_at_once(tmp_path: Path) -> None:
    fifo = tmp_path / "ready"
    os.mkfifo(fifo)
    log, sigterm_sent = sigterm_watch()
    spec = fx.stubborn_patient  # a 30 s grace: only the second cancellation can end it fast
    pids: list[int] = []
    invocation = asyncio.ensure_future(
        spec.invoke(spec.validate_args({"fifo": str(fifo)}), context(spec, log=log), on_spawn=pids.append)
    )
    await wait_ready(fifo)
    started = time.monotonic()
    invocation.cancel()  # a kernel stop: SIGTERM (ignored), then the grace...
    await sigterm_sent.wait()
    invocation.cancel()  # ...and the kernel's kill during the grace
    with pytest.raises(asyncio.CancelledError):
        await invocation
    assert time.monotonic() - started < 5
    await assert_gone(pids[0])


# --------------------------------------------------------------------------- command


async def test_command_arguments_are_passed_verbatim_without_a_shell() -> None:
    echo = CommandTool("echo", ["echo", "{text}", "a b", "'quoted' \"too\"", "{{literal}}"])
    out = await call(echo, text="$HOME; rm -rf x `id` {other}")
    assert out == "$HOME; rm -rf x `id` {other} a b 'quoted' \"too\" {literal}\n"


async def test_command_output_over_the_cap_kills_the_process() -> None:
    pids: list[int] = []
    with pytest.raises(ToolOutputTooLarge, match="more than 10000 bytes"):
        await call(CommandTool("yes", ["yes"], max_output=10_000), pids)
    await assert_gone(pids[0])


async def test_a_missing_or_non_executable_program_is_command_not_found(tmp_path: Path) -> None:
    plain = tmp_path / "not-a-program"
    plain.write_text("#!/bin/sh\necho hi\n")
    plain.chmod(0o644)
    cases = {
        "soma-no-such-program": "was not found on PATH",
        str(tmp_path / "missing"): "was not found",
        str(plain): "is not executable",
        str(tmp_path): "is not executable",
    }
    for program, reason in cases.items():
        with pytest.raises(CommandNotFound, match=reason) as info:
            await call(CommandTool("prog", [program]))
        assert info.value.program == program


async def test_a_non_zero_exit_is_a_failure_with_the_code_and_the_stderr_tail() -> None:
    failing = CommandTool("failing", ["sh", "-c", "echo out; echo 'what went wrong' >&2; exit 3"])
    with pytest.raises(CommandFailed) as info:
        await call(failing)
    assert info.value.returncode == 3
    assert (
        str(info.value) == "tool 'failing' failed: command 'sh' exited with code 3; stderr: what went wrong"
    )
    killed = CommandTool("killed", ["sh", "-c", "kill -SEGV $$"])
    with pytest.raises(CommandFailed, match="killed by signal SIGSEGV"):
        await call(killed)


async def test_a_cancelled_command_is_killed_and_reaped() -> None:
    pids: list[int] = []
    spawned = anyio.Event()

    def on_spawn(pid: int) -> None:
        pids.append(pid)
        spawned.set()

    sleeper = CommandTool("sleeper", ["sleep", "60"])
    with anyio.CancelScope() as scope:
        async with anyio.create_task_group() as tg:
            tg.start_soon(
                lambda: sleeper.invoke(sleeper.validate_args({}), context(sleeper), on_spawn=on_spawn)
            )
            await spawned.wait()
            scope.cancel()
    await assert_gone(pids[0])


async def test_a_command_whose_caller_times_out_is_killed_and_reaped() -> None:
    pids: list[int] = []
    with pytest.raises(TimeoutError):
        with anyio.fail_after(0.2):
            await call(CommandTool("sleeper", ["sleep", "60"]), pids)
    await assert_gone(pids[0])


async def test_a_command_ignoring_sigterm_is_sigkilled_with_its_children(tmp_path: Path) -> None:
    fifo = tmp_path / "ready"
    os.mkfifo(fifo)
    # The shell ignores SIGTERM and so does the `sleep` it starts (an ignored signal stays
    # ignored across exec): only SIGKILL to the whole group stops both.
    stubborn = CommandTool(
        "stubborn",
        ["sh", "-c", 'trap "" TERM; echo ready > "$1"; sleep 60', "sh", "{fifo}"],
        kill_grace=0.2,
    )
    pids: list[int] = []
    with anyio.CancelScope() as scope:
        async with anyio.create_task_group() as tg:
            tg.start_soon(lambda: call(stubborn, pids, fifo=str(fifo)))
            await wait_ready(fifo)
            started = time.monotonic()
            scope.cancel()
    assert 0.2 <= time.monotonic() - started < 5
    await assert_gone(pids[0])


async def test_a_command_leaves_no_background_process_behind() -> None:
    pids: list[int] = []
    spawner = CommandTool("spawner", ["sh", "-c", "sleep 60 & echo started"])
    with anyio.fail_after(5):  # the background sleep holds stdout open until it is killed
        assert await call(spawner, pids) == "started\n"
    await assert_gone(pids[0])


async def test_a_command_runs_in_the_tool_root_unless_given_a_cwd(tmp_path: Path) -> None:
    assert await call(CommandTool("pwd", ["pwd"]), root=tmp_path) == f"{tmp_path}\n"
    elsewhere = tmp_path / "sub"
    elsewhere.mkdir()
    assert await call(CommandTool("pwd", ["pwd"], cwd=elsewhere), root=tmp_path) == f"{elsewhere}\n"
    with pytest.raises(ToolFailed, match="cannot use working directory"):
        await call(CommandTool("pwd", ["pwd"], cwd=tmp_path / "missing"))


async def test_a_command_cancelled_while_it_is_being_spawned_leaves_nothing_behind() -> None:
    # The scope is cancelled before the spawn: the child is still started (spawning is
    # shielded), then stopped with its whole group — not just its leader — at once.
    pids: list[int] = []
    with anyio.CancelScope() as scope:
        scope.cancel()
        await call(CommandTool("spawner", ["sh", "-c", "sleep 60 & wait"]), pids)
    assert scope.cancelled_caught
    await assert_gone(pids[0])
