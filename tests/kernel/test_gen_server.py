"""GenServer: calls, casts, infos, terminate, start semantics, the inactivity timeout.

Checklist section "gen_server" (`docs/otp-checklist.md`) and docs/design.md §2. Time moves only
through ``VirtualClock.advance``; "has the system reacted" is ``settle()``. Callers are
processes, so a call that raises shows up as the calling process's exit reason.
"""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from soma_runtime.kernel import (
    BRUTAL_KILL,
    IGNORE,
    KILLED,
    NOREPLY,
    NORMAL,
    PERMANENT,
    SHUTDOWN,
    TEMPORARY,
    TIMEOUT,
    TRANSIENT,
    Call,
    CallTimeout,
    CallToSelf,
    ChildSpec,
    Exit,
    ExitSignal,
    GenServer,
    Node,
    NoProc,
    Pid,
    Process,
    ProcessDied,
    Restart,
    Shutdown,
    StartError,
    Stop,
    Supervisor,
    VirtualClock,
    settle,
)

pytestmark = pytest.mark.anyio


class Boom(Exception):
    """What a server raises when a test tells it to crash."""


class Server(GenServer):
    """A scriptable server. ``log`` records what its callbacks saw, in order."""

    async def init(self, log: list[Any] | None = None, mode: Any = None) -> Any:
        self.log: list[Any] = log if log is not None else []
        self.held: list[Call] = []
        match mode:
            case "ignore":
                return IGNORE
            case ("raise", exc):
                raise exc
            case ("exit", reason):
                raise Exit(reason)
            case ("stop", reason):
                raise Stop(reason)
            case ("wait", event):
                await event.wait()
            case ("timeout", seconds):
                self.set_timeout(seconds)
        return None

    async def handle_call(self, request: Any, caller: Call) -> Any:
        self.log.append(("call", request))
        match request:
            case ("echo", value):
                return value
            case ("hold", event):
                await event.wait()
                return "held reply"
            case "crash":
                raise Boom("handle_call crashed")
            case ("exit", reason):
                raise Exit(reason)
            case "defer":
                self.held.append(caller)
                return NOREPLY
            case ("release", value):
                for held in self.held:
                    held.reply(value)
                self.held.clear()
                return "released"
            case ("stop", reason, reply):
                raise Stop(reason, reply=reply)
            case ("stop", reason):
                raise Stop(reason)
            case "call myself":
                return await self.pid.call(("echo", 1))
            case ("timeout", seconds):
                self.set_timeout(seconds)
                return "armed"
        raise AssertionError(f"unexpected call {request!r}")

    async def handle_cast(self, message: Any) -> None:
        self.log.append(("cast", message))
        match message:
            case ("hold", event):
                await event.wait()
            case "crash":
                raise Boom("handle_cast crashed")
            case ("stop", reason):
                raise Stop(reason)
            case ("timeout", seconds):
                self.set_timeout(seconds)

    async def handle_info(self, message: Any) -> None:
        self.log.append(("info", message))
        if isinstance(message, tuple) and message[:1] == ("timeout",):
            self.set_timeout(message[1])

    async def terminate(self, reason: Any) -> None:
        self.log.append(("terminate", reason))


async def start(*args: Any, **kwargs: Any) -> Pid:
    pid = await Server.start(*args, **kwargs)
    assert pid is not None
    return pid


async def calling(proc: Process, server: Pid, request: Any, timeout: float | None, out: list[Any]) -> None:
    """A caller process: records the reply; a raising call becomes its exit reason."""
    out.append(await server.call(request, timeout=timeout))


# -- call timeout ----------------------------------------------------------------------------


async def test_call_timeout_raises_in_the_caller_only_server_keeps_running_late_reply_dropped() -> None:
    """call timeout raises in the caller only; the server keeps running; the late reply is dropped."""
    clock = VirtualClock()
    async with Node.open(clock) as node:
        server = await start()
        release = anyio.Event()
        early: list[Any] = []
        patient: list[Any] = []
        impatient = node.spawn(calling, server, ("hold", release), 1.0, early)
        await settle()
        other = node.spawn(calling, server, ("echo", "second"), None, patient)  # queued behind
        await clock.advance(0.5)
        assert impatient.is_alive()  # not early
        await clock.advance(0.6)
        # The caller raised CallTimeout (its exit reason); nobody else was touched.
        assert isinstance(impatient.exit_reason, CallTimeout)
        assert impatient.exit_reason.pid == server
        assert server.is_alive()
        assert other.is_alive()
        release.set()  # the server now replies to a caller that gave up: dropped
        await settle()
        assert early == []
        assert patient == ["second"]
        assert server.is_alive()
        assert await server.call(("echo", "after")) == "after"


async def test_call_timeout_from_outside_any_process_raises_call_timeout() -> None:
    """call timeout raises in the caller (here a plain task), as CallTimeout (a TimeoutError)."""
    clock = VirtualClock()
    async with Node.open(clock) as node:
        server = await start()
        outcome: list[BaseException] = []

        async def caller() -> None:
            try:
                await server.call("defer", timeout=2.0)
            except TimeoutError as e:
                outcome.append(e)

        async with anyio.create_task_group() as tg:
            tg.start_soon(caller)
            await clock.advance(2.01)
        assert len(outcome) == 1 and isinstance(outcome[0], CallTimeout)
        assert server.is_alive()
        assert list(node.processes()) == [server.process]


# -- noproc and a server dying mid-call ------------------------------------------------------


async def test_call_to_a_dead_process_raises_noproc_promptly() -> None:
    """call to a dead process raises noproc promptly (even with no timeout: never hangs)."""
    async with Node.open(VirtualClock()):
        server = await start()
        server.kill()
        with pytest.raises(NoProc) as err:
            await server.call(("echo", 1), timeout=None)
        assert err.value.target == server


async def test_call_to_an_unknown_name_raises_noproc_promptly() -> None:
    """call to an unknown process raises noproc promptly (names resolve to NoProc)."""
    async with Node.open(VirtualClock()) as node:
        with pytest.raises(NoProc):
            node.resolve("nobody")
        with pytest.raises(NoProc):
            await Supervisor.which_children("nobody")
        server = await start(name="svc")
        assert await node.resolve("svc").call(("echo", 2)) == 2
        await server.call(("stop", NORMAL, "ok"))
        with pytest.raises(NoProc):
            node.resolve("svc")


@pytest.mark.parametrize(
    "how", ["kill", "exit shutdown(info)", "exit error"], ids=lambda h: h.replace(" ", "-")
)
async def test_server_dying_mid_call_makes_the_call_raise_with_the_server_exit_reason(how: str) -> None:
    """A server that dies mid-call makes the call raise with the server's exit reason
    (ProcessDied.reason); calls still queued in its mailbox fail the same way."""
    async with Node.open(VirtualClock()) as node:
        server = await start()
        first: list[Any] = []
        second: list[Any] = []
        in_call = node.spawn(calling, server, ("hold", anyio.Event()), None, first)
        await settle()
        queued = node.spawn(calling, server, ("echo", 1), None, second)
        await settle()
        if how == "kill":
            server.kill()
            expected: Any = KILLED
        elif how == "exit shutdown(info)":
            expected = Shutdown("going away")
            server.exit(expected)
        else:
            expected = Boom("external")
            server.exit(expected)
        await settle()
        assert server.exit_reason is expected
        for caller in (in_call, queued):
            died = caller.exit_reason
            assert isinstance(died, ProcessDied)
            assert died.pid == server
            assert died.reason is expected
        assert first == second == []


async def test_server_exiting_normally_mid_call_without_reply_raises_process_died_normal() -> None:
    """A server that dies mid-call makes the call raise with the server's exit reason, even
    `normal` (a deferred call it never answered)."""
    async with Node.open(VirtualClock()) as node:
        server = await start()
        out: list[Any] = []
        caller = node.spawn(calling, server, "defer", None, out)
        await settle()
        await server.cast(("stop", NORMAL))
        await settle()
        assert server.exit_reason is NORMAL
        assert isinstance(caller.exit_reason, ProcessDied)
        assert caller.exit_reason.reason is NORMAL


# -- exceptions in handle_call ---------------------------------------------------------------


async def test_exception_in_handle_call_crashes_the_server_and_the_call_raises() -> None:
    """Exceptions in handle_call crash the server (reason = the exception) and the caller's
    call raises."""
    async with Node.open(VirtualClock()):
        log: list[Any] = []
        server = await start(log)
        with pytest.raises(ProcessDied) as err:
            await server.call("crash")
        reason = server.exit_reason
        assert isinstance(reason, Boom)
        assert err.value.reason is reason
        assert err.value.__cause__ is reason
        assert not server.is_alive()


async def test_exception_in_handle_call_runs_terminate_with_the_exception() -> None:
    """Exceptions in handle_call crash the server: as OTP's gen_server does, terminate(reason)
    runs first, with the exception as the reason (a crash is not a kill)."""
    async with Node.open(VirtualClock()):
        log: list[Any] = []
        server = await start(log)
        with pytest.raises(ProcessDied):
            await server.call("crash")
        assert log[-1] == ("terminate", server.exit_reason)
        assert isinstance(server.exit_reason, Boom)


async def test_exit_raised_in_a_callback_runs_terminate_and_exits_with_the_reason() -> None:
    """Exit(reason) raised in handle_call stops the server with that reason; terminate runs."""
    async with Node.open(VirtualClock()):
        log: list[Any] = []
        server = await start(log)
        with pytest.raises(ProcessDied) as err:
            await server.call(("exit", Shutdown("bye")))
        assert err.value.reason == Shutdown("bye")
        assert server.exit_reason == Shutdown("bye")
        assert log[-1] == ("terminate", Shutdown("bye"))


@pytest.mark.parametrize("restart", [PERMANENT, TRANSIENT, TEMPORARY], ids=lambda r: r.value)
async def test_exception_in_handle_call_supervisor_restarts_it_per_restart_type(
    restart: Restart,
) -> None:
    """Exceptions in handle_call crash the server and the caller's call raises; the supervisor
    restarts it per its restart type (permanent, transient: yes; temporary: no, spec gone)."""
    async with Node.open(VirtualClock()):
        sup = await Supervisor.start_link([ChildSpec("srv", Server.start_link, restart=restart)])
        (info,) = await Supervisor.which_children(sup)
        old = info.pid
        assert isinstance(old, Pid)
        with pytest.raises(ProcessDied) as err:
            await old.call("crash")
        assert isinstance(err.value.reason, Boom)
        await settle()
        assert not old.is_alive()
        children = await Supervisor.which_children(sup)
        if restart is TEMPORARY:
            assert children == []
        else:
            (info,) = children
            assert isinstance(info.pid, Pid) and info.pid != old
            assert info.pid.is_alive()
            assert await info.pid.call(("echo", "again")) == "again"
        assert sup.is_alive()


# -- terminate -------------------------------------------------------------------------------


async def test_terminate_runs_on_graceful_shutdown_by_the_supervisor() -> None:
    """terminate(reason) runs on graceful shutdown (terminate_child: reason shutdown)."""
    async with Node.open(VirtualClock()):
        log: list[Any] = []
        sup = await Supervisor.start_link([ChildSpec("srv", Server.start_link, args=(log,))])
        (info,) = await Supervisor.which_children(sup)
        assert isinstance(info.pid, Pid)
        await Supervisor.terminate_child(sup, "srv")
        assert info.pid.exit_reason is SHUTDOWN
        assert log == [("terminate", SHUTDOWN)]


async def test_terminate_runs_on_stop_and_on_node_close() -> None:
    """terminate(reason) runs on graceful shutdown: Stop(reason) and the node's close."""
    async with Node.open(VirtualClock()):
        stopped_log: list[Any] = []
        stopped = await start(stopped_log)
        await stopped.cast(("stop", Shutdown("done")))
        assert await stopped.wait() == Shutdown("done")
        assert stopped_log[-1] == ("terminate", Shutdown("done"))
        closed_log: list[Any] = []
        closed = await start(closed_log)
    assert closed.exit_reason is SHUTDOWN
    assert closed_log == [("terminate", SHUTDOWN)]


async def test_terminate_runs_when_a_trapping_server_gets_an_exit_signal_from_its_parent() -> None:
    """terminate(reason) runs on graceful shutdown: a trapping server stopped by its parent's
    exit signal (OTP) terminates with the parent's reason."""

    class Trapping(Server):
        trap_exit = True

    async with Node.open(VirtualClock()) as node:
        log: list[Any] = []
        servers: list[Pid] = []

        async def parent(proc: Process) -> None:
            pid = await Trapping.start_link(log)
            assert pid is not None
            servers.append(pid)
            await proc.receive()
            raise Exit(Shutdown("parent leaves"))

        p = node.spawn(parent)
        await settle()
        (server,) = servers
        await p.send("go")
        assert await server.wait() == Shutdown("parent leaves")
        assert log == [("terminate", Shutdown("parent leaves"))]


async def test_terminate_does_not_run_on_kill() -> None:
    """terminate(reason) runs on graceful shutdown, not on kill (pid.kill, BRUTAL_KILL)."""
    async with Node.open(VirtualClock()):
        log: list[Any] = []
        server = await start(log)
        server.kill()
        await settle()
        assert server.exit_reason is KILLED
        brutal_log: list[Any] = []
        sup = await Supervisor.start_link(
            [ChildSpec("srv", Server.start_link, args=(brutal_log,), shutdown=BRUTAL_KILL)]
        )
        (info,) = await Supervisor.which_children(sup)
        assert isinstance(info.pid, Pid)
        await Supervisor.terminate_child(sup, "srv")
        await settle()
        assert info.pid.exit_reason is KILLED
        assert [e for e in log + brutal_log if e[0] == "terminate"] == []


# -- cast and info ---------------------------------------------------------------------------


async def test_cast_and_info_are_asynchronous() -> None:
    """cast and info are asynchronous: they return while the server is still busy."""
    async with Node.open(VirtualClock()):
        log: list[Any] = []
        server = await start(log)
        busy = anyio.Event()
        await server.cast(("hold", busy))
        await settle()
        await server.cast("queued cast")  # returns although the server is blocked
        await server.send("queued info")
        assert log == [("cast", ("hold", busy))]
        assert len(server.process.mailbox) == 2
        busy.set()
        await settle()
        assert log[1:] == [("cast", "queued cast"), ("info", "queued info")]


async def test_cast_and_info_from_one_sender_arrive_in_order() -> None:
    """cast and info are asynchronous; messages from one sender arrive in order (interleaved
    casts, plain messages and calls from each of two senders keep each sender's order)."""
    async with Node.open(VirtualClock()) as node:
        log: list[Any] = []
        server = await start(log)

        async def sender(proc: Process, tag: str) -> None:
            for i in range(20):
                if i % 3 == 0:
                    await server.cast((tag, i))
                elif i % 3 == 1:
                    await server.send((tag, i))
                else:
                    await server.call(("echo", (tag, i)))

        a = node.spawn(sender, "a")
        b = node.spawn(sender, "b")
        await settle()
        assert a.exit_reason is NORMAL and b.exit_reason is NORMAL
        for tag in ("a", "b"):
            seen = [
                entry[1] if entry[0] != "call" else entry[1][1]
                for entry in log
                if (entry[1] if entry[0] != "call" else entry[1][1])[0] == tag
            ]
            assert seen == [(tag, i) for i in range(20)]


async def test_cast_envelopes_are_reused_once_served_and_never_while_someone_holds_one() -> None:
    """A served cast's envelope carries a later cast (a stream of casts allocates none, see
    ``process.recycle_cast``); an envelope a plain process received stays its own, intact."""
    async with Node.open(VirtualClock()) as node:
        log: list[Any] = []
        server = await start(log)
        busy = anyio.Event()
        await server.cast(("hold", busy))
        await settle()
        await server.cast("queued")
        envelope = server.process.mailbox._items[-1]  # waits behind the held cast
        busy.set()
        await settle()  # served: the envelope went back to the pool

        held: list[Any] = []

        async def plain(proc: Process) -> None:
            held.append(await proc.receive())
            await anyio.sleep_forever()

        receiver = node.spawn(plain)
        await receiver.cast("mine")
        await settle()
        assert held == [envelope] and held[0].message == "mine"  # reused, with its new message

        for i in range(50):  # more traffic through the pool leaves the held envelope alone
            await server.cast(i)
        await settle()
        assert held[0].message == "mine"
        assert log[1:] == [("cast", "queued"), *[("cast", i) for i in range(50)]]


async def test_exception_in_handle_cast_crashes_the_server_with_the_exception() -> None:
    """Exceptions in callbacks crash the server (reason = the exception); casts too."""
    async with Node.open(VirtualClock()):
        log: list[Any] = []
        server = await start(log)
        await server.cast("crash")
        await settle()
        assert isinstance(server.exit_reason, Boom)
        assert log[-1] == ("terminate", server.exit_reason)


# -- replies: NOREPLY, Stop ------------------------------------------------------------------


async def test_noreply_and_deferred_caller_reply() -> None:
    """NOREPLY + caller.reply(value): the reply comes later, from another callback; the server
    keeps serving other calls meanwhile."""
    async with Node.open(VirtualClock()) as node:
        server = await start()
        out1: list[Any] = []
        out2: list[Any] = []
        c1 = node.spawn(calling, server, "defer", None, out1)
        c2 = node.spawn(calling, server, "defer", None, out2)
        await settle()
        assert c1.is_alive() and c2.is_alive() and out1 == out2 == []
        assert await server.call(("release", "later")) == "released"
        await settle()
        assert out1 == out2 == ["later"]
        assert c1.exit_reason is NORMAL and c2.exit_reason is NORMAL


async def test_deferred_reply_after_caller_timed_out_is_dropped() -> None:
    """NOREPLY + caller.reply: a deferred reply to a caller that timed out is dropped."""
    clock = VirtualClock()
    async with Node.open(clock) as node:
        server = await start()
        out: list[Any] = []
        caller = node.spawn(calling, server, "defer", 1.0, out)
        await clock.advance(1.5)
        assert isinstance(caller.exit_reason, CallTimeout)
        assert await server.call(("release", "too late")) == "released"
        assert server.is_alive() and out == []


async def test_stop_with_reply_replies_then_terminates_with_the_reason() -> None:
    """Stop(reason, reply=...): the caller gets the reply, terminate runs, the server exits
    with the reason."""
    async with Node.open(VirtualClock()):
        log: list[Any] = []
        server = await start(log)
        assert await server.call(("stop", Shutdown("asked"), "bye")) == "bye"
        assert await server.wait() == Shutdown("asked")
        assert log[-1] == ("terminate", Shutdown("asked"))


async def test_stop_without_reply_fails_the_call_with_the_reason() -> None:
    """Stop(reason) with no reply: the caller's call raises with the server's exit reason."""
    async with Node.open(VirtualClock()):
        server = await start()
        with pytest.raises(ProcessDied) as err:
            await server.call(("stop", NORMAL))
        assert err.value.reason is NORMAL
        assert server.exit_reason is NORMAL


# -- starting --------------------------------------------------------------------------------


async def test_start_returns_after_init_and_ignore_from_init_returns_none() -> None:
    """start returns after init; IGNORE from init: start returns None, the process is gone."""
    async with Node.open(VirtualClock()) as node:
        release = anyio.Event()
        started: list[Any] = []

        async def starter(proc: Process) -> None:
            started.append(await Server.start_link(None, ("wait", release)))

        s = node.spawn(starter)
        await settle()
        assert started == []  # still inside init
        release.set()
        await settle()
        assert isinstance(started[0], Pid) and started[0].is_alive()
        assert s.exit_reason is NORMAL

        assert await Server.start(None, "ignore") is None
        await settle()
        assert list(node.processes()) == [started[0].process]


@pytest.mark.parametrize(
    "mode,reason",
    [
        (("raise", Boom("init failed")), Boom),
        (("exit", Shutdown("no")), Shutdown("no")),
        (("stop", Shutdown("refused")), Shutdown("refused")),
    ],
    ids=["exception", "exit", "stop"],
)
async def test_init_failure_raises_start_error_and_the_linked_starter_is_not_killed(
    mode: Any, reason: Any
) -> None:
    """init failure -> StartError(reason) in the starter; the linked starter is NOT killed
    (OTP 26 init_fail). Stop(reason) from init gives that reason, as {stop, Reason} does."""
    async with Node.open(VirtualClock()) as node:
        errors: list[StartError] = []

        async def starter(proc: Process) -> None:
            try:
                await Server.start_link(None, mode)
            except StartError as e:
                errors.append(e)
            await proc.receive()

        s = node.spawn(starter)
        await settle()
        (err,) = errors
        if isinstance(reason, type):
            assert isinstance(err.reason, reason)
        else:
            assert err.reason == reason
        assert s.is_alive()
        assert s.process.links() == []
        assert [p.pid for p in node.processes()] == [s]


async def test_server_killed_during_init_fails_the_start_instead_of_hanging() -> None:
    """init failure -> StartError: a server killed while in init fails its start with
    `killed`; a starter that does not link (or traps exits) must not hang."""
    async with Node.open(VirtualClock()) as node:
        errors: list[StartError] = []

        async def starter(proc: Process) -> None:
            try:
                await Server.start(None, ("wait", anyio.Event()), name="slow")
            except StartError as e:
                errors.append(e)

        s = node.spawn(starter)
        await settle()
        slow = node.whereis("slow")
        assert slow is not None
        slow.kill()
        await settle()
        assert s.exit_reason is NORMAL
        assert [e.reason for e in errors] == [KILLED]


async def test_server_stopped_during_init_fails_the_start_with_the_reason() -> None:
    """init failure -> StartError: a server stopped (exit signal) while in init fails its
    start with that reason; the trapping starter keeps running."""
    async with Node.open(VirtualClock()) as node:
        errors: list[StartError] = []

        async def starter(proc: Process) -> None:
            try:
                await Server.start_link(None, ("wait", anyio.Event()), name="slow")
            except StartError as e:
                errors.append(e)
            while True:
                await proc.receive()

        s = node.spawn(starter, trap_exit=True)
        await settle()
        slow = node.whereis("slow")
        assert slow is not None
        slow.exit(Shutdown("not now"))
        await settle()
        assert slow.exit_reason == Shutdown("not now")
        assert [e.reason for e in errors] == [Shutdown("not now")]
        assert s.is_alive()


async def test_server_stopped_before_its_task_ran_fails_the_start() -> None:
    """init failure -> StartError: a server stopped before its task ever ran fails the start
    (it does not leave the starter waiting for an init that never comes)."""
    async with Node.open(VirtualClock()) as node:
        errors: list[StartError] = []

        async def starter(proc: Process) -> None:
            try:
                await Server.start(None, name="early")
            except StartError as e:
                errors.append(e)

        async def stopper(proc: Process) -> None:
            # Runs after the starter spawned the server, before the server's task ran.
            pid = node.whereis("early")
            assert pid is not None
            pid.exit(Shutdown("too early"))

        # Tasks run in creation order: the starter spawns the server (its task queued behind
        # the stopper's), then the stopper stops it before it ever ran.
        s = node.spawn(starter)
        stop = node.spawn(stopper)
        await settle()
        assert stop.exit_reason is NORMAL
        assert s.exit_reason is NORMAL
        assert [e.reason for e in errors] == [Shutdown("too early")]


async def test_call_to_itself_raises_call_to_self() -> None:
    """A call to itself raises CallToSelf instead of deadlocking (the server crashes with it
    here because handle_call lets it escape)."""
    async with Node.open(VirtualClock()):
        server = await start()
        with pytest.raises(ProcessDied) as err:
            await server.call("call myself", timeout=None)
        assert isinstance(err.value.reason, CallToSelf)
        assert isinstance(server.exit_reason, CallToSelf)


# -- the inactivity timeout ------------------------------------------------------------------


async def test_set_timeout_fires_after_inactivity_on_the_virtual_clock() -> None:
    """set_timeout(s > 0): if no message arrives within s seconds, handle_info(TIMEOUT) runs."""
    clock = VirtualClock()
    async with Node.open(clock):
        log: list[Any] = []
        server = await start(log, ("timeout", 5.0))
        await clock.advance(4.9)
        assert log == []
        await clock.advance(0.2)
        assert log == [("info", TIMEOUT)]
        await clock.advance(100)  # not re-armed by handle_info: fires once
        assert log == [("info", TIMEOUT)]
        assert server.is_alive()


async def test_set_timeout_is_cancelled_by_a_message_and_rearmed_per_callback() -> None:
    """set_timeout(s > 0): a message before the deadline cancels it; each callback re-arms."""
    clock = VirtualClock()
    async with Node.open(clock):
        log: list[Any] = []
        server = await start(log)
        assert await server.call(("timeout", 3.0)) == "armed"
        await clock.advance(2.0)
        await server.cast("poke")  # not re-armed by this callback
        await clock.advance(10.0)
        assert log == [("call", ("timeout", 3.0)), ("cast", "poke")]
        await server.cast(("timeout", 3.0))
        await clock.advance(2.0)
        await server.send(("timeout", 3.0))  # re-armed from now
        await clock.advance(2.5)
        assert ("info", TIMEOUT) not in log
        await clock.advance(0.6)
        assert log[-1] == ("info", TIMEOUT)
        assert log.count(("info", TIMEOUT)) == 1


async def test_set_timeout_zero_fires_when_the_mailbox_is_empty() -> None:
    """set_timeout(0): TIMEOUT as soon as the mailbox is empty — after the whole burst of
    queued messages, not in between (the group-commit idiom)."""
    async with Node.open(VirtualClock()):
        log: list[Any] = []
        server = await start(log)
        busy = anyio.Event()
        await server.cast(("hold", busy))
        await settle()
        for i in range(3):
            await server.cast(("timeout", 0))
            await server.cast(i)
        busy.set()
        await settle()
        assert log[1:] == [
            ("cast", ("timeout", 0)),
            ("cast", 0),
            ("cast", ("timeout", 0)),
            ("cast", 1),
            ("cast", ("timeout", 0)),
            ("cast", 2),
        ]
        await server.cast(("timeout", 0))
        await settle()
        assert log[-2:] == [("cast", ("timeout", 0)), ("info", TIMEOUT)]


async def test_trapped_exit_signal_from_a_non_parent_is_a_message() -> None:
    """trap_exit turns exit signals into messages: a trapping server gets ExitSignal from a
    linked process that is not its parent in handle_info, and keeps running."""

    class Trapping(Server):
        trap_exit = True

    async with Node.open(VirtualClock()) as node:
        log: list[Any] = []
        server = await Trapping.start(log)
        assert server is not None

        async def doomed(proc: Process) -> None:
            proc.link(server)
            raise Boom("linked crash")

        d = node.spawn(doomed)
        await settle()
        assert isinstance(d.exit_reason, Boom)
        assert log == [("info", ExitSignal(d, d.exit_reason))]
        assert server.is_alive()


async def test_a_server_started_without_a_link_has_no_parent() -> None:
    """gen.erl do_spawn without a link: the server has no parent, so an exit signal from its
    starter (sent with exit/2) is an ordinary one — a message to a trapping server, which keeps
    running — not the parent's order to shut down."""

    class Trapping(Server):
        trap_exit = True

    async with Node.open(VirtualClock()) as node:
        log: list[Any] = []
        servers: list[Pid] = []

        async def starter(proc: Process) -> None:
            pid = await Trapping.start(log)
            assert pid is not None
            servers.append(pid)
            await proc.receive()
            pid.exit(Shutdown("starter says stop"))
            await proc.receive()

        s = node.spawn(starter)
        await settle()
        (server,) = servers
        assert server.process.parent is None
        await s.send("go")
        await settle()
        assert server.is_alive()
        assert log == [("info", ExitSignal(s, Shutdown("starter says stop")))]
        s.kill()
        await settle()
        assert server.is_alive()  # not linked: its starter's death is none of its business


class StepClock:
    """A clock whose timers fire only when the test says so, synchronously — so a timer can
    fire in the same instant a message arrives, as real time allows."""

    class Timer:
        def __init__(self, when: float, callback: Any) -> None:
            self.when = when
            self.callback = callback
            self.cancelled = False

        def cancel(self) -> None:
            self.cancelled = True

    def __init__(self) -> None:
        self.t = 0.0
        self.timers: list[StepClock.Timer] = []

    def now(self) -> float:
        return self.t

    def call_at(self, when: float, callback: Any) -> StepClock.Timer:
        timer = StepClock.Timer(when, callback)
        self.timers.append(timer)
        return timer

    async def sleep(self, delay: float) -> None:
        raise AssertionError("not used")

    def fire_until(self, t: float) -> None:
        self.t = t
        due = [x for x in self.timers if x.when <= t and not x.cancelled]
        self.timers = [x for x in self.timers if x not in due]
        for timer in due:
            timer.callback()


async def test_set_timeout_that_fires_as_a_message_arrives_is_not_delivered() -> None:
    """set_timeout(s > 0): a message that arrives in the same instant the timer fires wins
    (OTP's receive-after takes the message); the stale expiry is never handed to handle_info."""
    clock = StepClock()
    async with Node.open(clock):
        log: list[Any] = []
        server = await start(log, ("timeout", 1.0))
        await settle()
        server.send_nowait("message")
        clock.fire_until(1.0)  # no scheduling point in between
        await settle()
        assert log == [("info", "message")]
        await server.send("next")
        await settle()
        assert log == [("info", "message"), ("info", "next")]
        assert server.is_alive()


async def test_a_stale_expiry_does_not_swallow_the_timeout_armed_next() -> None:
    """A timer that fires as a message arrives leaves its stale expiry queued behind that
    message. If handling the message arms a new timeout, the new one still fires: the stale
    expiry used to consume it, so a store group-committing on ``set_timeout(0)`` sat on
    acknowledged appends until some other message came (callers timed out after 30 s)."""
    clock = StepClock()
    async with Node.open(clock):
        log: list[Any] = []
        server = await start(log, ("timeout", 1.0))
        await settle()
        server.send_nowait(("timeout", 0))  # handle_info arms a 0 s timeout
        clock.fire_until(1.0)  # the 1 s timer fires with that message still queued
        await settle()
        assert log == [("info", ("timeout", 0)), ("info", TIMEOUT)]
        assert server.is_alive()
