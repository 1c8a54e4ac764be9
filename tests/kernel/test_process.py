"""Processes: spawn and exit reasons, links, trap_exit, kill, monitors, the name registry and
the Node's no-leak guarantee.

Checklist section "Links, monitors, exits" (`docs/otp-checklist.md`), plus docs/design.md §2.
Every test watches processes (``is_alive``, ``exit_reason``, ``wait``, task ``done``); time
moves only through ``VirtualClock`` and ``settle``.
"""

from __future__ import annotations

import asyncio
import gc
import weakref
from typing import Any

import anyio
import pytest

from soma_runtime.kernel import (
    KILL,
    KILLED,
    NOPROC,
    NORMAL,
    SHUTDOWN,
    AlreadyRegistered,
    ChildSpec,
    Down,
    Exit,
    ExitSignal,
    GenServer,
    MailboxFull,
    NameTaken,
    Node,
    NoProc,
    Overflow,
    Pid,
    Process,
    Shutdown,
    Supervisor,
    VirtualClock,
    call,
    cast,
    current_node,
    send,
    settle,
    whereis,
)

pytestmark = pytest.mark.anyio


# -- process bodies ---------------------------------------------------------------------------


async def idle(proc: Process) -> None:
    """Wait for messages forever, ignoring them."""
    while True:
        await proc.receive()


async def collect(proc: Process, inbox: list[Any]) -> None:
    """Record every message received (the way a test sees what a process was sent)."""
    while True:
        inbox.append(await proc.receive())


async def obey(proc: Process) -> None:
    """Exit the way the first message says: ("exit", reason) or ("raise", exception)."""
    while True:
        match await proc.receive():
            case ("exit", reason):
                raise Exit(reason)
            case ("raise", exc):
                raise exc
            case "return":
                return


async def linked_to(proc: Process, other: Pid, inbox: list[Any] | None = None) -> None:
    """Link to ``other``, then idle (or collect into ``inbox``)."""
    proc.link(other)
    if inbox is None:
        await idle(proc)
    else:
        await collect(proc, inbox)


async def monitoring(proc: Process, targets: list[Pid], refs: list[Any], inbox: list[Any]) -> None:
    """Monitor each target (refs recorded in order), then collect messages."""
    for target in targets:
        refs.append(proc.monitor(target))
    await collect(proc, inbox)


# -- spawn and exit reasons -------------------------------------------------------------------


async def test_spawn_body_that_returns_exits_normal() -> None:
    """Exit reasons: `normal` — a body that returns exits normal."""
    async with Node.open(VirtualClock()) as node:
        pid = node.spawn(obey)
        assert pid.is_alive()
        assert pid.exit_reason is None
        await pid.send("return")
        assert await pid.wait() is NORMAL
        assert not pid.is_alive()
        assert pid.exit_reason is NORMAL


@pytest.mark.parametrize("reason", [NORMAL, SHUTDOWN, Shutdown("maintenance")], ids=repr)
async def test_exit_reason_given_by_raise_exit(reason: Any) -> None:
    """Exit reasons: normal, shutdown, shutdown(info) — `raise Exit(reason)` exits with it."""
    async with Node.open(VirtualClock()) as node:
        pid = node.spawn(obey)
        await pid.send(("exit", reason))
        assert await pid.wait() == reason
        assert pid.exit_reason == reason


async def test_exit_reason_of_an_exception_is_the_exception_itself() -> None:
    """Exit reasons: an error is the exception itself."""
    async with Node.open(VirtualClock()) as node:
        boom = ValueError("boom")
        pid = node.spawn(obey)
        await pid.send(("raise", boom))
        assert await pid.wait() is boom


async def test_exit_reason_of_a_killed_process_is_killed() -> None:
    """Exit reasons: `killed` — pid.kill() makes the process dead at once with reason killed."""
    async with Node.open(VirtualClock()) as node:
        pid = node.spawn(idle)
        await settle()
        task = pid.process.task
        assert task is not None
        pid.kill()
        # Dead now, synchronously: links, monitors and the registry already know.
        assert not pid.is_alive()
        assert pid.exit_reason is KILLED
        await settle()
        assert task.done()


async def test_pid_stays_valid_after_exit_and_wait_returns_at_once() -> None:
    """A Pid stays valid after exit: is_alive() is False and wait() returns the reason."""
    async with Node.open(VirtualClock()) as node:
        pid = node.spawn(obey)
        await pid.send(("exit", SHUTDOWN))
        await settle()
        assert not pid.is_alive()
        assert await pid.wait() is SHUTDOWN  # already dead: returns without waiting
        # Messages to a dead process are dropped, never raised.
        await pid.send("anything")
        pid.send_nowait("anything")


class _Hoarder(GenServer):
    async def init(self, size: int) -> None:
        self.hoard = [object() for _ in range(size)]


async def test_a_dead_process_keeps_no_state_though_its_pid_is_held() -> None:
    """OTP: a dead pid names a process that holds nothing. Whoever keeps the pid (a session
    keeps its finished runs' records) keeps the exit reason, not the server and its state."""
    async with Node.open(VirtualClock()) as node:
        pid = await _Hoarder.start(1000)
        assert pid is not None
        server = weakref.ref(pid.process.behaviour)
        await node.stop(pid)
        gc.collect()
        assert server() is None, "the dead process's server (and its state) is still held"
        assert not pid.is_alive() and pid.exit_reason is SHUTDOWN and pid.process.behaviour is None


async def test_stop_before_first_run_still_exits() -> None:
    """Exit reasons: a process stopped before its task ever ran still exits with the reason,
    fires its links and frees its name (it must not linger as a zombie)."""
    async with Node.open(VirtualClock()) as node:
        inbox: list[Any] = []
        watcher = node.spawn(collect, inbox, trap_exit=True)
        await settle()
        pid = node.spawn(idle, name="early")
        watcher.process.link(pid)
        pid.exit(Shutdown("early"))  # before the new task had a chance to run
        await settle()
        assert pid.exit_reason == Shutdown("early")
        assert node.whereis("early") is None
        assert inbox == [ExitSignal(pid, Shutdown("early"))]


async def test_the_node_stops_tracking_a_task_once_it_is_done_whether_or_not_it_ran() -> None:
    """node.tasks() holds exactly the unfinished tasks: one that ran to its end leaves it, and
    so does one stopped or killed before it ever ran (its main() never runs)."""
    async with Node.open(VirtualClock()) as node:
        finished = node.spawn(obey)
        never_ran = [node.spawn(idle), node.spawn(idle)]
        never_ran[0].process.stop(Shutdown("early"))
        never_ran[1].kill()
        running = node.spawn(idle)
        tasks = [p.process.task for p in (finished, *never_ran, running)]
        assert set(tasks) <= node.tasks()
        await finished.send("return")
        await settle()
        assert all(t is not None and t.done() for t in tasks[:3])
        # A task that never ran leaves by its done-callback, which the loop runs one round
        # after the task finished: poll for it, a bounded number of rounds.
        for _ in range(10):
            if node.tasks() == {tasks[3]}:
                break
            await anyio.lowlevel.checkpoint()
        assert node.tasks() == {tasks[3]}
        assert finished.exit_reason is NORMAL
        assert [p.exit_reason for p in never_ran] == [Shutdown("early"), KILLED]


# -- links ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "reason",
    [RuntimeError("crash"), SHUTDOWN, Shutdown("info"), KILLED],
    ids=["error", "shutdown", "shutdown(info)", "killed"],
)
async def test_link_propagation_abnormal_exit_kills_linked_process_with_same_reason(
    reason: Any,
) -> None:
    """Link propagation: abnormal exit kills a linked non-trapping process with the same reason."""
    async with Node.open(VirtualClock()) as node:
        crasher = node.spawn(obey)
        bystander = node.spawn(linked_to, crasher)
        await settle()
        assert crasher.process.links() == [bystander]
        if isinstance(reason, BaseException):
            await crasher.send(("raise", reason))
        else:
            await crasher.send(("exit", reason))
        assert await bystander.wait() is reason
        assert crasher.exit_reason is reason


async def test_link_propagation_normal_does_not_propagate() -> None:
    """Link propagation: `normal` does not."""
    async with Node.open(VirtualClock()) as node:
        quitter = node.spawn(obey)
        bystander = node.spawn(linked_to, quitter)
        await settle()
        await quitter.send("return")
        assert await quitter.wait() is NORMAL
        await settle()
        assert bystander.is_alive()
        assert bystander.process.links() == []


async def test_link_propagation_is_bidirectional_and_transitive() -> None:
    """Link propagation: links are bidirectional, and the death travels the whole chain with
    the same reason (a - b - c; c crashes, a and b exit with c's exception)."""
    async with Node.open(VirtualClock()) as node:
        a = node.spawn(idle)
        b = node.spawn(linked_to, a)
        c = node.spawn(obey)
        await settle()
        c_link = node.spawn(linked_to, c)  # a fourth process linked to c only
        await settle()
        b.process.link(c)
        boom = RuntimeError("c failed")
        await c.send(("raise", boom))
        assert await a.wait() is boom
        assert await b.wait() is boom
        assert await c_link.wait() is boom
        # The other direction: a linked *child* kills its parent as well.
        parent = node.spawn(idle)
        child = node.spawn(linked_to, parent)
        await settle()
        parent.exit(Shutdown("down"))
        assert await child.wait() == Shutdown("down")


async def test_link_propagation_unlink_stops_it() -> None:
    """Link propagation: after unlink, an abnormal exit no longer propagates."""
    async with Node.open(VirtualClock()) as node:
        crasher = node.spawn(obey)
        bystander = node.spawn(linked_to, crasher)
        await settle()
        bystander.process.unlink(crasher)
        assert crasher.process.links() == []
        await crasher.send(("raise", RuntimeError("alone")))
        await crasher.wait()
        await settle()
        assert bystander.is_alive()


async def test_link_to_a_dead_process_signals_noproc() -> None:
    """Links: linking to a dead process delivers an exit signal `noproc` (trapped: a message)."""
    async with Node.open(VirtualClock()) as node:
        dead = node.spawn(obey)
        await dead.send("return")
        await dead.wait()
        inbox: list[Any] = []
        trapper = node.spawn(linked_to, dead, inbox, trap_exit=True)
        await settle()
        assert inbox == [ExitSignal(dead, NOPROC)]
        assert trapper.is_alive()
        # Not trapping: noproc is abnormal, so the linking process exits with it.
        victim = node.spawn(linked_to, dead)
        assert await victim.wait() is NOPROC


async def test_spawn_link_links_to_the_spawning_process() -> None:
    """Links: spawn(link=True) inside a process is Erlang's spawn_link (parent dies with child)."""
    async with Node.open(VirtualClock()) as node:
        children: list[Pid] = []

        async def parent_body(proc: Process) -> None:
            children.append(node.spawn(obey, link=True))
            await idle(proc)

        parent = node.spawn(parent_body)
        await settle()
        (child,) = children
        assert child.process.parent == parent
        assert parent.process.links() == [child]
        boom = RuntimeError("child crash")
        await child.send(("raise", boom))
        assert await parent.wait() is boom


# -- trap_exit and kill -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "reason",
    [NORMAL, SHUTDOWN, Shutdown("info"), RuntimeError("crash")],
    ids=["normal", "shutdown", "shutdown(info)", "error"],
)
async def test_trap_exit_turns_exit_signals_into_messages(reason: Any) -> None:
    """trap_exit turns exit signals into messages (`ExitSignal(pid, reason)`), also `normal`."""
    async with Node.open(VirtualClock()) as node:
        crasher = node.spawn(obey)
        inbox: list[Any] = []
        trapper = node.spawn(linked_to, crasher, inbox, trap_exit=True)
        await settle()
        if isinstance(reason, BaseException):
            await crasher.send(("raise", reason))
        else:
            await crasher.send(("exit", reason))
        await crasher.wait()
        await settle()
        assert inbox == [ExitSignal(crasher, reason)]
        assert inbox[0].reason is reason
        assert trapper.is_alive()


async def test_trap_exit_turns_exit_calls_into_messages_naming_the_sender() -> None:
    """trap_exit turns exit signals into messages: `pid.exit(reason)` from a process arrives as
    ExitSignal(sender, reason); the trapping process stays alive."""
    async with Node.open(VirtualClock()) as node:
        inbox: list[Any] = []
        trapper = node.spawn(collect, inbox, trap_exit=True)

        async def sender(proc: Process) -> None:
            trapper.exit(Shutdown("please"))
            trapper.exit(NORMAL)
            await idle(proc)

        s = node.spawn(sender)
        await settle()
        assert inbox == [ExitSignal(s, Shutdown("please")), ExitSignal(s, NORMAL)]
        assert trapper.is_alive()


async def test_kill_is_never_trappable() -> None:
    """`kill` is never trappable: exit(KILL) to a trapping process kills it, reason `killed`."""
    async with Node.open(VirtualClock()) as node:
        inbox: list[Any] = []
        trapper = node.spawn(collect, inbox, trap_exit=True)
        await settle()
        trapper.exit(KILL)
        assert not trapper.is_alive()
        assert trapper.exit_reason is KILLED
        assert inbox == []


async def test_kill_linked_processes_then_see_killed() -> None:
    """`kill` is never trappable; linked processes then see `killed` (not `kill`): a trapping
    one gets ExitSignal(pid, killed) and lives, a non-trapping one exits `killed`."""
    async with Node.open(VirtualClock()) as node:
        victim = node.spawn(collect, [], trap_exit=True)
        inbox: list[Any] = []
        trapper = node.spawn(linked_to, victim, inbox, trap_exit=True)
        plain = node.spawn(linked_to, victim)
        await settle()
        victim.exit(KILL)
        assert victim.exit_reason is KILLED
        assert await plain.wait() is KILLED
        await settle()
        assert inbox == [ExitSignal(victim, KILLED)]
        assert inbox[0].reason is not KILL
        assert trapper.is_alive()


async def test_exit_killed_is_an_ordinary_trappable_signal() -> None:
    """`kill` is never trappable, but `killed` sent with pid.exit is an ordinary signal."""
    async with Node.open(VirtualClock()) as node:
        inbox: list[Any] = []
        trapper = node.spawn(collect, inbox, trap_exit=True)
        plain = node.spawn(idle)
        await settle()
        trapper.exit(KILLED)
        plain.exit(KILLED)
        assert await plain.wait() is KILLED
        await settle()
        assert trapper.is_alive()
        assert [m.reason for m in inbox] == [KILLED]


# -- pid.exit ------------------------------------------------------------------------------------


async def test_pid_exit_normal_is_ignored_by_a_non_trapping_process() -> None:
    """pid.exit(reason): `normal` to a non-trapping process does nothing (Erlang's exit/2)."""
    async with Node.open(VirtualClock()) as node:
        pid = node.spawn(idle)
        await settle()
        pid.exit(NORMAL)
        await settle()
        assert pid.is_alive()


@pytest.mark.parametrize(
    "reason", [SHUTDOWN, Shutdown("x"), ValueError("bad")], ids=["shutdown", "shutdown(x)", "error"]
)
async def test_pid_exit_abnormal_stops_a_non_trapping_process_with_that_reason(reason: Any) -> None:
    """pid.exit(reason): an abnormal reason stops a non-trapping process with that reason,
    running its cleanup (a graceful stop), and its links carry the same reason on."""
    async with Node.open(VirtualClock()) as node:
        cleaned: list[bool] = []

        async def with_cleanup(proc: Process) -> None:
            try:
                await idle(proc)
            finally:
                cleaned.append(True)

        pid = node.spawn(with_cleanup)
        friend = node.spawn(linked_to, pid)
        await settle()
        pid.exit(reason)
        assert await pid.wait() is reason
        assert cleaned == [True]
        assert await friend.wait() is reason


async def test_pid_exit_normal_to_itself_exits_the_process_normal() -> None:
    """erlang:exit/2: `normal` sent by a process to itself exits it with reason normal; its
    links see `normal` (so they stay up) and its monitors see it."""
    async with Node.open(VirtualClock()) as node:

        async def quit_self(proc: Process) -> None:
            await proc.receive()
            proc.pid.exit(NORMAL)
            await idle(proc)  # the exit lands at the next await

        pid = node.spawn(quit_self)
        friend = node.spawn(linked_to, pid)
        inbox: list[Any] = []
        watcher = node.spawn(monitoring, [pid], [], inbox)
        await settle()
        await pid.send("go")
        assert await pid.wait() is NORMAL
        await settle()
        assert friend.is_alive()
        assert [(type(m), m.reason) for m in inbox] == [(Down, NORMAL)]
        watcher.kill()


async def test_pid_exit_normal_to_itself_is_a_message_when_trapping() -> None:
    """erlang:exit/2: a trapping process that sends itself `normal` gets {'EXIT', self, normal}."""
    async with Node.open(VirtualClock()) as node:
        inbox: list[Any] = []

        async def trap_self(proc: Process) -> None:
            proc.pid.exit(NORMAL)
            await collect(proc, inbox)

        pid = node.spawn(trap_self, trap_exit=True)
        await settle()
        assert pid.is_alive()
        assert inbox == [ExitSignal(pid, NORMAL)]


@pytest.mark.parametrize("overflow", [Overflow.DROP_NEWEST, Overflow.FAIL, Overflow.BLOCK])
async def test_exit_signals_from_exit_2_obey_a_trapping_mailbox_capacity(overflow: Overflow) -> None:
    """exit/2 signals from arbitrary processes take mailbox slots under the overflow policy:
    a capacity-4 trapping process never holds more than 4 of them. drop_newest drops and
    counts; fail and block (which cannot wait inside a synchronous exit/2) raise MailboxFull."""
    async with Node.open(VirtualClock()) as node:
        gate = anyio.Event()

        async def stuck(proc: Process) -> None:
            await gate.wait()
            await idle(proc)

        target = node.spawn(stuck, trap_exit=True, capacity=4, overflow=overflow)
        await settle()
        refused = 0
        for i in range(50):
            try:
                target.exit(Shutdown(i))
            except MailboxFull:
                refused += 1
        mailbox = target.process.mailbox
        assert len(mailbox) == 4
        if overflow is Overflow.DROP_NEWEST:
            assert (mailbox.dropped, refused) == (46, 0)
        else:
            assert (mailbox.dropped, refused) == (0, 46)
        assert target.is_alive()
        gate.set()


async def test_link_exit_signals_still_bypass_the_capacity() -> None:
    """The exit signals of links are bounded by the links a process holds, and are never lost
    to a full mailbox: a full capacity-1 trapping process still hears of its link's death."""
    async with Node.open(VirtualClock()) as node:
        gate = anyio.Event()

        async def stuck(proc: Process) -> None:
            await gate.wait()
            await idle(proc)

        target = node.spawn(stuck, trap_exit=True, capacity=1)
        other = node.spawn(obey)
        await settle()
        target.process.link(other)
        target.send_nowait("filler")
        await other.send(("raise", RuntimeError("gone")))
        await other.wait()
        assert len(target.process.mailbox) == 2
        gate.set()


async def test_pid_exit_to_a_dead_process_is_a_no_op() -> None:
    """pid.exit(reason) to a dead process changes nothing (its reason is kept)."""
    async with Node.open(VirtualClock()) as node:
        pid = node.spawn(obey)
        await pid.send(("exit", SHUTDOWN))
        await pid.wait()
        pid.exit(RuntimeError("late"))
        pid.exit(KILL)
        pid.kill()
        assert pid.exit_reason is SHUTDOWN


# -- monitors ------------------------------------------------------------------------------------


async def test_monitors_are_one_way() -> None:
    """Monitors are one-way: the watcher gets Down(ref, pid, reason) and lives; a dying watcher
    does not affect the watched process."""
    async with Node.open(VirtualClock()) as node:
        target = node.spawn(obey)
        refs: list[Any] = []
        inbox: list[Any] = []
        watcher = node.spawn(monitoring, [target], refs, inbox)
        await settle()
        boom = RuntimeError("target crash")
        await target.send(("raise", boom))
        await target.wait()
        await settle()
        assert inbox == [Down(refs[0], target, boom)]
        assert watcher.is_alive()  # not linked: the crash did not travel

        other = node.spawn(idle)
        dying_watcher = node.spawn(monitoring, [other], [], [])
        await settle()
        dying_watcher.exit(RuntimeError("watcher crash"))
        await dying_watcher.wait()
        await settle()
        assert other.is_alive()


async def test_monitors_are_stackable() -> None:
    """Monitors are stackable: two monitors on one process give two Downs, one per ref."""
    async with Node.open(VirtualClock()) as node:
        target = node.spawn(obey)
        refs: list[Any] = []
        inbox: list[Any] = []
        node.spawn(monitoring, [target, target], refs, inbox)
        await settle()
        await target.send(("exit", Shutdown("bye")))
        await target.wait()
        await settle()
        assert refs[0] is not refs[1]
        assert inbox == [Down(refs[0], target, Shutdown("bye")), Down(refs[1], target, Shutdown("bye"))]


async def test_monitors_report_normal_exits_too() -> None:
    """Monitors report every exit, `normal` included (unlike links)."""
    async with Node.open(VirtualClock()) as node:
        target = node.spawn(obey)
        refs: list[Any] = []
        inbox: list[Any] = []
        node.spawn(monitoring, [target], refs, inbox)
        await settle()
        await target.send("return")
        await target.wait()
        await settle()
        assert inbox == [Down(refs[0], target, NORMAL)]


async def test_monitoring_a_dead_pid_gives_noproc_immediately() -> None:
    """Monitoring a dead pid gives `noproc` immediately (in the mailbox before monitor returns)."""
    async with Node.open(VirtualClock()) as node:
        dead = node.spawn(obey)
        await dead.send("return")
        await dead.wait()
        seen: list[Any] = []

        async def body(proc: Process) -> None:
            ref = proc.monitor(dead)
            seen.append((ref, proc.receive_nowait()))  # no await in between
            await idle(proc)

        pid = node.spawn(body)
        await settle()
        ((ref, down),) = seen
        assert down == Down(ref, dead, NOPROC)
        assert pid.is_alive()


async def test_demonitor_removes_the_monitor() -> None:
    """demonitor removes it: no Down for that ref, other monitors still fire."""
    async with Node.open(VirtualClock()) as node:
        target = node.spawn(obey)
        inbox: list[Any] = []
        refs: list[Any] = []

        async def body(proc: Process) -> None:
            first = proc.monitor(target)
            second = proc.monitor(target)
            refs.extend([first, second])
            proc.demonitor(first)
            proc.demonitor(first)  # twice is harmless
            await collect(proc, inbox)

        node.spawn(body)
        await settle()
        await target.send(("exit", SHUTDOWN))
        await target.wait()
        await settle()
        assert inbox == [Down(refs[1], target, SHUTDOWN)]


# -- the name registry ---------------------------------------------------------------------------


async def test_register_and_whereis() -> None:
    """Registry: spawn(name=...) and register(name, pid) make whereis(name) return the pid."""
    async with Node.open(VirtualClock()) as node:
        a = node.spawn(idle, name="a")
        b = node.spawn(idle)
        node.register("b", b)
        assert node.whereis("a") == a
        assert node.whereis("b") == b
        assert b.name == "b"
        assert node.whereis("nobody") is None
        assert node.resolve("a") == a
        with pytest.raises(NoProc):
            node.resolve("nobody")


async def test_register_name_taken() -> None:
    """Registry: a name held by a live process raises NameTaken, naming the holder."""
    async with Node.open(VirtualClock()) as node:
        a = node.spawn(idle, name="svc")
        b = node.spawn(idle)
        with pytest.raises(NameTaken) as err:
            node.spawn(idle, name="svc")
        assert err.value.holder == a
        with pytest.raises(NameTaken):
            node.register("svc", b)
        assert node.whereis("svc") == a


async def test_register_a_dead_pid_raises_noproc() -> None:
    """Registry: registering a dead pid raises NoProc."""
    async with Node.open(VirtualClock()) as node:
        dead = node.spawn(obey)
        await dead.send("return")
        await dead.wait()
        with pytest.raises(NoProc):
            node.register("ghost", dead)
        assert node.whereis("ghost") is None


async def test_registered_name_is_freed_on_exit() -> None:
    """Registry: the name is freed when its process exits (any reason), and can be reused."""
    async with Node.open(VirtualClock()) as node:
        first = node.spawn(obey, name="svc")
        await first.send(("raise", RuntimeError("crash")))
        await first.wait()
        assert node.whereis("svc") is None
        second = node.spawn(idle, name="svc")
        assert node.whereis("svc") == second
        second.kill()
        assert node.whereis("svc") is None
        third = node.spawn(idle)
        node.register("svc", third)
        assert node.whereis("svc") == third


async def test_a_second_name_for_a_named_process_is_refused() -> None:
    """Registry (erlang:register/2 badarg): a process has at most one name; registering it
    under another raises AlreadyRegistered naming the pid and its name, and moves nothing."""
    async with Node.open(VirtualClock()) as node:
        pid = node.spawn(idle, name="old")
        with pytest.raises(AlreadyRegistered) as err:
            node.register("new", pid)
        assert (err.value.pid, err.value.name) == (pid, "old")
        assert node.whereis("old") == pid
        assert node.whereis("new") is None


async def test_unregister_then_register_again() -> None:
    """Registry: unregister frees the name (the process lives on); it may then take another."""
    async with Node.open(VirtualClock()) as node:
        pid = node.spawn(idle, name="old")
        node.unregister("old")
        assert node.whereis("old") is None
        assert pid.name is None
        assert pid.is_alive()
        node.register("new", pid)
        assert node.whereis("new") == pid


async def test_call_cast_and_send_to_a_registered_name() -> None:
    """gen_server:call(Name, Req), gen_server:cast(Name, Msg) and Name ! Msg: a registered name
    works wherever a pid does. An unregistered name: call and send raise NoProc (Erlang's
    noproc / badarg); a cast is dropped without error, as OTP's is."""
    async with Node.open(VirtualClock()):
        server = await _Worker.start(name="echo")
        assert server is not None
        assert await call("echo", "ping", timeout=1.0) == "ping"
        assert whereis("echo") == server
        with pytest.raises(NoProc):
            await call("nobody", "ping", timeout=1.0)
        await cast("nobody", "dropped")
        with pytest.raises(NoProc):
            await send("nobody", "dropped")
        inbox: list[Any] = []
        current_node().spawn(collect, inbox, name="box")
        await send("box", "hello")
        await cast("box", "later")
        await settle()
        assert inbox[0] == "hello" and type(inbox[1]).__name__ == "Cast" and inbox[1].message == "later"


# -- the Node: nothing leaks ---------------------------------------------------------------------


class _Worker(GenServer):
    async def handle_call(self, request: Any, caller: Any) -> Any:
        if request == "crash":
            raise RuntimeError("worker crash")
        return request


async def _populate(node: Node) -> list[Pid]:
    """A little of everything: plain processes, links, a trapping one, servers, a supervisor."""
    pids = [node.spawn(idle), node.spawn(collect, [], trap_exit=True)]
    pids.append(node.spawn(linked_to, pids[0]))
    server = await _Worker.start(name="worker")
    assert server is not None
    pids.append(server)
    sup = await Supervisor.start_link(
        [ChildSpec("w1", _Worker.start_link), ChildSpec("w2", _Worker.start_link)]
    )
    pids.append(sup)
    pids.extend(info.pid for info in await Supervisor.which_children(sup))  # type: ignore[misc]
    await settle()
    return pids


def _tasks_of(pids: list[Pid]) -> list[asyncio.Task[None]]:
    tasks = [p.process.task for p in pids]
    assert all(t is not None for t in tasks)
    return [t for t in tasks if t is not None]


async def test_node_close_leaves_no_task_alive_after_a_normal_close() -> None:
    """After a Node closes, no task the kernel created is still alive: a normal close."""
    async with Node.open(VirtualClock()) as node:
        pids = await _populate(node)
        tasks = node.tasks()
        assert set(_tasks_of(pids)) <= tasks
        assert all(p.is_alive() for p in pids)
    assert node.tasks() == set()
    assert all(t.done() for t in tasks)
    assert not any(p.is_alive() for p in pids)
    assert list(node.processes()) == []
    assert node.whereis("worker") is None


async def test_node_close_leaves_no_task_alive_after_crashes_inside_processes() -> None:
    """After a Node closes, no task the kernel created is still alive: crashes inside processes
    (a plain process raising, a server crashing in a call, a killed process)."""
    async with Node.open(VirtualClock()) as node:
        pids = await _populate(node)
        tasks = node.tasks()
        crasher = node.spawn(obey)
        tasks |= node.tasks()
        await crasher.send(("raise", RuntimeError("crash")))
        await crasher.wait()
        with pytest.raises(Exception, match="worker crash"):
            await pids[3].call("crash")
        pids[1].kill()
        pids[0].exit(RuntimeError("linked crash"))
        await settle()
        assert not pids[2].is_alive()  # linked to pids[0]
    assert node.tasks() == set()
    assert all(t.done() for t in tasks)
    assert not any(p.is_alive() for p in pids)


async def test_node_close_leaves_no_task_alive_when_the_opening_block_is_cancelled() -> None:
    """After a Node closes, no task the kernel created is still alive: the block that opened
    the node is cancelled (anyio cancellation is level-triggered: the close must still run)."""
    pids: list[Pid] = []
    tasks: set[asyncio.Task[None]] = set()
    with anyio.CancelScope() as scope:
        async with Node.open(VirtualClock()) as node:
            pids = await _populate(node)
            tasks = node.tasks()
            scope.cancel()
            await anyio.Event().wait()  # cancelled here
    assert scope.cancelled_caught
    assert node.tasks() == set()
    assert len(tasks) >= len(pids)
    assert all(t.done() for t in tasks)
    assert not any(p.is_alive() for p in pids)


async def test_node_close_leaves_no_task_alive_when_a_task_group_is_cancelled() -> None:
    """After a Node closes, no task the kernel created is still alive: the task running the
    node is cancelled from outside by its task group, while a server is mid-call."""
    captured: dict[str, Any] = {}
    opened = anyio.Event()

    class Slow(GenServer):
        async def handle_call(self, request: Any, caller: Any) -> Any:
            await anyio.Event().wait()  # never answers

        async def terminate(self, reason: Any) -> None:
            await anyio.lowlevel.checkpoint()  # cleanup that awaits

    async def run_node() -> None:
        async with Node.open(VirtualClock()) as node:
            captured["node"] = node
            captured["pids"] = await _populate(node)
            slow = await Slow.start()
            assert slow is not None
            captured["pids"].append(slow)
            captured["tasks"] = node.tasks()
            opened.set()
            await slow.call("hang", timeout=None)

    async with anyio.create_task_group() as tg:
        tg.start_soon(run_node)
        await opened.wait()
        await settle()
        tg.cancel_scope.cancel()
    node: Node = captured["node"]
    assert node.tasks() == set()
    assert all(t.done() for t in captured["tasks"])
    assert not any(p.is_alive() for p in captured["pids"])


async def test_node_close_stops_root_processes_gracefully_in_reverse_start_order() -> None:
    """Node close: live roots are stopped gracefully (cleanup runs, reason shutdown), last
    started first."""
    order: list[str] = []

    def tracked(name: str) -> Any:
        async def body(proc: Process) -> None:
            try:
                await idle(proc)
            finally:
                order.append(name)

        return body

    async with Node.open(VirtualClock()) as node:
        pids = [node.spawn(tracked(n)) for n in ("first", "second", "third")]
        await settle()
    assert order == ["third", "second", "first"]
    assert [p.exit_reason for p in pids] == [SHUTDOWN] * 3
