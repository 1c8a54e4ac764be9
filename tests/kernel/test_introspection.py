"""Introspection: the live tree (supervisors, children, pids, states), each process's queue
depth and the message it is handling — what the dashboard and ``soma status`` show."""

from __future__ import annotations

import asyncio
import functools
from typing import Any

import pytest

from soma_runtime.kernel import (
    SUPERVISOR,
    Call,
    ChildSpec,
    DynamicSupervisor,
    GenServer,
    Node,
    Supervisor,
    VirtualClock,
    process_info,
    render,
    settle,
    tree,
)

pytestmark = pytest.mark.anyio


class Gate(GenServer):
    """Blocks inside handle_call until the gate opens, so a test can look at it mid-message."""

    async def init(self) -> None:
        self.gate = asyncio.Event()

    async def handle_call(self, request: Any, caller: Call) -> Any:
        if request == "block":
            await self.gate.wait()
        return request

    async def handle_cast(self, message: Any) -> None:
        pass


async def test_tree_shows_supervisors_children_in_start_order_with_ids() -> None:
    async with Node.open(VirtualClock()) as node:
        inner = ChildSpec(
            "inner", lambda: Supervisor.start_link([ChildSpec("leaf", Gate.start_link)]), kind=SUPERVISOR
        )
        root = await Supervisor.start_link([ChildSpec("a", Gate.start_link), inner], name="root")
        dyn = await DynamicSupervisor.start_link(ChildSpec("w", Gate.start_link))
        kids = [await DynamicSupervisor.start_child(dyn) for _ in range(3)]

        roots = tree(node)
        assert [r.pid for r in roots] == [root, dyn]
        top = roots[0]
        assert top.behaviour == "supervisor" and top.name == "root"
        assert [c.child_id for c in top.children] == ["a", "inner"]
        assert [c.child_id for c in top.children[1].children] == ["leaf"]
        assert [c.pid for c in roots[1].children] == kids
        assert all(info.pid.is_alive() for r in roots for info in r.walk())
        assert {info.pid for r in roots for info in r.walk()} == {p.pid for p in node.processes()}
        text = render(roots)
        assert "'leaf' [gen_server] waiting q=0" in text


async def test_queue_depth_and_current_message_of_a_busy_server() -> None:
    async with Node.open(VirtualClock()):
        pid = await Gate.start()
        assert pid is not None
        blocked = asyncio.ensure_future(pid.call("block"))
        await settle()
        for i in range(3):
            await pid.cast(i)
        info = process_info(pid)
        assert info.status == "running"
        assert info.current_message is not None and "'block'" in info.current_message
        assert info.queue_depth == 3
        pid.process.behaviour.gate.set()  # the casts wait behind the blocked call
        await settle()
        assert await blocked == "block"
        info = process_info(pid)
        assert (info.status, info.queue_depth, info.current_message) == ("waiting", 0, None)


async def test_exited_process_shows_as_exited_and_leaves_the_tree() -> None:
    async with Node.open(VirtualClock()) as node:
        pid = await Gate.start()
        assert pid is not None
        await node.stop(pid)
        assert process_info(pid).status == "exited"
        assert pid not in {info.pid for r in tree(node) for info in r.walk()}


async def idle_worker(process: object, gate: asyncio.Event) -> None:
    await gate.wait()


async def test_a_plain_process_is_named_after_the_function_it_runs() -> None:
    async with Node.open(VirtualClock()) as node:
        gate = asyncio.Event()
        plain = node.spawn(idle_worker, gate)
        wrapped = node.spawn(functools.partial(idle_worker, gate=gate))
        anonymous = node.spawn(lambda _process: gate.wait())
        await settle()
        assert [(i.behaviour, i.module) for i in map(process_info, (plain, wrapped, anonymous))] == [
            ("process", "idle_worker"),
            ("process", "idle_worker"),
            ("process", "Event.wait"),  # what the lambda returned
        ]
        gate.set()
