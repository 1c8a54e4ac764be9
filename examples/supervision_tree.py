"""A supervision tree with a crashing worker.

    python examples/supervision_tree.py

A root supervisor (one_for_one) runs a counter and a flaky worker that crashes on every
third job. The supervisor restarts the flaky worker each time, while the counter keeps its
pid and its state. Then a burst of crashes exceeds the restart intensity and the tree shuts
down in order — the same decisions an Erlang supervisor would make.
"""

from __future__ import annotations

from typing import Any

import anyio
import anyio.lowlevel

from soma_runtime.kernel import (
    ONE_FOR_ONE,
    Call,
    ChildRestarted,
    ChildSpec,
    GenServer,
    Node,
    NoProc,
    Pid,
    ProcessDied,
    Supervisor,
    SupervisorShutdown,
    render,
    tree,
)


class Counter(GenServer):
    async def init(self) -> None:
        self.count = 0

    async def handle_call(self, request: Any, caller: Call) -> Any:
        self.count += 1
        return self.count


class Flaky(GenServer):
    async def init(self) -> None:
        self.jobs = 0

    async def handle_call(self, request: Any, caller: Call) -> Any:
        self.jobs += 1
        if self.jobs % 3 == 0:
            raise RuntimeError(f"job {request!r} hit a bad input")
        return f"done {request}"

    async def terminate(self, reason: object) -> None:
        print(f"    flaky: terminate({reason})")


async def child(sup: Pid, child_id: str) -> Pid:
    for info in await Supervisor.which_children(sup):
        if info.id == child_id and isinstance(info.pid, Pid):
            return info.pid
    raise LookupError(f"{child_id} is not running")


async def main() -> None:
    async with Node.open() as node:
        node.report_handlers.append(
            lambda r: (
                print(
                    f"    report: {r.child_id!r} restarted {r.old_pid} -> {r.new_pid}"
                    if isinstance(r, ChildRestarted)
                    else f"    report: supervisor {r.supervisor} gave up: {r.reason}"
                )
                if isinstance(r, (ChildRestarted, SupervisorShutdown))
                else None
            )
        )
        root = await Supervisor.start_link(
            [ChildSpec("counter", Counter.start_link), ChildSpec("flaky", Flaky.start_link)],
            strategy=ONE_FOR_ONE,
            intensity=3,
            period=5.0,
            name="root",
        )
        print("the tree:")
        print(render(tree(node)))
        counter = await child(root, "counter")
        await counter.call("tick")

        for job in range(1, 7):
            flaky = await child(root, "flaky")
            try:
                print(f"job {job}: {await flaky.call(job)}  (flaky is {flaky})")
            except ProcessDied as died:
                print(f"job {job}: the worker crashed: {died.reason}")

        print(f"the counter kept its pid {counter} and its state: {await counter.call('tick')}")

        print("a burst of crashes, faster than the intensity allows (3 in 5 s):")
        while root.is_alive():
            try:
                await (await child(root, "flaky")).call("burst")
            except (ProcessDied, NoProc, LookupError):
                await anyio.lowlevel.checkpoint()  # let the supervisor decide
        print(f"root supervisor exited: {root.exit_reason}; counter alive: {counter.is_alive()}")


if __name__ == "__main__":
    anyio.run(main, backend="asyncio")
