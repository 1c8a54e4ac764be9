"""Supervisor conformance: one test per line of ``docs/otp-checklist.md``.

Sections covered: "Supervisor start and stop", "Restart types by exit reason", "Strategies
and intensity", "Significant children (auto_shutdown)", "Child administration API" and the
supervisor line of "Links, monitors, exits"; then restart backoff, supervisor reports,
escalation through a two-level tree and invalid specs. The DynamicSupervisor lines live in
``test_dynamic_supervisor.py``.

Each test watches processes, not flags: pids alive or dead, exit reasons, new pids against
old ones; stop order comes from the workers' journal (``terminate`` calls) or from kernel
watchers. All time is virtual: ``await clock.advance(s)`` moves it, ``await settle()`` lets
the system react. Nothing sleeps.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Hashable
from typing import Any

import pytest
from _workers import (
    FAIL,
    IGNORED,
    OK,
    Crash,
    InitRefused,
    Journal,
    Worker,
    crash,
    exit_order,
    exit_with,
    in_background,
    open_node,
    worker,
)

from soma_runtime.kernel import (
    BRUTAL_KILL,
    INFINITY,
    KILLED,
    NORMAL,
    ONE_FOR_ALL,
    ONE_FOR_ONE,
    PERMANENT,
    REST_FOR_ONE,
    RESTARTING,
    SHUTDOWN,
    SUPERVISOR,
    TEMPORARY,
    TRANSIENT,
    WORKER,
    AlreadyPresent,
    AlreadyStarted,
    AutoShutdown,
    Backoff,
    ChildInfo,
    ChildNotFound,
    ChildRestarted,
    ChildRestarting,
    ChildRunning,
    ChildSpec,
    InvalidSpec,
    Pid,
    Shutdown,
    StartError,
    Strategy,
    Supervisor,
    SupervisorShutdown,
    settle,
)

pytestmark = pytest.mark.anyio


def sub_supervisor(child_id: Hashable, children: list[ChildSpec], **flags: Any) -> ChildSpec:
    """A ChildSpec for a nested supervisor (kind SUPERVISOR, default shutdown)."""
    return ChildSpec(
        child_id, functools.partial(Supervisor.start_link, **flags), (children,), kind=SUPERVISOR
    )


async def child_pid(sup: Pid, child_id: Hashable) -> Any:
    """What ``which_children`` shows for ``child_id``: a Pid, RESTARTING or None."""
    for row in await Supervisor.which_children(sup):
        if row.id == child_id:
            return row.pid
    raise AssertionError(f"{child_id!r} is not a child of {sup}")


async def child_ids(sup: Pid) -> list[Hashable]:
    return [row.id for row in await Supervisor.which_children(sup)]


def make_restarting(journal: Journal, child_id: Hashable) -> None:
    """Kill ``child_id`` with every later start of it scripted to fail.

    Returns without yielding: the supervisor has the exit signal queued, and the test's next
    admin call queues behind it, so that call is answered after the first failed restart —
    while the child shows as ``RESTARTING``. (Each retry is queued behind the mailbox, so
    every later call is answered between two attempts, too.)
    """
    journal.script(child_id, then=FAIL)
    journal.pid(child_id).kill()


def others_dead(journal: Journal, child_id: Hashable) -> bool:
    """Every pid ``child_id`` ever had, except its latest, is dead."""
    return not any(pid.is_alive() for pid in journal.pids[child_id][:-1])


# == Supervisor start and stop ===============================================================


async def test_children_start_in_list_order_synchronously_start_returns_after_every_init() -> None:
    """Children start in list order, synchronously: `start` returns after every child's init."""
    async with open_node():
        j = Journal()
        sup = await Supervisor.start_link([worker(j, "a"), worker(j, "b"), worker(j, "c")])
        # No settle(): start_link itself waited. Each init (which yields to the loop several
        # times) completed before the next child's init began.
        assert [(kind, cid) for kind, cid, _ in j.events] == [
            ("enter", "a"), ("init", "a"),
            ("enter", "b"), ("init", "b"),
            ("enter", "c"), ("init", "c"),
        ]  # fmt: skip
        pids = [j.pid(c) for c in "abc"]
        assert all(pid.is_alive() for pid in pids)
        assert [row.pid for row in await Supervisor.which_children(sup)] == pids


async def test_failed_child_start_stops_started_children_and_fails_naming_child_and_reason() -> None:
    """A child whose start fails makes the supervisor stop the children already started and
    fail its own start with an error naming the child and the reason."""
    async with open_node() as (node, _clock):
        j = Journal()
        j.script("c", FAIL)
        with pytest.raises(StartError) as info:
            await Supervisor.start_link([worker(j, "a"), worker(j, "b"), worker(j, "c"), worker(j, "d")])
        error = info.value
        assert error.child_id == "c"
        assert isinstance(error.reason, InitRefused)
        assert "'c'" in str(error) and "c refused to start" in str(error)
        # a and b were started, then stopped last-first; d was never started.
        assert j.terminated() == [("b", SHUTDOWN), ("a", SHUTDOWN)]
        assert j.pid("a").exit_reason == SHUTDOWN and j.pid("b").exit_reason == SHUTDOWN
        assert j.starts("d") == 0
        await settle()
        assert list(node.processes()) == []  # the supervisor is gone too


async def test_nested_start_failure_names_the_whole_path() -> None:
    """(start and stop) A start failure deep in a tree names each level's child down to the cause."""
    async with open_node() as (node, _clock):
        j = Journal()
        j.script("leaf", FAIL)
        with pytest.raises(StartError) as info:
            await Supervisor.start_link([worker(j, "w"), sub_supervisor("mid", [worker(j, "leaf")])])
        error = info.value
        assert error.child_id == "mid"
        assert isinstance(error.reason, StartError) and error.reason.child_id == "leaf"
        assert isinstance(error.reason.reason, InitRefused)
        assert "'mid'" in str(error) and "'leaf'" in str(error)
        assert j.pid("w").exit_reason == SHUTDOWN
        await settle()
        assert list(node.processes()) == []


async def test_ignoring_child_keeps_its_spec_without_pid_and_temporary_one_is_dropped() -> None:
    """A child whose init returns "ignore": spec kept with no pid (dropped if temporary)."""
    async with open_node():
        j = Journal()
        j.script("b", IGNORED)
        j.script("t", IGNORED)
        sup = await Supervisor.start_link(
            [worker(j, "a"), worker(j, "b"), worker(j, "t", restart=TEMPORARY), worker(j, "c")]
        )
        rows = await Supervisor.which_children(sup)
        assert [(row.id, row.pid) for row in rows] == [
            ("a", j.pid("a")), ("b", None), ("c", j.pid("c")),
        ]  # fmt: skip
        # The kept spec is a real spec: it can be started later.
        b = await Supervisor.restart_child(sup, "b")
        assert isinstance(b, Pid) and b.is_alive() and b == j.pid("b")

        # The same through start_child.
        j.script("u", IGNORED)
        j.script("v", IGNORED)
        assert await Supervisor.start_child(sup, worker(j, "u")) is None
        assert await Supervisor.start_child(sup, worker(j, "v", restart=TEMPORARY)) is None
        assert await child_ids(sup) == ["a", "b", "c", "u"]
        assert await child_pid(sup, "u") is None


async def test_stop_terminates_children_in_reverse_start_order_each_with_its_own_shutdown() -> None:
    """Stop terminates children in reverse start order, each with its own shutdown spec."""
    async with open_node() as (node, clock):
        j = Journal()
        j.stubborn |= {"a", "c"}
        sup = await Supervisor.start_link([
            worker(j, "a", shutdown=1.0),
            worker(j, "b", shutdown=BRUTAL_KILL),
            worker(j, "c", shutdown=3.0),
            worker(j, "d", shutdown=60.0),
        ])  # fmt: skip
        a, b, c, d = (j.pid(x) for x in "abcd")
        order = exit_order([a, b, c, d])
        async with in_background(lambda: node.stop(sup, timeout=None)) as stopping:
            # d cooperates at once; c ignores the stop and has 3 s.
            assert order == [d] and d.exit_reason == SHUTDOWN
            await clock.advance(2.9)
            assert order == [d] and c.is_alive()
            await clock.advance(0.2)  # t = 3.1: c killed at 3.0, b killed at once, a got 1 s
            assert order == [d, c, b]
            assert c.exit_reason is KILLED and b.exit_reason is KILLED
            await clock.advance(0.8)  # t = 3.9
            assert a.is_alive()
            await clock.advance(0.2)  # t = 4.1: a killed at 4.0
            assert order == [d, c, b, a] and a.exit_reason is KILLED
        assert stopping.result() == SHUTDOWN and not sup.is_alive()
        # b was killed brutally: its terminate never ran.
        assert j.terminated() == [("d", SHUTDOWN), ("c", SHUTDOWN), ("a", SHUTDOWN)]


async def test_shutdown_seconds_is_graceful_then_kills_at_the_deadline_with_reason_killed() -> None:
    """shutdown = seconds: child gets a graceful stop, is killed if still alive at the deadline;
    exit reason `killed` then."""
    async with open_node() as (node, clock):
        j = Journal()
        j.stubborn.add("slow")
        sup = await Supervisor.start_link([worker(j, "quick", shutdown=2.0), worker(j, "slow", shutdown=2.0)])
        quick, slow = j.pid("quick"), j.pid("slow")
        async with in_background(lambda: node.stop(sup, timeout=None)):
            assert j.terminated() == [("slow", SHUTDOWN)]  # asked gracefully first
            await clock.advance(1.9)
            assert slow.is_alive()
            await clock.advance(0.2)
            assert not slow.is_alive() and slow.exit_reason is KILLED
        # quick honoured the graceful stop: its terminate ran and it exited `shutdown`.
        assert quick.exit_reason == SHUTDOWN
        assert j.terminated() == [("slow", SHUTDOWN), ("quick", SHUTDOWN)]


async def test_brutal_kill_kills_at_once_with_reason_killed() -> None:
    """shutdown = BRUTAL_KILL: killed at once, reason `killed`."""
    async with open_node() as (node, clock):
        j = Journal()
        j.stubborn.add("b")
        sup = await Supervisor.start_link([worker(j, "b", shutdown=BRUTAL_KILL), worker(j, "x")])
        b = j.pid("b")
        await Supervisor.terminate_child(sup, "b")  # no clock advance needed
        assert b.exit_reason is KILLED
        assert await node.stop(sup, timeout=None) == SHUTDOWN
        assert clock.now() == 0.0
        assert j.terminated() == [("x", SHUTDOWN)]  # b's terminate never ran


async def test_infinity_shutdown_waits_and_is_the_default_for_supervisor_children() -> None:
    """shutdown = INFINITY: waits; default for children that are supervisors."""
    assert sub_supervisor("s", []).shutdown is INFINITY
    assert ChildSpec("w", Worker.start_link).shutdown == 5.0
    async with open_node() as (node, clock):
        j = Journal()
        j.stubborn |= {"w", "inner"}
        sup = await Supervisor.start_link([
            sub_supervisor("sub", [worker(j, "inner", shutdown=30.0)]),  # default shutdown
            worker(j, "w", shutdown=INFINITY),
        ])  # fmt: skip
        sub = await child_pid(sup, "sub")
        w, inner = j.pid("w"), j.pid("inner")
        async with in_background(lambda: node.stop(sup, timeout=None)) as stopping:
            await clock.advance(3600.0)
            assert w.is_alive()  # an hour later: still waited for
            j.release("w")
            await settle()
            assert w.exit_reason == SHUTDOWN
            # Now the nested supervisor is stopping; its own child has 30 s. A 5 s worker
            # default would have killed the nested supervisor long before that.
            await clock.advance(29.9)
            assert sub.is_alive() and inner.is_alive()
            await clock.advance(0.2)
            assert inner.exit_reason is KILLED
            assert sub.exit_reason == SHUTDOWN
        assert stopping.result() == SHUTDOWN


async def test_child_exiting_on_its_own_during_shutdown_keeps_its_reason_and_shutdown_completes() -> None:
    """A child that exits on its own while the supervisor is shutting down does not hang or
    crash the shutdown; its own reason is kept."""
    async with open_node() as (node, _clock):
        j = Journal()
        j.stubborn.add("c")
        sup = await Supervisor.start_link(
            [worker(j, "a"), worker(j, "b"), worker(j, "c", shutdown=10.0)], intensity=10
        )
        a, b, c = (j.pid(x) for x in "abc")
        async with in_background(lambda: node.stop(sup, timeout=None)) as stopping:
            # The supervisor is waiting on c; meanwhile a and b exit on their own.
            await crash(a, "my own reason")
            await exit_with(b, Shutdown("leaving"))
            assert sup.is_alive()
            j.release("c")
        assert stopping.result() == SHUTDOWN
        assert isinstance(a.exit_reason, Crash) and str(a.exit_reason) == "my own reason"
        assert b.exit_reason == Shutdown("leaving")
        assert c.exit_reason == SHUTDOWN
        assert (j.starts("a"), j.starts("b"), j.starts("c")) == (1, 1, 1)  # nobody restarted


async def test_shutdown_during_a_group_restart_still_stops_the_child_being_stopped() -> None:
    """(start and stop) A supervisor stopped while it waits on a child during a restart still
    stops that child before exiting: nothing outlives its supervisor."""
    async with open_node() as (node, clock):
        j = Journal()
        j.stubborn.add("b")
        sup = await Supervisor.start_link(
            [worker(j, "a"), worker(j, "b", shutdown=10.0)], strategy=ONE_FOR_ALL
        )
        b = j.pid("b")
        await crash(j.pid("a"))  # one_for_all: now waiting up to 10 s for b
        assert j.terminated() == [("b", SHUTDOWN)] and b.is_alive()
        async with in_background(lambda: node.stop(sup, timeout=None)) as stopping:
            await clock.advance(5.0)
            assert sup.is_alive() and b.is_alive()
            await clock.advance(5.1)
            assert b.exit_reason is KILLED
        assert stopping.result() == SHUTDOWN
        assert j.starts("a") == 1  # the restart was abandoned, not completed


# == Restart types by exit reason ==============================================================


async def test_permanent_child_restarted_after_normal_shutdown_shutdown_info_and_errors() -> None:
    """permanent: restarted after normal, shutdown, shutdown(info) and errors."""
    async with open_node():
        j = Journal()
        sup = await Supervisor.start_link([worker(j, "p")], intensity=10)
        for reason in [NORMAL, SHUTDOWN, Shutdown("info"), Crash("error"), KILLED]:
            old = j.pid("p")
            if reason is KILLED:
                old.kill()
                await settle()
            elif isinstance(reason, Crash):
                await crash(old, str(reason))
            else:
                await exit_with(old, reason)
            if isinstance(reason, Crash):
                assert isinstance(old.exit_reason, Crash)
            else:
                assert old.exit_reason == reason
            new = j.pid("p")
            assert new != old and new.is_alive(), reason
            assert await child_pid(sup, "p") == new
        assert j.starts("p") == 6


async def test_transient_child_kept_after_orderly_exits_restarted_after_errors_and_killed() -> None:
    """transient: not restarted after normal / shutdown / shutdown(info); restarted after errors
    and `killed`."""
    async with open_node():
        j = Journal()
        ids = ["normal", "shutdown", "info", "error", "killed"]
        sup = await Supervisor.start_link([worker(j, x, restart=TRANSIENT) for x in ids], intensity=10)
        old = {x: j.pid(x) for x in ids}
        await exit_with(old["normal"], NORMAL)
        await exit_with(old["shutdown"], SHUTDOWN)
        await exit_with(old["info"], Shutdown("info"))
        await crash(old["error"])
        old["killed"].kill()
        await settle()

        assert not any(pid.is_alive() for pid in old.values())
        for x in ["normal", "shutdown", "info"]:
            assert j.starts(x) == 1 and await child_pid(sup, x) is None  # spec kept, no pid
        for x in ["error", "killed"]:
            assert j.starts(x) == 2 and j.pid(x).is_alive()
            assert await child_pid(sup, x) == j.pid(x)


async def test_temporary_child_never_restarted_and_its_spec_removed_on_exit() -> None:
    """temporary: never restarted; its spec is removed on exit."""
    async with open_node():
        j = Journal()
        ids = ["normal", "shutdown", "error", "killed"]
        sup = await Supervisor.start_link(
            [worker(j, "keep")] + [worker(j, x, restart=TEMPORARY) for x in ids], intensity=10
        )
        await exit_with(j.pid("normal"), NORMAL)
        await exit_with(j.pid("shutdown"), SHUTDOWN)
        await crash(j.pid("error"))
        j.pid("killed").kill()
        await settle()
        for x in ids:
            assert j.starts(x) == 1 and not j.pid(x).is_alive()
        assert await child_ids(sup) == ["keep"]
        assert j.pid("keep").is_alive() and j.starts("keep") == 1


@pytest.mark.parametrize("strategy", [ONE_FOR_ALL, REST_FOR_ONE])
async def test_temporary_bystander_of_a_group_restart_is_not_restarted(strategy: Strategy) -> None:
    """temporary bystander: a temporary child stopped by a one_for_all / rest_for_one restart is
    not restarted."""
    async with open_node():
        j = Journal()
        sup = await Supervisor.start_link(
            [worker(j, "a"), worker(j, "t", restart=TEMPORARY), worker(j, "c")],
            strategy=strategy,
        )
        t = j.pid("t")
        await crash(j.pid("a"))
        assert t.exit_reason == SHUTDOWN  # stopped as a bystander...
        assert j.starts("t") == 1  # ...and not restarted
        assert await child_ids(sup) == ["a", "c"]  # its spec is gone
        assert j.starts("a") == 2 and j.starts("c") == 2
        assert j.pid("a").is_alive() and j.pid("c").is_alive()


# == Strategies and intensity ==================================================================


async def test_one_for_one_restarts_only_the_failed_child_siblings_keep_their_pids() -> None:
    """one_for_one: only the failed child restarts; siblings keep their pids."""
    async with open_node():
        j = Journal()
        sup = await Supervisor.start_link([worker(j, x) for x in "abc"], strategy=ONE_FOR_ONE)
        a, b, c = (j.pid(x) for x in "abc")
        await crash(b)
        assert j.pid("a") == a and a.is_alive()
        assert j.pid("c") == c and c.is_alive()
        assert j.pid("b") != b and j.pid("b").is_alive()
        assert j.terminated() == []  # no sibling was stopped
        assert [row.pid for row in await Supervisor.which_children(sup)] == [a, j.pid("b"), c]


async def test_one_for_all_stops_others_in_reverse_and_restarts_all_in_list_order() -> None:
    """one_for_all: all others stopped (reverse order), all restarted (list order); no old pid
    survives."""
    async with open_node():
        j = Journal()
        sup = await Supervisor.start_link([worker(j, x) for x in "abcd"], strategy=ONE_FOR_ALL)
        old = [j.pid(x) for x in "abcd"]
        order = exit_order(old)
        j.events.clear()
        await crash(old[1])
        a, b, c, d = old
        assert order == [b, d, c, a]
        assert j.terminated() == [("d", SHUTDOWN), ("c", SHUTDOWN), ("a", SHUTDOWN)]
        assert j.of("init") == ["a", "b", "c", "d"]
        assert not any(pid.is_alive() for pid in old)
        new = [j.pid(x) for x in "abcd"]
        assert all(pid.is_alive() for pid in new) and not set(new) & set(old)
        assert [row.pid for row in await Supervisor.which_children(sup)] == new


async def test_rest_for_one_restarts_failed_and_later_children_in_order() -> None:
    """rest_for_one: the failed child and those started after it restart; earlier ones untouched;
    later ones stopped in reverse order and restarted in order."""
    async with open_node():
        j = Journal()
        sup = await Supervisor.start_link([worker(j, x) for x in "abcd"], strategy=REST_FOR_ONE)
        a, b, c, d = old = [j.pid(x) for x in "abcd"]
        order = exit_order(old)
        j.events.clear()
        await crash(b)
        assert order == [b, d, c]
        assert j.of("init") == ["b", "c", "d"]
        assert j.pid("a") == a and a.is_alive()
        for x, pid in zip("bcd", [b, c, d], strict=True):
            assert not pid.is_alive() and j.pid(x) != pid and j.pid(x).is_alive()
        assert [row.pid for row in await Supervisor.which_children(sup)] == [
            a, j.pid("b"), j.pid("c"), j.pid("d"),
        ]  # fmt: skip


async def test_intensity_is_a_sliding_window_over_all_children_exceeding_it_exits_shutdown() -> None:
    """Intensity is a sliding window over all children of the supervisor: more than `intensity`
    restarts within `period` seconds → all children stopped, supervisor exits `shutdown`."""
    async with open_node() as (_node, clock):
        j = Journal()
        sup = await Supervisor.start_link([worker(j, x) for x in "abc"], intensity=2, period=5.0)
        await crash(j.pid("a"))  # t = 0: 1 restart in the window
        await clock.advance(1.0)
        await crash(j.pid("b"))  # t = 1: 2 (another child: same window)
        await clock.advance(4.5)
        await crash(j.pid("c"))  # t = 5.5: the t = 0 restart has left the window: 2
        assert sup.is_alive()
        assert (j.starts("a"), j.starts("b"), j.starts("c")) == (2, 2, 2)

        a, b, c = (j.pid(x) for x in "abc")
        order = exit_order([a, b, c])
        await clock.advance(0.1)
        await crash(a)  # t = 5.6: restarts at 1, 5.5, 5.6 → 3 > 2
        assert sup.exit_reason == SHUTDOWN
        assert order == [a, c, b]  # the others stopped last-first
        assert c.exit_reason == SHUTDOWN and b.exit_reason == SHUTDOWN
        assert j.starts("a") == 2  # the restart that broke the limit did not happen


async def test_intensity_zero_the_first_restart_attempt_stops_the_supervisor() -> None:
    """intensity = 0: the first restart attempt stops the supervisor."""
    async with open_node():
        j = Journal()
        sup = await Supervisor.start_link([worker(j, "a"), worker(j, "b")], intensity=0)
        await crash(j.pid("a"))
        assert sup.exit_reason == SHUTDOWN
        assert j.starts("a") == 1
        assert j.pid("b").exit_reason == SHUTDOWN


async def test_restarts_spaced_wider_than_the_period_never_exceed_the_intensity() -> None:
    """Restarts spaced wider than the period never exceed the intensity, however many."""
    async with open_node() as (_node, clock):
        j = Journal()
        sup = await Supervisor.start_link([worker(j, "a")], intensity=1, period=5.0)
        for _ in range(50):
            await crash(j.pid("a"))
            assert sup.is_alive()
            await clock.advance(5.01)
        assert j.starts("a") == 51 and j.pid("a").is_alive()


async def test_escalation_parent_restarts_child_supervisor_that_exits_shutdown_and_counts_it() -> None:
    """Escalation: a parent sees its child supervisor exit `shutdown`; a permanent child
    supervisor is restarted by the parent (counting against the parent's intensity)."""
    async with open_node():
        j = Journal()
        parent = await Supervisor.start_link(
            [worker(j, "p"), sub_supervisor("sub", [worker(j, "w")], intensity=0)],
            intensity=1,
            period=5.0,
        )
        p = j.pid("p")
        sub1 = await child_pid(parent, "sub")
        await crash(j.pid("w"))  # sub gives up at once (intensity 0)
        assert sub1.exit_reason == SHUTDOWN
        sub2 = await child_pid(parent, "sub")
        assert isinstance(sub2, Pid) and sub2 != sub1 and sub2.is_alive()
        assert j.starts("w") == 2 and j.pid("w").is_alive()  # a fresh subtree
        assert p.is_alive() and j.starts("p") == 1

        await crash(j.pid("w"))  # sub gives up again: the parent's 2nd restart in 5 s
        assert sub2.exit_reason == SHUTDOWN
        assert parent.exit_reason == SHUTDOWN
        assert p.exit_reason == SHUTDOWN


async def test_failed_restart_counts_is_retried_shows_restarting_and_supervisor_stays_usable() -> None:
    """A restart whose start fails counts as a restart and is retried; the child shows as
    `restarting`; the supervisor still answers API calls and can shut down meanwhile."""
    async with open_node() as (node, _clock):
        # Counted: two failed attempts and the third attempt make 3 restarts > intensity 2.
        j = Journal()
        j.script("a", OK, FAIL, FAIL)
        sup = await Supervisor.start_link([worker(j, "a"), worker(j, "b")], intensity=2)
        await crash(j.pid("a"))
        assert j.of("init_failed") == ["a", "a"]
        assert sup.exit_reason == SHUTDOWN and j.pid("b").exit_reason == SHUTDOWN

        # Retried: with intensity 3, the third attempt is allowed and succeeds.
        j = Journal()
        j.script("a", OK, FAIL, FAIL)
        sup = await Supervisor.start_link([worker(j, "a"), worker(j, "b")], intensity=3)
        await crash(j.pid("a"))
        assert sup.is_alive() and j.starts("a") == 2 and j.pid("a").is_alive()
        await node.stop(sup, timeout=None)

        # Restarting, answering, and stoppable while a restart keeps failing.
        j = Journal()
        sup = await Supervisor.start_link([worker(j, "a"), worker(j, "b")], intensity=1000)
        make_restarting(j, "a")
        assert await child_pid(sup, "a") is RESTARTING
        counts = await Supervisor.count_children(sup)
        assert (counts.specs, counts.active) == (2, 1)
        with pytest.raises(ChildRestarting):
            await Supervisor.restart_child(sup, "a")
        assert await j.pid("b").call("ping") == ("pong", "b", ())
        assert await child_pid(sup, "a") is RESTARTING
        attempts = len(j.of("init_failed"))
        assert 1 <= attempts < 50  # retried, one attempt between two calls
        assert await node.stop(sup, timeout=None) == SHUTDOWN
        await settle()
        assert len(j.of("init_failed")) <= attempts + 1  # no attempt after the stop
        assert j.pid("b").exit_reason == SHUTDOWN
        assert list(node.processes()) == []


@pytest.mark.parametrize("strategy", [ONE_FOR_ALL, REST_FOR_ONE])
async def test_sibling_failing_during_a_group_restart_makes_the_group_restart_again(
    strategy: Strategy,
) -> None:
    """one_for_all / rest_for_one: a sibling failing during a group restart makes the group
    restart again."""
    async with open_node():
        j = Journal()
        j.script("b", OK, FAIL)  # b's first restart fails
        sup = await Supervisor.start_link([worker(j, x) for x in "abc"], strategy=strategy, intensity=5)
        j.events.clear()
        await crash(j.pid("a"))
        if strategy is ONE_FOR_ALL:
            # a, b fails (c never started), then the whole group again: a is stopped and
            # restarted with the others.
            assert j.lifecycle() == [
                ("terminate", "c"), ("terminate", "b"),
                ("init", "a"), ("init_failed", "b"),
                ("terminate", "a"), ("init", "a"), ("init", "b"), ("init", "c"),
            ]  # fmt: skip
            assert j.starts("a") == 3
        else:
            # rest_for_one restarts from the failed sibling: b and the ones after it.
            assert j.lifecycle() == [
                ("terminate", "c"), ("terminate", "b"),
                ("init", "a"), ("init_failed", "b"), ("init", "b"), ("init", "c"),
            ]  # fmt: skip
            assert j.starts("a") == 2
        assert sup.is_alive()
        for x in "abc":
            assert j.pid(x).is_alive() and others_dead(j, x)
        assert [row.pid for row in await Supervisor.which_children(sup)] == [j.pid(x) for x in "abc"]


# == Significant children (auto_shutdown) ======================================================


async def test_auto_shutdown_never_rejects_significant_children() -> None:
    """never (default): significant children rejected as a bad combination."""
    async with open_node() as (node, _clock):
        j = Journal()
        significant = worker(j, "s", restart=TRANSIENT, significant=True)
        with pytest.raises(InvalidSpec) as info:
            await Supervisor.start_link([worker(j, "a"), significant])
        assert info.value.field == "significant" and "NEVER" in str(info.value)
        assert j.starts("a") == 0 and list(node.processes()) == []

        sup = await Supervisor.start_link([worker(j, "a")])
        with pytest.raises(InvalidSpec) as info:
            await Supervisor.start_child(sup, significant)
        assert info.value.field == "significant"
        assert j.starts("s") == 0 and await child_ids(sup) == ["a"]


@pytest.mark.parametrize(
    ("restart", "how"),
    [(TRANSIENT, "normal"), (TRANSIENT, "shutdown"), (TEMPORARY, "normal"), (TEMPORARY, "error")],
)
async def test_any_significant_stops_supervisor_when_a_significant_child_exits_for_good(
    restart: Any, how: str
) -> None:
    """any_significant: the supervisor stops when any significant child exits on its own and is
    not restarted (transient normal exit, temporary any exit)."""
    async with open_node():
        j = Journal()
        sup = await Supervisor.start_link(
            [worker(j, "a"), worker(j, "s", restart=restart, significant=True), worker(j, "c")],
            auto_shutdown=AutoShutdown.ANY_SIGNIFICANT,
        )
        a, s, c = (j.pid(x) for x in "asc")
        order = exit_order([a, c])
        if how == "error":
            await crash(s)
        else:
            await exit_with(s, NORMAL if how == "normal" else SHUTDOWN)
        assert sup.exit_reason == SHUTDOWN
        assert order == [c, a] and a.exit_reason == SHUTDOWN and c.exit_reason == SHUTDOWN
        assert j.starts("s") == 1


async def test_all_significant_stops_supervisor_only_when_the_last_significant_child_exits() -> None:
    """all_significant: only when the last significant child does."""
    async with open_node():
        j = Journal()
        sup = await Supervisor.start_link(
            [
                worker(j, "s1", restart=TRANSIENT, significant=True),
                worker(j, "s2", restart=TEMPORARY, significant=True),
                worker(j, "w"),
            ],
            auto_shutdown=AutoShutdown.ALL_SIGNIFICANT,
        )
        await exit_with(j.pid("s1"), NORMAL)
        assert sup.is_alive() and j.pid("w").is_alive()
        assert j.starts("s1") == 1
        await crash(j.pid("s2"))
        assert sup.exit_reason == SHUTDOWN
        assert j.pid("w").exit_reason == SHUTDOWN


async def test_auto_shutdown_not_triggered_by_admin_bystanders_nonsignificant_or_abnormal() -> None:
    """Not triggered by terminate_child, by bystander stops, by non-significant children, or by
    transient abnormal exits (those restart)."""
    async with open_node():
        j = Journal()
        sup = await Supervisor.start_link(
            [
                worker(j, "a"),
                worker(j, "s1", restart=TRANSIENT, significant=True),
                worker(j, "s2", restart=TEMPORARY, significant=True),
                worker(j, "s3", restart=TEMPORARY, significant=True),
                worker(j, "n", restart=TEMPORARY),
            ],
            strategy=ONE_FOR_ALL,
            intensity=10,
            auto_shutdown=AutoShutdown.ANY_SIGNIFICANT,
        )
        # A non-significant child exits for good.
        await crash(j.pid("n"))
        assert sup.is_alive()
        # terminate_child of a significant child (transient, then temporary).
        await Supervisor.terminate_child(sup, "s1")
        await Supervisor.terminate_child(sup, "s3")
        assert sup.is_alive() and not j.pid("s1").is_alive() and not j.pid("s3").is_alive()
        await Supervisor.restart_child(sup, "s1")
        # A transient significant child crashes: restarted (one_for_all), and the temporary
        # significant s2 is stopped as a bystander — neither triggers the auto shutdown.
        s2 = j.pid("s2")
        await crash(j.pid("s1"))
        assert sup.is_alive()
        assert s2.exit_reason == SHUTDOWN and j.starts("s2") == 1
        assert j.starts("s1") == 3 and j.pid("s1").is_alive()
        # A permanent child crashes: the transient significant s1 is a bystander, restarted.
        await crash(j.pid("a"))
        assert sup.is_alive() and j.starts("s1") == 4 and j.pid("s1").is_alive()
        assert await child_ids(sup) == ["a", "s1"]


async def test_significant_permanent_rejected_and_auto_shutdown_rejected_for_dynamic() -> None:
    """significant + permanent rejected; any/all with a dynamic supervisor rejected."""
    from soma_runtime.kernel import DynamicSupervisor

    async with open_node() as (node, _clock):
        j = Journal()
        with pytest.raises(InvalidSpec) as info:
            worker(j, "s", restart=PERMANENT, significant=True)
        assert info.value.field == "significant" and info.value.value is True
        for mode in [AutoShutdown.ANY_SIGNIFICANT, AutoShutdown.ALL_SIGNIFICANT]:
            with pytest.raises(InvalidSpec) as info:
                await DynamicSupervisor.start_link(worker(j, "t"), auto_shutdown=mode)
            assert info.value.field == "auto_shutdown" and info.value.value is mode
        with pytest.raises(InvalidSpec) as info:
            await DynamicSupervisor.start_link(worker(j, "t", restart=TRANSIENT, significant=True))
        assert info.value.field == "significant"
        assert list(node.processes()) == []


# == Child administration API ==================================================================


async def test_start_child_duplicate_id_running_already_started_stopped_already_present() -> None:
    """start_child: duplicate id running → already started (with pid); present but stopped →
    already present."""
    async with open_node():
        j = Journal()
        sup = await Supervisor.start_link([worker(j, "a")])
        a = j.pid("a")
        with pytest.raises(AlreadyStarted) as info:
            await Supervisor.start_child(sup, worker(j, "a"))
        assert info.value.child_id == "a" and info.value.pid == a
        await Supervisor.terminate_child(sup, "a")
        with pytest.raises(AlreadyPresent) as present:
            await Supervisor.start_child(sup, worker(j, "a"))
        assert present.value.child_id == "a"
        assert j.starts("a") == 1  # neither attempt started anything
        new = await Supervisor.start_child(sup, worker(j, "b"))
        assert new == j.pid("b") and new.is_alive()
        assert await child_ids(sup) == ["a", "b"]


async def test_terminate_child_idempotent_keeps_spec_except_temporary_not_found_for_unknown() -> None:
    """terminate_child: idempotent; keeps the spec (except temporary); not_found for unknown ids."""
    async with open_node():
        j = Journal()
        sup = await Supervisor.start_link([worker(j, "a"), worker(j, "t", restart=TEMPORARY)])
        a, t = j.pid("a"), j.pid("t")
        await Supervisor.terminate_child(sup, "a")
        assert a.exit_reason == SHUTDOWN and j.terminated() == [("a", SHUTDOWN)]
        await Supervisor.terminate_child(sup, "a")  # again: fine, nothing happens
        assert await child_pid(sup, "a") is None  # spec kept
        await Supervisor.terminate_child(sup, "t")
        assert t.exit_reason == SHUTDOWN
        assert await child_ids(sup) == ["a"]  # temporary spec dropped
        with pytest.raises(ChildNotFound) as info:
            await Supervisor.terminate_child(sup, "nope")
        assert info.value.child_id == "nope"
        restarted = await Supervisor.restart_child(sup, "a")  # the kept spec still works
        assert isinstance(restarted, Pid) and restarted.is_alive() and j.starts("a") == 2
        assert j.starts("t") == 1


async def test_restart_child_errors_when_running_restarting_or_not_found() -> None:
    """restart_child: running → error; restarting → error; not_found."""
    async with open_node():
        j = Journal()
        sup = await Supervisor.start_link([worker(j, "a"), worker(j, "b")], intensity=1000)
        with pytest.raises(ChildRunning) as running:
            await Supervisor.restart_child(sup, "a")
        assert running.value.child_id == "a" and j.starts("a") == 1
        with pytest.raises(ChildNotFound):
            await Supervisor.restart_child(sup, "nope")
        make_restarting(j, "b")
        with pytest.raises(ChildRestarting) as restarting:
            await Supervisor.restart_child(sup, "b")
        assert restarting.value.child_id == "b"
        # terminate_child cancels the pending restart; then restart_child starts it again.
        await Supervisor.terminate_child(sup, "b")
        assert await child_pid(sup, "b") is None
        j.script("b", OK)
        b = await Supervisor.restart_child(sup, "b")
        assert isinstance(b, Pid) and b.is_alive() and b == j.pid("b")


async def test_delete_child_only_for_stopped_children() -> None:
    """delete_child: only for stopped children; running / restarting / not_found errors."""
    async with open_node():
        j = Journal()
        sup = await Supervisor.start_link([worker(j, "a"), worker(j, "b"), worker(j, "c")], intensity=1000)
        with pytest.raises(ChildRunning):
            await Supervisor.delete_child(sup, "a")
        make_restarting(j, "b")
        with pytest.raises(ChildRestarting):
            await Supervisor.delete_child(sup, "b")
        with pytest.raises(ChildNotFound):
            await Supervisor.delete_child(sup, "nope")
        assert await child_ids(sup) == ["a", "b", "c"]
        await Supervisor.terminate_child(sup, "b")
        await Supervisor.delete_child(sup, "b")
        assert await child_ids(sup) == ["a", "c"]
        with pytest.raises(ChildNotFound):
            await Supervisor.delete_child(sup, "b")
        # The id is free again: a new spec under it starts.
        j.script("b", OK)
        new = await Supervisor.start_child(sup, worker(j, "b", "v2"))
        assert isinstance(new, Pid) and await new.call("ping") == ("pong", "b", ("v2",))
        assert await child_ids(sup) == ["a", "c", "b"]


async def test_which_children_lists_id_pid_or_restarting_or_none_and_kind_in_start_order() -> None:
    """which_children lists (id, pid | restarting | None, kind) in start order."""
    async with open_node():
        j = Journal()
        j.script("ignored", IGNORED)
        sup = await Supervisor.start_link(
            [
                worker(j, "a"),
                sub_supervisor("sub", [worker(j, "inner")]),
                worker(j, "ignored"),
                worker(j, "r"),
            ],
            intensity=1000,
        )
        await Supervisor.start_child(sup, worker(j, "late"))
        make_restarting(j, "r")
        rows = await Supervisor.which_children(sup)
        assert [(row.id, row.kind) for row in rows] == [
            ("a", WORKER), ("sub", SUPERVISOR), ("ignored", WORKER), ("r", WORKER),
            ("late", WORKER),
        ]  # fmt: skip
        pids = [row.pid for row in rows]
        assert pids[0] == j.pid("a")
        assert isinstance(pids[1], Pid) and pids[1].is_alive()
        assert await Supervisor.which_children(pids[1]) == [ChildInfo("inner", j.pid("inner"), WORKER)]
        assert pids[2] is None
        assert pids[3] is RESTARTING
        assert pids[4] == j.pid("late")
        await Supervisor.terminate_child(sup, "r")


async def test_count_children_counts_specs_active_supervisors_and_workers() -> None:
    """(count_children, static supervisor) specs, active, supervisors, workers."""
    async with open_node():
        j = Journal()
        j.script("ignored", IGNORED)
        sup = await Supervisor.start_link(
            [
                worker(j, "a"),
                worker(j, "ignored"),
                sub_supervisor("sub1", []),
                sub_supervisor("sub2", []),
                worker(j, "t", restart=TEMPORARY),
            ]
        )
        counts = await Supervisor.count_children(sup)
        assert (counts.specs, counts.active, counts.supervisors, counts.workers) == (5, 4, 2, 3)
        await Supervisor.terminate_child(sup, "sub2")  # stopped: still a spec, not active
        await Supervisor.terminate_child(sup, "t")  # temporary: gone
        counts = await Supervisor.count_children(sup)
        assert (counts.specs, counts.active, counts.supervisors, counts.workers) == (4, 2, 2, 2)


async def _duplicate_ids(j: Journal) -> Any:
    return await Supervisor.start_link([worker(j, "a"), worker(j, "b"), worker(j, "a")])


INVALID: list[tuple[str, object, Callable[[Journal], Awaitable[Any] | Any]]] = [
    ("id", None, lambda j: ChildSpec(None, Worker.start_link)),
    ("id", ["a"], lambda j: ChildSpec(["a"], Worker.start_link)),
    ("start", "Worker", lambda j: ChildSpec("a", "Worker")),  # type: ignore[arg-type]
    ("restart", "forever", lambda j: worker(j, "a", restart="forever")),
    ("shutdown", -1, lambda j: worker(j, "a", shutdown=-1)),
    ("shutdown", "soon", lambda j: worker(j, "a", shutdown="soon")),
    ("kind", "manager", lambda j: worker(j, "a", kind="manager")),
    ("id", "a", _duplicate_ids),
    ("intensity", -1, lambda j: Supervisor.start_link([worker(j, "a")], intensity=-1)),
    ("intensity", 1.5, lambda j: Supervisor.start_link([worker(j, "a")], intensity=1.5)),
    ("period", 0, lambda j: Supervisor.start_link([worker(j, "a")], period=0)),
    ("period", -5.0, lambda j: Supervisor.start_link([worker(j, "a")], period=-5.0)),
    ("strategy", "one_for_some", lambda j: Supervisor.start_link([], strategy="one_for_some")),
    ("auto_shutdown", "sometimes", lambda j: Supervisor.start_link([], auto_shutdown="sometimes")),
    ("backoff.factor", 0.5, lambda j: Backoff(factor=0.5)),
    ("backoff.initial", -1.0, lambda j: Backoff(initial=-1.0)),
    ("backoff", 2.0, lambda j: Supervisor.start_link([], backoff=2.0)),
]


@pytest.mark.parametrize(("field", "value", "make"), INVALID, ids=[f"{f}={v!r}" for f, v, _ in INVALID])
async def test_invalid_specs_and_flags_rejected_naming_the_field_and_value(
    field: str, value: object, make: Callable[[Journal], Any]
) -> None:
    """Invalid specs and flags rejected with a clear error: missing id, bad restart type, bad
    shutdown, duplicate id, negative intensity, non-positive period, bad strategy."""
    async with open_node() as (node, _clock):
        j = Journal()
        with pytest.raises(InvalidSpec) as info:
            made = make(j)
            if isinstance(made, Awaitable):
                await made
        assert info.value.field == field
        assert info.value.value == value
        assert field in str(info.value) and repr(value) in str(info.value)
        assert j.starts("a") == 0 and list(node.processes()) == []  # nothing was started


# == Links, monitors, exits ====================================================================


async def test_child_that_unlinks_itself_cannot_hang_its_supervisors_shutdown() -> None:
    """A child that unlinks itself cannot hang its supervisor's shutdown (supervisors use
    monitors)."""
    async with open_node() as (node, _clock):
        j = Journal()
        sup = await Supervisor.start_link([worker(j, "u", shutdown=INFINITY), worker(j, "v")])
        u = j.pid("u")
        assert sup in u.process.links()
        assert await u.call("unlink_from_parent") == sup
        assert sup not in u.process.links() and u not in sup.process.links()
        assert await node.stop(sup, timeout=None) == SHUTDOWN
        assert u.exit_reason == SHUTDOWN and j.terminated() == [("v", SHUTDOWN), ("u", SHUTDOWN)]


# == Restart backoff ===========================================================================


async def test_restart_backoff_is_off_by_default_restarts_are_immediate() -> None:
    """(backoff) Off by default: OTP semantics, a restart happens without any time passing."""
    async with open_node() as (_node, clock):
        j = Journal()
        sup = await Supervisor.start_link([worker(j, "a")], intensity=10)
        for n in range(2, 6):
            await crash(j.pid("a"))
            assert j.starts("a") == n and j.pid("a").is_alive()
            assert await child_pid(sup, "a") == j.pid("a")
        assert clock.now() == 0.0


async def test_restart_backoff_is_exponential_and_capped_on_the_virtual_clock() -> None:
    """(backoff) The n-th restart within the period waits initial·factor^(n-1), capped at maximum;
    the child shows as restarting meanwhile and siblings are untouched."""
    async with open_node() as (_node, clock):
        j = Journal()
        sup = await Supervisor.start_link(
            [worker(j, "a"), worker(j, "b")],
            intensity=100,
            period=1000.0,
            backoff=Backoff(initial=1.0, factor=2.0, maximum=4.0),
        )
        b = j.pid("b")
        for n, delay in enumerate([1.0, 2.0, 4.0, 4.0, 4.0], start=2):
            old = j.pid("a")
            await crash(old)
            assert await child_pid(sup, "a") is RESTARTING
            await clock.advance(delay - 0.01)
            assert j.starts("a") == n - 1 and await child_pid(sup, "a") is RESTARTING
            await clock.advance(0.02)
            assert j.starts("a") == n, delay
            new = j.pid("a")
            assert new != old and new.is_alive() and await child_pid(sup, "a") == new
        assert j.pid("b") == b and b.is_alive()


async def test_restart_backoff_still_counts_against_the_intensity() -> None:
    """(backoff) A backed-off restart is a restart: exceeding the intensity still stops the
    supervisor, at the crash, without waiting out the backoff."""
    async with open_node() as (_node, clock):
        j = Journal()
        sup = await Supervisor.start_link(
            [worker(j, "a")], intensity=1, period=100.0, backoff=Backoff(initial=1.0)
        )
        await crash(j.pid("a"))
        await clock.advance(1.0)
        assert j.starts("a") == 2
        await crash(j.pid("a"))
        assert sup.exit_reason == SHUTDOWN and j.starts("a") == 2


async def test_restart_backoff_timer_of_a_cancelled_restart_is_forgotten() -> None:
    """(backoff) terminate_child cancels a backed-off restart for good: its timer cannot restart
    the child early after the child was restarted and failed again."""
    async with open_node() as (_node, clock):
        j = Journal()
        sup = await Supervisor.start_link(
            [worker(j, "a")],
            intensity=100,
            period=1000.0,
            backoff=Backoff(initial=1.0, factor=2.0, maximum=10.0),
        )
        await crash(j.pid("a"))  # t = 0: restart due at t = 1
        await clock.advance(0.5)
        await Supervisor.terminate_child(sup, "a")
        assert await child_pid(sup, "a") is None
        assert await Supervisor.restart_child(sup, "a") == j.pid("a")
        await crash(j.pid("a"))  # t = 0.5: second restart in the period, due at t = 2.5
        await clock.advance(1.0)  # t = 1.5: the cancelled restart's time has passed
        assert await child_pid(sup, "a") is RESTARTING and j.starts("a") == 2
        await clock.advance(1.0)  # t = 2.5
        assert j.starts("a") == 3 and await child_pid(sup, "a") == j.pid("a")


# == Supervisor reports ========================================================================


async def test_supervisor_reports_child_restarted_and_supervisor_shutdown() -> None:
    """(reports) node.report_handlers get ChildRestarted for each restart and SupervisorShutdown
    when the supervisor gives up."""
    async with open_node() as (node, _clock):
        reports: list[Any] = []
        node.report_handlers.append(reports.append)
        j = Journal()
        sup = await Supervisor.start_link([worker(j, "a"), worker(j, "b")], intensity=1)
        old = j.pid("a")
        await crash(old, "first")
        assert len(reports) == 1
        report = reports[0]
        assert isinstance(report, ChildRestarted)
        assert (report.supervisor, report.child_id) == (sup, "a")
        assert report.old_pid == old and report.new_pid == j.pid("a")
        assert isinstance(report.reason, Crash) and str(report.reason) == "first"

        await crash(j.pid("b"), "second")
        assert len(reports) == 2
        assert isinstance(reports[1], SupervisorShutdown)
        assert reports[1].supervisor == sup and "intensity" in reports[1].reason
        assert sup.exit_reason == SHUTDOWN


async def test_supervisor_report_for_auto_shutdown() -> None:
    """(reports) An auto shutdown is reported as SupervisorShutdown too."""
    async with open_node() as (node, _clock):
        reports: list[Any] = []
        node.report_handlers.append(reports.append)
        j = Journal()
        sup = await Supervisor.start_link(
            [worker(j, "s", restart=TEMPORARY, significant=True)],
            auto_shutdown=AutoShutdown.ANY_SIGNIFICANT,
        )
        await exit_with(j.pid("s"), NORMAL)
        assert sup.exit_reason == SHUTDOWN
        assert len(reports) == 1 and isinstance(reports[0], SupervisorShutdown)
        assert reports[0].supervisor == sup and "significant" in reports[0].reason


# == Escalation through a two-level tree =======================================================


async def test_escalation_through_a_two_level_tree_reaches_the_top() -> None:
    """(escalation) leaf crashes exhaust the middle supervisor, which the top restarts; when the
    middle one gives up again within the top's period, the top gives up too — the whole tree is
    down, every level with reason `shutdown`, and each step was reported."""
    async with open_node() as (node, _clock):
        reports: list[Any] = []
        node.report_handlers.append(reports.append)
        j = Journal()
        top = await Supervisor.start_link(
            [worker(j, "t"), sub_supervisor("mid", [worker(j, "leaf"), worker(j, "peer")])],
            intensity=1,
            period=10.0,
        )
        mid1 = await child_pid(top, "mid")
        await crash(j.pid("leaf"))  # mid restarts leaf (1 of 1)
        assert mid1.is_alive() and j.starts("leaf") == 2
        await crash(j.pid("leaf"))  # mid gives up; top restarts mid (1 of 1)
        assert mid1.exit_reason == SHUTDOWN
        mid2 = await child_pid(top, "mid")
        assert isinstance(mid2, Pid) and mid2.is_alive() and mid2 != mid1
        assert j.starts("leaf") == 3 and j.starts("peer") == 2 and j.starts("t") == 1
        await crash(j.pid("leaf"))
        await crash(j.pid("leaf"))  # mid gives up again; top's 2nd restart in 10 s: top gives up
        assert mid2.exit_reason == SHUTDOWN
        assert top.exit_reason == SHUTDOWN
        assert j.pid("t").exit_reason == SHUTDOWN
        await settle()
        assert list(node.processes()) == []
        assert [(type(r).__name__, r.supervisor) for r in reports] == [
            ("ChildRestarted", mid1),
            ("SupervisorShutdown", mid1),
            ("ChildRestarted", top),
            ("ChildRestarted", mid2),
            ("SupervisorShutdown", mid2),
            ("SupervisorShutdown", top),
        ]
        assert reports[2].child_id == "mid" and reports[2].reason == SHUTDOWN
        assert (reports[2].old_pid, reports[2].new_pid) == (mid1, mid2)
