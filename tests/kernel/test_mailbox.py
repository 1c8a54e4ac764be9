"""Mailboxes: bounded, with an explicit overflow policy (block / drop_newest / fail).

docs/design.md §2 "Mailboxes are bounded ... No mailbox grows without bound." The server under
test blocks on an Event while handling one message, so everything sent after it stays in
its mailbox; senders are processes, so "the sender waits" is a live process whose task is
not done.
"""

from __future__ import annotations

import weakref
from typing import Any, ClassVar

import anyio
import pytest

from soma_runtime.kernel import (
    DEFAULT_CAPACITY,
    KILLED,
    NORMAL,
    CallTimeout,
    Down,
    ExitSignal,
    GenServer,
    Mailbox,
    MailboxFull,
    Node,
    NoProc,
    Overflow,
    Pid,
    Process,
    ProcessDied,
    VirtualClock,
    settle,
)

pytestmark = pytest.mark.anyio


class Holder(GenServer):
    """Records what it handles; ("hold", event) blocks it until the event is set."""

    mailbox_capacity: ClassVar[int | None] = 2

    async def init(self, seen: list[Any]) -> None:
        self.seen = seen

    async def handle_call(self, request: Any, caller: Any) -> Any:
        self.seen.append(("call", request))
        return ("reply", request)

    async def handle_cast(self, message: Any) -> None:
        self.seen.append(message)
        if isinstance(message, tuple) and message[0] == "hold":
            await message[1].wait()

    async def handle_info(self, message: Any) -> None:
        self.seen.append(("info", message))


class DropHolder(Holder):
    overflow = Overflow.DROP_NEWEST


class FailHolder(Holder):
    overflow = Overflow.FAIL


async def blocked_server(cls: type[Holder], seen: list[Any]) -> tuple[Pid, anyio.Event]:
    """A server busy with ("hold", event) and a mailbox filled to its capacity (2)."""
    release = anyio.Event()
    pid = await cls.start(seen)
    assert pid is not None
    await pid.cast(("hold", release))
    await settle()
    await pid.cast("m1")
    await pid.cast("m2")
    assert len(pid.process.mailbox) == 2
    assert pid.process.mailbox.full()
    return pid, release


async def casting(proc: Process, server: Pid, *messages: Any) -> None:
    for message in messages:
        await server.cast(message)


async def calling(proc: Process, server: Pid, request: Any, out: list[Any], timeout: Any = None) -> None:
    out.append(await server.call(request, timeout=timeout))


# -- bounded --------------------------------------------------------------------------------


def test_mailbox_capacity_is_bounded_and_validated() -> None:
    """Mailboxes are bounded: try_put refuses past the capacity; the capacity must be a
    positive int, and the default is DEFAULT_CAPACITY."""
    box = Mailbox(3)
    assert [box.try_put(i) for i in range(4)] == [True, True, True, False]
    assert len(box) == 3 and box.full()
    assert box.get_nowait() == 0
    assert box.try_put(3)
    assert [box.get_nowait() for _ in range(3)] == [1, 2, 3]
    with pytest.raises(IndexError):
        box.get_nowait()
    assert Mailbox().capacity == DEFAULT_CAPACITY
    for bad in (0, -1, True, 2.5, "3"):
        with pytest.raises(ValueError, match="capacity"):
            Mailbox(bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="overflow"):
        Mailbox(3, "block")  # type: ignore[arg-type]


def test_a_message_taken_is_let_go_by_the_mailbox_at_once() -> None:
    """A mailbox that never drains (a busy server's) keeps nothing it has handed out: each
    message lives as long as its receiver holds it, not until the next compaction."""

    class Message:
        pass

    box = Mailbox()
    sent = [Message() for _ in range(10)]
    refs = [weakref.ref(m) for m in sent]
    for message in sent:
        box.try_put(message)
    del sent, message
    for _ in range(5):
        box.get_nowait()  # taken and dropped at once, as a handler that is done with it
    assert [ref() is None for ref in refs] == [True] * 5 + [False] * 5
    assert len(box) == 5


async def test_process_and_server_capacity_come_from_spawn_class_or_start() -> None:
    """Mailboxes are bounded, with the capacity configurable per process."""
    async with Node.open(VirtualClock()) as node:
        plain = node.spawn(lambda proc: proc.receive(), capacity=7, overflow=Overflow.FAIL)
        assert plain.process.mailbox.capacity == 7
        assert plain.process.mailbox.overflow is Overflow.FAIL
        assert node.spawn(lambda proc: proc.receive()).process.mailbox.capacity == DEFAULT_CAPACITY
        by_class = await Holder.start([])
        by_arg = await Holder.start([], capacity=5)
        assert by_class is not None and by_arg is not None
        assert by_class.process.mailbox.capacity == 2
        assert by_arg.process.mailbox.capacity == 5


# -- block ----------------------------------------------------------------------------------


async def test_block_sender_waits_until_there_is_room() -> None:
    """Overflow `block` (the default): a sender to a full mailbox waits until there is room,
    then delivers; nothing is lost and order is kept."""
    async with Node.open(VirtualClock()) as node:
        seen: list[Any] = []
        server, release = await blocked_server(Holder, seen)
        sender = node.spawn(casting, server, "m3", "m4")
        await settle()
        assert sender.is_alive()  # waiting for room
        task = sender.process.task
        assert task is not None and not task.done()
        assert len(server.process.mailbox) == 2  # never above the capacity
        release.set()
        await settle()
        assert sender.exit_reason is NORMAL
        assert seen == [("hold", release), "m1", "m2", "m3", "m4"]
        assert server.process.mailbox.dropped == 0


async def test_block_call_waits_for_room_then_gets_its_reply() -> None:
    """Overflow `block`: a call to a full mailbox waits for room, then is served."""
    async with Node.open(VirtualClock()) as node:
        seen: list[Any] = []
        server, release = await blocked_server(Holder, seen)
        out: list[Any] = []
        caller = node.spawn(calling, server, "q", out)
        await settle()
        assert caller.is_alive() and out == []
        release.set()
        await settle()
        assert out == [("reply", "q")]
        assert caller.exit_reason is NORMAL


async def test_block_many_senders_all_deliver_as_room_appears() -> None:
    """Overflow `block`: many blocked senders all get through as the server drains, each
    sender's messages in order, and the mailbox never exceeds its capacity."""
    async with Node.open(VirtualClock()) as node:
        seen: list[Any] = []
        server, release = await blocked_server(Holder, seen)
        senders = [node.spawn(casting, server, *[(s, i) for i in range(5)]) for s in range(4)]
        await settle()
        assert all(s.is_alive() for s in senders)
        assert len(server.process.mailbox) == 2
        release.set()
        await settle()
        assert all(s.exit_reason is NORMAL for s in senders)
        for s in range(4):
            assert [m for m in seen if isinstance(m, tuple) and m[0] == s] == [(s, i) for i in range(5)]


async def test_block_call_timeout_covers_the_wait_for_room() -> None:
    """Overflow `block` + call timeout: a call stuck waiting for room still times out in the
    caller (the timeout bounds the whole call), and nothing is delivered afterwards."""
    clock = VirtualClock()
    async with Node.open(clock) as node:
        seen: list[Any] = []
        server, release = await blocked_server(Holder, seen)
        out: list[Any] = []
        caller = node.spawn(calling, server, "late", out, 1.0)
        await clock.advance(0.5)
        assert caller.is_alive()
        await clock.advance(0.6)
        assert isinstance(caller.exit_reason, CallTimeout)
        assert server.is_alive()
        release.set()
        await settle()
        assert ("call", "late") not in seen
        assert len(server.process.mailbox) == 0


async def test_block_cancelled_sender_passes_its_wakeup_on() -> None:
    """Overflow `block`: a blocked sender that is woken for room but cancelled before it can
    use it passes the room on — the next blocked sender is not left waiting forever."""
    async with Node.open(VirtualClock()) as node:
        box_owner_seen: list[Any] = []
        release = anyio.Event()
        server = await Holder.start(box_owner_seen, capacity=1)
        assert server is not None
        await server.cast(("hold", release))
        await settle()
        await server.cast("fill")
        first = node.spawn(casting, server, "first")
        await settle()
        second = node.spawn(casting, server, "second")
        await settle()
        mailbox = server.process.mailbox
        # Make room without the server running: the oldest waiter (first) is woken...
        assert mailbox.get_nowait().message == "fill"
        first.kill()  # ...and dies before it ever runs again.
        await settle()
        assert second.exit_reason is NORMAL
        release.set()
        await settle()
        assert box_owner_seen == [("hold", release), "second"]


async def test_blocked_senders_are_released_when_the_target_dies() -> None:
    """Overflow `block`: when the target exits, blocked senders are released — a cast is
    dropped (as any message to a dead process), a call raises."""
    async with Node.open(VirtualClock()) as node:
        seen: list[Any] = []
        server, _release = await blocked_server(Holder, seen)
        sender = node.spawn(casting, server, "m3")
        out: list[Any] = []
        caller = node.spawn(calling, server, "q", out)
        await settle()
        assert sender.is_alive() and caller.is_alive()
        server.kill()
        await settle()
        assert sender.exit_reason is NORMAL
        assert isinstance(caller.exit_reason, (NoProc, ProcessDied))


async def test_send_nowait_to_a_full_block_mailbox_raises() -> None:
    """Overflow `block`: send_nowait cannot wait, so a full mailbox raises MailboxFull."""
    async with Node.open(VirtualClock()):
        server, _release = await blocked_server(Holder, [])
        with pytest.raises(MailboxFull):
            server.send_nowait("x")
        assert len(server.process.mailbox) == 2


# -- drop_newest ----------------------------------------------------------------------------


async def test_drop_newest_drops_and_counts_the_new_message() -> None:
    """Overflow `drop_newest`: a message to a full mailbox is dropped and counted in
    mailbox.dropped; the sender does not wait; the queued (older) messages are kept."""
    async with Node.open(VirtualClock()):
        seen: list[Any] = []
        server, release = await blocked_server(DropHolder, seen)
        mailbox = server.process.mailbox
        await server.cast("c3")
        await server.send("i4")
        server.send_nowait("n5")
        assert mailbox.dropped == 3
        assert len(mailbox) == 2
        release.set()
        await settle()
        assert seen == [("hold", release), "m1", "m2"]
        await server.cast("after")
        await settle()
        assert seen[-1] == "after"
        assert mailbox.dropped == 3


async def test_drop_newest_calls_raise_mailbox_full_instead_of_being_dropped() -> None:
    """Overflow `drop_newest`: a call is never silently dropped — it raises MailboxFull."""
    async with Node.open(VirtualClock()):
        server, release = await blocked_server(DropHolder, [])
        with pytest.raises(MailboxFull) as err:
            await server.call("q", timeout=None)
        assert err.value.pid == server
        assert err.value.capacity == 2
        release.set()
        await settle()
        assert await server.call("q") == ("reply", "q")


# -- fail -----------------------------------------------------------------------------------


async def test_fail_sender_gets_mailbox_full() -> None:
    """Overflow `fail`: the sender gets a typed MailboxFull naming the pid and the capacity;
    nothing is queued and the server is unaffected."""
    async with Node.open(VirtualClock()):
        seen: list[Any] = []
        server, release = await blocked_server(FailHolder, seen)
        for send in (server.cast, server.send):
            with pytest.raises(MailboxFull) as err:
                await send("x")
            assert err.value.pid == server and err.value.capacity == 2
        with pytest.raises(MailboxFull):
            server.send_nowait("x")
        with pytest.raises(MailboxFull):
            await server.call("q")
        assert len(server.process.mailbox) == 2
        assert server.process.mailbox.dropped == 0
        release.set()
        await settle()
        assert seen == [("hold", release), "m1", "m2"]
        assert server.is_alive()


async def test_fail_inside_a_process_crashes_only_the_sender() -> None:
    """Overflow `fail`: MailboxFull is raised in the sender (a process that does not catch it
    exits with it); the full server keeps running."""
    async with Node.open(VirtualClock()) as node:
        server, _release = await blocked_server(FailHolder, [])
        sender = node.spawn(casting, server, "x")
        await settle()
        assert isinstance(sender.exit_reason, MailboxFull)
        assert server.is_alive()


# -- signals --------------------------------------------------------------------------------


@pytest.mark.parametrize("overflow", list(Overflow), ids=lambda o: o.value)
async def test_signals_bypass_capacity(overflow: Overflow) -> None:
    """Signals bypass capacity: ExitSignal and Down reach a full mailbox under every policy."""
    async with Node.open(VirtualClock()) as node:
        got: list[Any] = []
        refs: list[Any] = []
        go = anyio.Event()

        async def full_trapper(proc: Process) -> None:
            refs.append(proc.monitor(watched))
            proc.link(linked)
            await go.wait()
            while True:
                got.append(await proc.receive())

        watched = node.spawn(lambda proc: proc.receive())
        linked = node.spawn(lambda proc: proc.receive())
        trapper = node.spawn(full_trapper, trap_exit=True, capacity=1, overflow=overflow)
        await settle()
        trapper.send_nowait("filler")
        assert trapper.process.mailbox.full()
        watched.kill()
        linked.kill()
        assert len(trapper.process.mailbox) == 3  # over the capacity, by kernel signals only
        go.set()
        await settle()
        assert got == [
            "filler",
            Down(refs[0], watched, KILLED),
            ExitSignal(linked, KILLED),
        ]
        assert trapper.process.mailbox.dropped == 0


async def test_messages_to_a_dead_process_are_dropped_not_raised() -> None:
    """A dead process's mailbox is closed: sends are dropped silently, calls raise NoProc."""
    async with Node.open(VirtualClock()):
        server = await FailHolder.start([])
        assert server is not None
        server.kill()
        await server.cast("x")
        await server.send("x")
        server.send_nowait("x")
        with pytest.raises(NoProc):
            await server.call("x")
        assert len(server.process.mailbox) == 0
