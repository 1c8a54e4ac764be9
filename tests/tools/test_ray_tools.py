"""``isolation="ray"`` on a real local Ray instance: one for the whole test session (starting
one takes seconds), started the way ``Runtime.open(ray=...)`` starts one, in a worker thread.

Each test opens a runtime with ``ray=True``, which joins that connection and leaves it
running when it closes. A stopped tool is checked by its worker's OS pid, which the tool
reports through a FIFO; the resume test SIGKILLs a real child runtime connected by address.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from unittest.mock import ANY

import _ray_tools as rtt
import anyio
import anyio.to_thread
import pytest
from anyio.streams.buffered import BufferedByteReceiveStream

from soma_runtime import RayConfig, RunHandle, RunState, Runtime, Session, Step
from soma_runtime.tools import ray_cluster
from soma_runtime.tools.errors import RayUnavailable
from soma_runtime.tools.spec import ToolContext

pytestmark = pytest.mark.anyio

HERE = Path(__file__).parent
ROOT = HERE.parents[1]


@pytest.fixture(scope="session")
def ray_instance() -> Iterator[ray_cluster.RayConnection]:
    ray = ray_cluster.import_ray()
    config = RayConfig(num_cpus=2)  # no dashboard and log_to_driver off: Soma's defaults
    with ThreadPoolExecutor(1) as thread:  # as Runtime.open does: Ray's signal handlers stay off
        connection = thread.submit(ray_cluster.connect, config).result()
        assert connection.started and ray.is_initialized()
        yield connection
        thread.submit(ray_cluster.disconnect, connection).result()
    assert ray_cluster.current() is None and not ray.is_initialized(), "Soma started it: Soma stops it"


@pytest.fixture
def ray_runtime_options(ray_instance: ray_cluster.RayConnection) -> dict[str, Any]:
    return {"tools": rtt.TOOLS, "ray": True, "vitals": False, "cancel_grace": 5.0}


def gone(pid: int) -> bool:
    """No such process, or one that has exited and only waits to be reaped (it runs nothing)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat[stat.rindex(")") + 2] in "ZX"


async def reported_pid(fifo: Path) -> int:
    """The pid a tool writes to ``fifo`` (opening it for reading waits for the writer)."""
    with anyio.fail_after(30):
        return int(await anyio.to_thread.run_sync(fifo.read_text, abandon_on_cancel=True))


@asynccontextmanager
async def blocked_run(
    options: dict[str, Any], folder: Path, timeout: float | None = None, **open_args: Any
) -> AsyncIterator[tuple[Runtime, Session, RunHandle, int]]:
    """A runtime whose one run is blocked in the ``blocked`` Ray tool, with its worker's pid
    (``timeout`` is the step's; ``open_args`` go to ``Runtime.open``)."""
    fifo = folder / "pid.fifo"
    os.mkfifo(fifo)
    async with Runtime.open(**options, **open_args) as rt:
        session = await rt.start_session("agent")
        run = await session.start_run([Step("s1", "blocked", {"fifo": str(fifo)}, timeout=timeout)])
        yield rt, session, run, await reported_pid(fifo)


async def test_a_ray_tool_runs_in_a_ray_worker_and_its_output_comes_back_to_the_run(
    ray_instance: ray_cluster.RayConnection, ray_runtime_options: dict[str, Any], tmp_path: Path
) -> None:
    async with Runtime.open(root=tmp_path, **ray_runtime_options) as rt:
        session = await rt.start_session("agent")
        run = await session.start_run([Step("s1", "add", {"a": 40}), Step("s2", "describe", {"label": "x"})])
        result = await run.result()
        assert result.state is RunState.COMPLETED, result.error
        assert result.outputs["s1"]["sum"] == 42
        worker = result.outputs["s1"]["pid"]
        assert worker != os.getpid()
        described = result.outputs["s2"]
        assert described["label"] == "x" and described["root"] == str(tmp_path)
        assert described["ids"]["run_id"] == run.run_id and described["ids"]["step_id"] == "s2"
        started = await rt.events.query(run_id=run.run_id, type="tool.started")
        assert [e.payload["isolation"] for e in started] == ["ray", "ray"]
        assert ray_instance.users == 2
    # The runtime joined a connection it did not make: Ray is still there for the others.
    assert ray_cluster.current() is ray_instance and ray_instance.users == 1
    assert ray_cluster.import_ray().is_initialized()


async def test_a_cancelled_ray_tool_is_gone_with_its_worker_process_when_cancel_returns(
    ray_runtime_options: dict[str, Any], tmp_path: Path
) -> None:
    async with blocked_run(ray_runtime_options, tmp_path) as (rt, session, run, worker):
        assert not gone(worker)
        result = await run.cancel()
        # Not polled: the run waited until Ray reported the task ended, worker and all.
        assert gone(worker), f"Ray worker {worker} still runs after the cancel returned"
        assert result.state is RunState.CANCELLED
        failed = await rt.events.query(run_id=run.run_id, type="tool.failed")
        assert [e.payload["isolation"] for e in failed] == ["ray"]
        # The instance goes on serving after a worker was killed.
        again = await session.start_run([Step("s1", "add", {"a": 1})])
        assert (await again.result()).outputs["s1"]["sum"] == 3


async def test_a_ray_tool_that_overruns_its_step_timeout_is_killed(
    ray_runtime_options: dict[str, Any], tmp_path: Path
) -> None:
    async with blocked_run(ray_runtime_options, tmp_path, timeout=1.0) as (_, _, run, worker):
        result = await run.result()
        assert gone(worker), f"Ray worker {worker} still runs after the timeout ended the run"
        assert result.state is RunState.TIMEOUT and "timed out after 1.0s" in (result.error or "")


async def test_a_runtime_that_stops_in_order_kills_its_ray_tools_first(
    ray_runtime_options: dict[str, Any], tmp_path: Path
) -> None:
    db = tmp_path / "soma.db"
    async with blocked_run(ray_runtime_options, tmp_path, db=db) as (_, _, run, worker):
        pass
    assert gone(worker), f"Ray worker {worker} outlived the runtime that ran it"
    async with Runtime.open(db=db, vitals=False) as rt:
        [end] = await rt.events.query(run_id=run.run_id, type="run.cancelled")
    assert end.payload["reason"] == "shutdown"


async def test_a_crashing_or_raising_ray_tool_fails_its_run(ray_runtime_options: dict[str, Any]) -> None:
    async with Runtime.open(**ray_runtime_options) as rt:
        session = await rt.start_session("agent")
        crashed = await (await session.start_run([Step("s1", "crash", {"code": 3})])).result()
        assert crashed.state is RunState.FAILED
        assert "RayTaskLost" in (crashed.error or "")
        assert "its Ray task ended without returning a result (WorkerCrashedError)" in (crashed.error or "")
        raised = await (await session.start_run([Step("s1", "explode", {"message": "no way"})])).result()
        assert raised.state is RunState.FAILED
        assert "tool 'explode' failed: ValueError: no way" in (raised.error or "")
        # Ray never retried the crash on its own (max_retries=0): one start, one failure.
        failed = await rt.events.query(run_id=crashed.run_id, type=["tool.started", "tool.failed"])
        assert [e.type for e in failed] == ["tool.started", "tool.failed"]


async def test_a_runtime_killed_with_ray_tools_in_flight_resumes_by_the_idempotency_rule(
    ray_instance: ray_cluster.RayConnection, tmp_path: Path
) -> None:
    ray = ray_cluster.import_ray()
    address = ray.get_runtime_context().gcs_address
    db, side, gate = tmp_path / "soma.db", tmp_path / "side", tmp_path / "gate"
    gate.touch()
    fifos = {label: tmp_path / f"{label}.fifo" for label in ("safe", "once")}
    for fifo in fifos.values():
        os.mkfifo(fifo)
    child = await anyio.open_process(
        [sys.executable, str(HERE / "_ray_child.py"), str(db), address, str(tmp_path)], stderr=None
    )
    try:
        assert child.stdout is not None
        lines = BufferedByteReceiveStream(child.stdout)
        with anyio.fail_after(30):
            started = [(await lines.receive_until(b"\n", 1000)).decode() for _ in range(2)]
        runs = dict(line.split()[1:] for line in started)
        workers = {label: await reported_pid(fifo) for label, fifo in fifos.items()}
    finally:
        child.kill()  # SIGKILL: nothing of the runtime runs after it
        await child.wait()
    # Ray ends the tasks of a driver that went away: nothing the dead runtime ran lives on.
    with anyio.fail_after(30):
        while not all(map(gone, workers.values())):  # noqa: ASYNC110 - no event for another's exit
            await anyio.sleep(0.05)
    gate.unlink()  # from now on the tools return at once

    async with Runtime.open(db=db, tools=rtt.TOOLS, ray=True, vitals=False) as rt:
        assert sorted(rt.recovery.resumed) == [runs["safe"]]
        assert rt.recovery.ended == {runs["once"]: "resume_unsafe"}
        with anyio.fail_after(30):
            safe = await (await rt.run(runs["safe"])).result()
            once = await (await rt.run(runs["once"])).result()
    assert safe.state is RunState.COMPLETED and safe.outputs["s1"]["label"] == "safe"
    assert once.state is RunState.FAILED and "resume_unsafe" in (once.error or "")
    executions = [line.split()[0] for line in side.read_text().splitlines()]
    assert sorted(executions) == ["once", "safe", "safe"], "only the idempotent call ran again"


def test_without_ray_a_ray_tool_fails_clearly_and_nothing_imports_ray(tmp_path: Path) -> None:
    # In a fresh interpreter: this one has Ray connected for the session.
    code = textwrap.dedent(
        """
        import sys, anyio
        from soma_runtime import Runtime, RayConfig, Step, tool
        from soma_runtime.tools import ray_cluster
        from soma_runtime.tools.errors import RayUnavailable
        import soma_runtime.runtime, soma_runtime.tools._isolation

        @tool(isolation="ray")
        def double(x: int) -> int:
            return 2 * x

        print("imported ray:", "ray" in sys.modules)

        async def run() -> str | None:
            async with Runtime.open(tools=[double], vitals=False) as rt:
                session = await rt.start_session("agent")
                return (await (await session.start_run([Step("s1", "double", {"x": 2})])).result()).error

        print("not connected:", anyio.run(run))
        sys.modules["ray"] = None  # as if the extra were not installed
        print("not installed:", anyio.run(run))
        try:
            ray_cluster.connect(RayConfig())
        except RayUnavailable as exc:
            print("open:", exc)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, check=True
    ).stdout.splitlines()
    assert out[0] == "imported ray: False"
    assert "this process is not connected to Ray: open the runtime with Runtime.open(ray=...)" in out[1]
    assert "Ray is not installed" in out[2] and "pip install 'soma-runtime[ray]'" in out[2]
    assert out[3].startswith("open: Ray: Ray is not installed")


def test_ray_settings_are_checked_before_anything_starts() -> None:
    with pytest.raises(ValueError, match="num_cpus sizes a local Ray instance"):
        RayConfig(address="auto", num_cpus=2)
    with pytest.raises(ValueError, match="num_cpus must be a positive int"):
        RayConfig(num_cpus=0)
    assert ray_cluster.as_config("ray://head:10001") == RayConfig(address="ray://head:10001")
    assert ray_cluster.as_config(False) is None
    with pytest.raises(TypeError, match="ray must be True, False, None, an address or a RayConfig"):
        ray_cluster.as_config(3)  # type: ignore[arg-type]
    options = RayConfig(task_options={"num_cpus": 2, "max_retries": 5}, tool_options={"t": {"num_gpus": 1}})
    # Ray never retries a tool call: resume decides that.
    fixed = {"max_retries": 0, "retry_exceptions": False}
    assert options.options_for("t") == {"num_cpus": 2, "num_gpus": 1, **fixed}
    local = RayConfig(num_cpus=2, init_options={"include_dashboard": True}).init_kwargs()
    assert local == {"address": "local", "num_cpus": 2, "include_dashboard": True, "log_to_driver": False}


async def test_task_options_ray_refuses_fail_the_call_with_a_typed_error(
    ray_instance: ray_cluster.RayConnection,
) -> None:
    spec = rtt.add
    ctx = ToolContext(spec.name, "tc-1")
    bad = dataclasses.replace(ray_instance.config, tool_options={"add": {"num_cpu": 1}})  # a typo
    ray_instance.config = bad
    try:
        with pytest.raises(RayUnavailable, match="Ray refused to start its task"):
            await spec.invoke(spec.validate_args({"a": 1}), ctx)
    finally:
        ray_instance.config = dataclasses.replace(bad, tool_options={})
    assert await spec.invoke(spec.validate_args({"a": 1}), ctx) == {"sum": 3, "pid": ANY}


async def test_a_second_address_in_one_process_is_refused(ray_instance: ray_cluster.RayConnection) -> None:
    with pytest.raises(RayUnavailable, match="already connected to Ray"):
        async with Runtime.open(ray="10.9.9.9:6379", vitals=False):
            pass
    assert ray_instance.users == 1
