"""DynamicSupervisor (simple_one_for_one) conformance, against ``docs/otp-checklist.md``.

Lines proved here: the dynamic supervisor's parallel shutdown, count_children with 2,000
temporary children, and "dynamic children are not restored when their supervisor is
restarted by its parent"; plus restart types, intensity, failed restarts, terminate_child,
reports and invalid flags for dynamic supervisors. Same rules as ``test_supervisor.py``:
processes are watched, time is virtual, nothing sleeps.
"""

from __future__ import annotations

import functools
from typing import Any

import pytest
from _workers import (
    FAIL,
    IGNORED,
    OK,
    Crash,
    InitRefused,
    Journal,
    crash,
    exit_order,
    exit_with,
    in_background,
    open_node,
    worker,
)

from soma_runtime.kernel import (
    KILLED,
    NORMAL,
    RESTARTING,
    SHUTDOWN,
    SUPERVISOR,
    TEMPORARY,
    TRANSIENT,
    WORKER,
    Backoff,
    ChildInfo,
    ChildNotFound,
    ChildRestarted,
    ChildSpec,
    DynamicSupervisor,
    InvalidSpec,
    MaxChildren,
    Pid,
    ProcessDied,
    StartError,
    Supervisor,
    SupervisorShutdown,
    settle,
)

pytestmark = pytest.mark.anyio


async def counts(sup: Pid) -> tuple[int, int, int, int]:
    c = await DynamicSupervisor.count_children(sup)
    return (c.specs, c.active, c.supervisors, c.workers)


async def live_children(sup: Pid) -> list[Any]:
    return [row.pid for row in await DynamicSupervisor.which_children(sup)]


# == Supervisor start and stop =================================================================


async def test_dynamic_supervisor_stops_all_children_in_parallel_bounded_by_one_timeout() -> None:
    """Dynamic supervisor: all children stopped in parallel; total stop time bounded by one
    shutdown timeout, not the sum."""
    async with open_node() as (node, clock):
        j = Journal()
        j.stubborn.add("w")  # every child ignores the graceful stop
        sup = await DynamicSupervisor.start_link(worker(j, "w", shutdown=1.0))
        pids = [await DynamicSupervisor.start_child(sup, n) for n in range(50)]
        async with in_background(lambda: node.stop(sup, timeout=None)) as stopping:
            assert len(j.terminated()) == 50  # all asked at once...
            assert all(isinstance(pid, Pid) and pid.is_alive() for pid in pids)
            await clock.advance(1.0)  # ...and all killed at the one deadline
            assert all(isinstance(pid, Pid) and pid.exit_reason is KILLED for pid in pids)
        assert stopping.result() == SHUTDOWN and clock.now() == 1.0


async def test_dynamic_supervisor_stops_cooperating_children_with_reason_shutdown() -> None:
    """(start and stop) Children that honour the stop exit `shutdown` with no time passing,
    and a stop request reaches every one of them."""
    async with open_node() as (node, clock):
        j = Journal()
        sup = await DynamicSupervisor.start_link(worker(j, "w"))
        pids = [await DynamicSupervisor.start_child(sup, n) for n in range(10)]
        assert await node.stop(sup, timeout=None) == SHUTDOWN
        assert all(isinstance(p, Pid) and p.exit_reason == SHUTDOWN for p in pids)
        assert len(j.terminated()) == 10 and clock.now() == 0.0


async def test_dynamic_supervisor_stopped_during_terminate_child_still_stops_that_child() -> None:
    """(start and stop) A dynamic supervisor shut down while terminate_child waits on a child
    still stops that child before exiting: nothing outlives its supervisor."""
    async with open_node() as (node, clock):
        j = Journal()
        j.stubborn.add("w")
        sup = await DynamicSupervisor.start_link(worker(j, "w", shutdown=10.0))
        child = await DynamicSupervisor.start_child(sup)
        assert isinstance(child, Pid)

        async def terminate() -> None:
            with pytest.raises(ProcessDied):  # the supervisor exits before answering
                await DynamicSupervisor.terminate_child(sup, child)

        async with in_background(terminate):
            assert j.terminated() == [("w", SHUTDOWN)] and child.is_alive()
            async with in_background(lambda: node.stop(sup, timeout=None)) as stopping:
                await clock.advance(5.0)
                assert sup.is_alive() and child.is_alive()
                await clock.advance(5.1)
                assert child.exit_reason is KILLED
            assert stopping.result() == SHUTDOWN


# == Restart types and intensity ===============================================================


async def test_dynamic_children_restart_by_type_with_their_own_arguments() -> None:
    """(restart types, dynamic) permanent: restarted after any exit, with the same extra
    arguments; transient: not after normal, yes after errors; temporary: never, and gone."""
    async with open_node():
        j = Journal()
        perm = await DynamicSupervisor.start_link(worker(j, "p", "base"), intensity=10)
        x = await DynamicSupervisor.start_child(perm, "x")
        y = await DynamicSupervisor.start_child(perm, "y")
        assert isinstance(x, Pid) and isinstance(y, Pid)
        await exit_with(x, NORMAL)
        await crash(y)
        new = await live_children(perm)
        assert len(new) == 2 and x not in new and y not in new
        assert sorted([(await p.call("ping"))[2] for p in new]) == [("base", "x"), ("base", "y")]

        trans = await DynamicSupervisor.start_link(worker(j, "t", restart=TRANSIENT), intensity=10)
        a = await DynamicSupervisor.start_child(trans, "a")
        b = await DynamicSupervisor.start_child(trans, "b")
        assert isinstance(a, Pid) and isinstance(b, Pid)
        await exit_with(a, NORMAL)
        await crash(b)
        (restarted,) = await live_children(trans)
        assert restarted not in (a, b) and (await restarted.call("ping"))[2] == ("b",)

        temp = await DynamicSupervisor.start_link(worker(j, "tmp", restart=TEMPORARY))
        c = await DynamicSupervisor.start_child(temp)
        assert isinstance(c, Pid)
        await crash(c)
        assert await live_children(temp) == [] and j.starts("tmp") == 1


async def test_dynamic_intensity_exceeded_stops_all_children_and_exits_shutdown() -> None:
    """(intensity, dynamic) More than `intensity` restarts within `period` → all children
    stopped, the supervisor exits `shutdown`; both steps reported."""
    async with open_node() as (node, _clock):
        reports: list[Any] = []
        node.report_handlers.append(reports.append)
        j = Journal()
        sup = await DynamicSupervisor.start_link(worker(j, "w"), intensity=1, period=5.0)
        pids = [await DynamicSupervisor.start_child(sup, n) for n in range(3)]
        assert all(isinstance(p, Pid) for p in pids)
        first, second, third = pids
        assert isinstance(first, Pid) and isinstance(second, Pid) and isinstance(third, Pid)
        await crash(first, "one")
        assert len(reports) == 1 and isinstance(reports[0], ChildRestarted)
        assert reports[0].supervisor == sup and reports[0].old_pid == first
        assert isinstance(reports[0].new_pid, Pid) and reports[0].new_pid.is_alive()
        assert isinstance(reports[0].reason, Crash)
        await crash(second, "two")
        assert sup.exit_reason == SHUTDOWN
        assert isinstance(reports[1], SupervisorShutdown) and reports[1].supervisor == sup
        assert third.exit_reason == SHUTDOWN and reports[0].new_pid.exit_reason == SHUTDOWN


async def test_dynamic_failed_restart_counts_is_retried_and_shows_restarting() -> None:
    """(failed restart, dynamic) A restart whose start fails counts and is retried; the child
    shows as `restarting`; the supervisor answers and can shut down meanwhile."""
    async with open_node() as (node, _clock):
        # Retried: one failed attempt, then a retry that starts it.
        j = Journal()
        j.script("w", OK, FAIL)
        sup = await DynamicSupervisor.start_link(worker(j, "w"), intensity=2)
        child = await DynamicSupervisor.start_child(sup)
        assert isinstance(child, Pid)
        await crash(child)
        assert j.of("init_failed") == ["w"] and j.starts("w") == 2 and sup.is_alive()
        assert await live_children(sup) == [j.pid("w")]
        await node.stop(sup, timeout=None)

        # Counted: with intensity 2, a restart failing twice is the end.
        j = Journal()
        j.script("w", OK, FAIL, FAIL)
        sup = await DynamicSupervisor.start_link(worker(j, "w"), intensity=2)
        child = await DynamicSupervisor.start_child(sup)
        assert isinstance(child, Pid)
        await crash(child)
        assert j.of("init_failed") == ["w", "w"] and sup.exit_reason == SHUTDOWN

        # Restarting, answering, and stoppable while a restart keeps failing.
        j = Journal()
        j.script("w", OK, then=FAIL)
        sup = await DynamicSupervisor.start_link(worker(j, "w"), intensity=1000)
        child = await DynamicSupervisor.start_child(sup)
        assert isinstance(child, Pid)
        child.kill()  # no settle: the next call is answered between two attempts
        assert await DynamicSupervisor.which_children(sup) == [ChildInfo(None, RESTARTING, WORKER)]
        assert await counts(sup) == (1, 0, 0, 1)
        assert await node.stop(sup, timeout=None) == SHUTDOWN
        attempts = len(j.of("init_failed"))
        assert 1 <= attempts < 50
        await settle()
        assert len(j.of("init_failed")) == attempts and list(node.processes()) == []


async def test_dynamic_children_not_restored_when_the_supervisor_is_restarted_by_its_parent() -> None:
    """Dynamic children are not restored when their supervisor is restarted by its parent."""
    async with open_node():
        j = Journal()
        parent = await Supervisor.start_link(
            [
                worker(j, "p"),
                ChildSpec("dyn", DynamicSupervisor.start_link, (worker(j, "d"),), kind=SUPERVISOR),
            ],
            intensity=5,
        )
        (dyn1,) = [row.pid for row in await Supervisor.which_children(parent) if row.id == "dyn"]
        kids = [await DynamicSupervisor.start_child(dyn1, n) for n in range(3)]
        dyn1.kill()
        await settle()
        assert all(isinstance(k, Pid) and not k.is_alive() for k in kids)  # went down with it
        (dyn2,) = [row.pid for row in await Supervisor.which_children(parent) if row.id == "dyn"]
        assert isinstance(dyn2, Pid) and dyn2 != dyn1 and dyn2.is_alive()
        assert await counts(dyn2) == (0, 0, 0, 0)
        assert j.starts("d") == 3  # none of them was started again
        assert j.pid("p").is_alive() and j.starts("p") == 1


# == Child administration API ==================================================================


async def test_count_children_consistent_with_2000_temporary_children() -> None:
    """count_children: specs, active, supervisors, workers — consistent with 2,000 temporary
    children."""
    async with open_node():
        j = Journal()
        sup = await DynamicSupervisor.start_link(worker(j, "t", restart=TEMPORARY))
        pids: list[Pid] = []
        for n in range(2000):
            pid = await DynamicSupervisor.start_child(sup, n)
            assert isinstance(pid, Pid)
            pids.append(pid)
        assert await counts(sup) == (2000, 2000, 0, 2000)

        killed = pids[::4]  # 500 killed
        for pid in killed:
            pid.kill()
        for pid in pids[1::8]:  # 250 exit normally
            await pid.cast(("exit", NORMAL))
        for pid in pids[2::8]:  # 250 crash
            await pid.cast(("crash", "boom"))
        await settle()
        for pid in pids[3::16]:  # 125 terminated through the API
            await DynamicSupervisor.terminate_child(sup, pid)
        alive = [pid for pid in pids if pid.is_alive()]
        assert len(alive) == 2000 - 500 - 250 - 250 - 125
        assert await counts(sup) == (len(alive), len(alive), 0, len(alive))
        assert set(await live_children(sup)) == set(alive)
        assert j.starts("t") == 2000  # temporary: nothing was restarted


async def test_count_children_of_a_dynamic_supervisor_of_supervisors() -> None:
    """(count_children, dynamic) Children of kind SUPERVISOR count as supervisors."""
    async with open_node():
        template = ChildSpec(
            "sub", functools.partial(Supervisor.start_link, []), kind=SUPERVISOR, restart=TEMPORARY
        )
        sup = await DynamicSupervisor.start_link(template)
        subs = [await DynamicSupervisor.start_child(sup) for _ in range(3)]
        assert await counts(sup) == (3, 3, 3, 0)
        rows = await DynamicSupervisor.which_children(sup)
        assert rows == [ChildInfo(None, pid, SUPERVISOR) for pid in subs]


async def test_dynamic_terminate_child_by_pid_and_not_found() -> None:
    """(terminate_child, dynamic) By pid: the child exits `shutdown`; terminating it again is
    ok (OTP's child_adm_simple: a child that already exited is terminated already); a live
    process that is not a child is not_found."""
    async with open_node():
        j = Journal()
        sup = await DynamicSupervisor.start_link(worker(j, "w"))
        a = await DynamicSupervisor.start_child(sup, "a")
        b = await DynamicSupervisor.start_child(sup, "b")
        assert isinstance(a, Pid) and isinstance(b, Pid)
        order = exit_order([a, b])
        await DynamicSupervisor.terminate_child(sup, a)
        assert a.exit_reason == SHUTDOWN and order == [a]
        assert await DynamicSupervisor.terminate_child(sup, a) is None
        assert a.exit_reason == SHUTDOWN
        with pytest.raises(ChildNotFound):
            await DynamicSupervisor.terminate_child(sup, sup)
        assert await live_children(sup) == [b] and j.starts("w") == 2  # a was not restarted


async def test_dynamic_terminate_child_of_a_child_that_exited_on_its_own_is_ok() -> None:
    """(terminate_child, dynamic) A temporary child that already exited by itself: ok, and the
    supervisor and its other children are untouched."""
    async with open_node():
        j = Journal()
        sup = await DynamicSupervisor.start_link(worker(j, "w", restart=TEMPORARY))
        a = await DynamicSupervisor.start_child(sup, "a")
        b = await DynamicSupervisor.start_child(sup, "b")
        assert isinstance(a, Pid) and isinstance(b, Pid)
        a.exit(RuntimeError("crashed by itself"))
        await a.wait()
        assert await DynamicSupervisor.terminate_child(sup, a) is None
        assert sup.is_alive() and await live_children(sup) == [b]


async def test_dynamic_start_child_failure_and_ignore() -> None:
    """(start_child, dynamic) A child whose init fails makes start_child raise StartError with
    the reason; one that ignores returns None and is not kept."""
    async with open_node():
        j = Journal()
        j.script("w", FAIL, IGNORED)
        sup = await DynamicSupervisor.start_link(worker(j, "w"))
        with pytest.raises(StartError) as info:
            await DynamicSupervisor.start_child(sup)
        assert isinstance(info.value.reason, InitRefused)
        assert await DynamicSupervisor.start_child(sup) is None
        assert await counts(sup) == (0, 0, 0, 0) and sup.is_alive()


INVALID: list[tuple[str, object, dict[str, Any]]] = [
    ("intensity", -1, {"intensity": -1}),
    ("period", 0, {"period": 0}),
    ("max_children", -1, {"max_children": -1}),
]


@pytest.mark.parametrize(("field", "value", "flags"), INVALID, ids=[f for f, _, _ in INVALID])
async def test_dynamic_invalid_flags_rejected_naming_the_field_and_value(
    field: str, value: object, flags: dict[str, Any]
) -> None:
    """(invalid flags, dynamic) Rejected with InvalidSpec naming the field and the value."""
    async with open_node() as (node, _clock):
        j = Journal()
        with pytest.raises(InvalidSpec) as info:
            await DynamicSupervisor.start_link(worker(j, "w"), **flags)
        assert (info.value.field, info.value.value) == (field, value)
        assert field in str(info.value) and repr(value) in str(info.value)
        assert list(node.processes()) == []


async def test_dynamic_template_must_be_a_child_spec() -> None:
    """(invalid spec, dynamic) The template must be a ChildSpec."""
    async with open_node():
        with pytest.raises(InvalidSpec) as info:
            await DynamicSupervisor.start_link("worker")  # type: ignore[arg-type]
        assert (info.value.field, info.value.value) == ("template", "worker")


async def test_dynamic_restart_backoff_is_exponential_and_capped_on_the_virtual_clock() -> None:
    """(backoff, per supervisor) A dynamic child's n-th restart within the period waits
    initial·factor^(n-1), capped; it shows as restarting meanwhile; its siblings are untouched."""
    async with open_node() as (_node, clock):
        j = Journal()
        sup = await DynamicSupervisor.start_link(
            worker(j, "w"),
            intensity=100,
            period=1000.0,
            backoff=Backoff(initial=1.0, factor=2.0, maximum=4.0),
        )
        first = await DynamicSupervisor.start_child(sup)
        sibling = await DynamicSupervisor.start_child(sup)
        assert first is not None and sibling is not None
        current = first
        for n, delay in enumerate([1.0, 2.0, 4.0, 4.0], start=3):
            await crash(current)
            assert [c.pid for c in await DynamicSupervisor.which_children(sup)] == [sibling, RESTARTING]
            await clock.advance(delay - 0.01)
            assert j.starts("w") == n - 1
            await clock.advance(0.02)
            assert j.starts("w") == n, delay
            current = j.pid("w")
            assert current.is_alive() and current not in (first, sibling)
        assert sibling.is_alive()


async def test_max_children_is_a_typed_error_and_the_supervisor_keeps_serving() -> None:
    """(max_children) Starting past the limit fails with MaxChildren, like OTP's
    {error, max_children}; terminating a child makes room again."""
    async with open_node():
        j = Journal()
        sup = await DynamicSupervisor.start_link(worker(j, "w"), max_children=2)
        a = await DynamicSupervisor.start_child(sup)
        await DynamicSupervisor.start_child(sup)
        with pytest.raises(MaxChildren) as error:
            await DynamicSupervisor.start_child(sup)
        assert error.value.limit == 2
        assert a is not None
        await DynamicSupervisor.terminate_child(sup, a)
        assert (await DynamicSupervisor.start_child(sup)) is not None
