"""GenStatem against the gen_statem section of docs/otp-checklist.md.

Every timing test runs on a VirtualClock: time moves only through ``await clock.advance(dt)``
and ``settle()`` waits until every process is blocked, so nothing here sleeps.

Most tests drive ``Script``, a machine that performs any transition it is *cast* (so a test
says exactly which transition happens, and when) and records everything it sees. The last
tests are a realistic machine: a run that alternates EXECUTING and WAITING_TOOL.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import pytest

from soma_runtime.kernel import (
    IGNORE,
    KILLED,
    NORMAL,
    SHUTDOWN,
    Action,
    Call,
    CallEvent,
    CallTimeout,
    CancelTimeout,
    CastEvent,
    Down,
    Event,
    EventTimeout,
    GenericTimeout,
    GenStatem,
    InfoEvent,
    InternalEvent,
    KeepState,
    NextEvent,
    NextState,
    Node,
    Pid,
    Postpone,
    Process,
    ProcessDied,
    RepeatState,
    Reply,
    StartError,
    StateTimeout,
    Stop,
    StopState,
    TimeoutEvent,
    Transition,
    TransitionError,
    UpdateTimeout,
    VirtualClock,
    settle,
)
from soma_runtime.kernel.reasons import ExitReason

pytestmark = pytest.mark.anyio


@asynccontextmanager
async def virtual_node() -> AsyncIterator[tuple[Node, VirtualClock]]:
    clock = VirtualClock()
    async with Node.open(clock) as node:
        yield node, clock


class Script(GenStatem):
    """Performs every transition it is cast; records events, enter calls and terminate.

    ``postpone_in`` lists states in which every other event is postponed; ``on_enter``
    maps a state to what ``enter`` returns for it; a call ``"hold"`` keeps its caller in
    ``held`` (to be answered later, from elsewhere); ``"block"`` suspends the handler until
    the test sets ``gate``, then performs ``after_block``.
    """

    state_enter = True

    async def init(self, first: Any = "a", postpone_in: Sequence[Any] = ()) -> Any:
        self.events: list[tuple[Any, Event]] = []
        self.fired_at: list[tuple[float, TimeoutEvent]] = []
        self.enters: list[tuple[Any, Any]] = []
        self.terminated: list[tuple[ExitReason, Any]] = []
        self.held: list[Call] = []
        self.postpone_in = set(postpone_in)
        self.on_enter: dict[Any, Any] = {}
        self.gate = asyncio.Event()
        self.after_block: Transition | None = None
        return first

    async def enter(self, old_state: Any, state: Any) -> Any:
        self.enters.append((old_state, state))
        return self.on_enter.get(state)

    async def handle_event(self, state: Any, event: Event) -> Transition | None:
        self.events.append((state, event))
        match event:
            case CastEvent(NextState() | KeepState() | RepeatState() | StopState() as transition):
                return transition
            case _ if state in self.postpone_in:
                return KeepState([Postpone()])
            case CastEvent("block"):
                await self.gate.wait()
                return self.after_block
            case CallEvent("state", caller):
                return KeepState([Reply(caller, state)])
            case CallEvent("hold", caller):
                self.held.append(caller)
                return None
            case TimeoutEvent():
                self.fired_at.append((self._proc.node.clock.now(), event))
        return None

    async def terminate(self, reason: ExitReason, state: Any) -> None:
        self.terminated.append((reason, state))


def script(pid: Pid | None) -> Script:
    assert pid is not None
    machine = pid.process.behaviour
    assert isinstance(machine, Script)
    return machine


def handled(machine: Script) -> list[Any]:
    """What the machine handled, in order, without the transitions the test cast to it."""
    out: list[Any] = []
    for _state, event in machine.events:
        match event:
            case CastEvent(NextState() | KeepState() | RepeatState() | StopState()):
                pass
            case CastEvent(message) | InfoEvent(message):
                out.append(message)
            case InternalEvent(content):
                out.append(("internal", content))
            case TimeoutEvent(kind, name, content):
                out.append((kind, name, content))
            case CallEvent(request):
                out.append(("call", request))
    return out


def timeouts(machine: Script) -> list[tuple[Any, TimeoutEvent]]:
    return [(s, e) for s, e in machine.events if isinstance(e, TimeoutEvent)]


async def do(pid: Pid | None, transition: Transition) -> None:
    """Make the machine perform ``transition`` and wait until it has."""
    assert pid is not None
    await pid.cast(transition)
    await settle()


# -- State-enter calls run on every state change and for the initial state; they cannot
#    change state.


async def test_state_enter_runs_for_initial_state_and_on_every_state_change() -> None:
    async with virtual_node():
        pid = await Script.start("a")
        m = script(pid)
        await settle()
        assert m.enters == [("a", "a")]  # initial state: old_state == state, as in OTP
        await do(pid, NextState("b"))
        await do(pid, NextState("b"))  # same state: not a change
        await do(pid, KeepState())
        await do(pid, NextState("a"))
        assert m.enters == [("a", "a"), ("a", "b"), ("b", "a")]


async def test_state_enter_runs_again_on_repeat_state() -> None:
    async with virtual_node():
        pid = await Script.start("a")
        m = script(pid)
        await do(pid, RepeatState())
        assert m.enters == [("a", "a"), ("a", "a")]


async def test_state_enter_cannot_change_state() -> None:
    async with virtual_node():
        pid = await Script.start("a")
        m = script(pid)
        m.on_enter["b"] = NextState("c")
        assert pid is not None
        await do(pid, NextState("b"))
        assert isinstance(pid.exit_reason, TransitionError)
        assert "cannot change state" in str(pid.exit_reason)
        assert m.state == "b"
        with pytest.raises(AttributeError):
            m.state = "c"  # type: ignore[misc]  # read-only: states change only by transition


@pytest.mark.parametrize("action", [Postpone(), NextEvent("x")])
async def test_state_enter_cannot_postpone_or_insert_events(action: Action) -> None:
    async with virtual_node():
        pid = await Script.start("a")
        script(pid).on_enter["b"] = [action]
        await do(pid, NextState("b"))
        assert pid is not None
        assert isinstance(pid.exit_reason, TransitionError)
        assert "not allowed in enter" in str(pid.exit_reason)


async def test_state_enter_may_set_timeouts_and_keep_state() -> None:
    async with virtual_node() as (_, clock):
        pid = await Script.start("a")
        m = script(pid)
        m.on_enter["b"] = KeepState([StateTimeout(2.0, "from enter")])
        await do(pid, NextState("b"))
        await clock.advance(2.0)
        assert m.fired_at == [(2.0, TimeoutEvent("state", "state", "from enter"))]


# -- Event timeout is cancelled by any event; state timeout is cancelled by a state change;
#    named generic timeouts survive state changes and can be cancelled or updated.


async def test_event_timeout_fires_when_no_event_arrives() -> None:
    async with virtual_node() as (_, clock):
        pid = await Script.start("a")
        m = script(pid)
        await do(pid, KeepState([EventTimeout(5.0, "idle")]))
        await clock.advance(4.999)
        assert m.fired_at == []
        await clock.advance(0.001)
        assert m.fired_at == [(5.0, TimeoutEvent("event", "event", "idle"))]


@pytest.mark.parametrize("kind", ["cast", "call", "info"])
async def test_event_timeout_is_cancelled_by_any_event(kind: str) -> None:
    async with virtual_node() as (_, clock):
        pid = await Script.start("a")
        assert pid is not None
        m = script(pid)
        await do(pid, KeepState([EventTimeout(5.0, "idle")]))
        await clock.advance(3.0)
        if kind == "cast":
            await pid.cast("hello")
        elif kind == "call":
            assert await pid.call("state") == "a"
        else:
            await pid.send("hello")
        await clock.advance(10.0)
        assert timeouts(m) == []
        assert clock.pending() == 0  # cancelled on the clock too, not only ignored


async def test_event_timeout_zero_fires_at_once_when_nothing_is_queued() -> None:
    async with virtual_node() as (_, clock):
        pid = await Script.start("a")
        m = script(pid)
        await do(pid, KeepState([EventTimeout(0, "now")]))
        assert m.fired_at == [(0.0, TimeoutEvent("event", "event", "now"))]
        assert clock.now() == 0.0


async def test_event_timeout_zero_does_not_fire_when_an_event_is_queued() -> None:
    async with virtual_node():
        pid = await Script.start("a")
        assert pid is not None
        m = script(pid)
        m.after_block = KeepState([EventTimeout(0, "now")])
        await pid.cast("block")
        await settle()
        await pid.cast("queued")  # waits in the mailbox while the handler is blocked
        m.gate.set()
        await settle()
        assert handled(m) == ["block", "queued"]
        # An inserted event counts as queued too.
        await do(pid, KeepState([EventTimeout(0, "now"), NextEvent("inserted")]))
        assert handled(m)[-1] == ("internal", "inserted")
        assert timeouts(m) == []


async def test_state_timeout_is_cancelled_by_a_state_change() -> None:
    async with virtual_node() as (_, clock):
        pid = await Script.start("a")
        m = script(pid)
        await do(pid, KeepState([StateTimeout(5.0, "t")]))
        await clock.advance(2.0)
        await do(pid, NextState("b"))
        await clock.advance(10.0)
        assert timeouts(m) == []
        assert clock.pending() == 0


async def test_state_timeout_is_not_cancelled_by_keep_state_or_repeat_state() -> None:
    async with virtual_node() as (_, clock):
        pid = await Script.start("a")
        m = script(pid)
        await do(pid, KeepState([StateTimeout(5.0, "t")]))
        await clock.advance(1.0)
        await do(pid, KeepState())
        await do(pid, NextState("a"))  # same state: not a change
        await do(pid, RepeatState())
        await clock.advance(4.0)
        assert m.fired_at == [(5.0, TimeoutEvent("state", "state", "t"))]


async def test_state_timeout_set_with_a_state_change_runs_in_the_new_state() -> None:
    async with virtual_node() as (_, clock):
        pid = await Script.start("a")
        m = script(pid)
        await do(pid, KeepState([StateTimeout(5.0, "old")]))
        await do(pid, NextState("b", [StateTimeout(3.0, "new")]))
        await clock.advance(10.0)
        assert timeouts(m) == [("b", TimeoutEvent("state", "state", "new"))]


async def test_generic_timeouts_survive_state_changes() -> None:
    async with virtual_node() as (_, clock):
        pid = await Script.start("a")
        m = script(pid)
        await do(pid, KeepState([GenericTimeout("retry", 5.0, "r")]))
        await clock.advance(1.0)
        await do(pid, NextState("b"))
        await clock.advance(1.0)
        await do(pid, NextState("c"))
        await clock.advance(3.0)
        assert timeouts(m) == [("c", TimeoutEvent("generic", "retry", "r"))]
        assert m.fired_at[0][0] == 5.0


async def test_generic_timeouts_can_be_cancelled_and_updated() -> None:
    async with virtual_node() as (_, clock):
        pid = await Script.start("a")
        m = script(pid)
        await do(pid, KeepState([GenericTimeout("x", 5.0, "x"), GenericTimeout("y", 5.0, "y")]))
        await clock.advance(1.0)
        await do(pid, NextState("b", [CancelTimeout("x"), UpdateTimeout("y", "y2")]))
        await clock.advance(4.0)
        assert m.fired_at == [(5.0, TimeoutEvent("generic", "y", "y2"))]  # update kept the deadline


async def test_state_and_event_timeouts_can_be_cancelled_and_updated_by_name() -> None:
    async with virtual_node() as (_, clock):
        pid = await Script.start("a")
        m = script(pid)
        await do(pid, KeepState([StateTimeout(5.0, "s"), CancelTimeout("state")]))
        await do(pid, KeepState([EventTimeout(5.0, "e"), UpdateTimeout("event", "e2")]))
        await clock.advance(5.0)
        assert m.fired_at == [(5.0, TimeoutEvent("event", "event", "e2"))]


async def test_updating_a_timer_that_is_not_running_fires_it_now() -> None:
    async with virtual_node():
        pid = await Script.start("a")
        m = script(pid)
        await do(pid, KeepState([UpdateTimeout("z", "content")]))
        assert timeouts(m) == [("a", TimeoutEvent("generic", "z", "content"))]


@pytest.mark.parametrize("arm", [lambda c: StateTimeout(5.0, c), lambda c: GenericTimeout("g", 5.0, c)])
async def test_starting_a_running_timer_again_restarts_it(arm: Any) -> None:
    async with virtual_node() as (_, clock):
        pid = await Script.start("a")
        m = script(pid)
        await do(pid, KeepState([arm("first")]))
        await clock.advance(3.0)
        await do(pid, KeepState([arm("second")]))
        await clock.advance(20.0)
        assert [(t, e.content) for t, e in m.fired_at] == [(8.0, "second")]


@pytest.mark.parametrize(
    "after",
    [KeepState([CancelTimeout("g")]), KeepState([GenericTimeout("g", 5.0, "restarted")])],
    ids=["cancelled", "restarted"],
)
async def test_stale_timer_expiry_already_in_the_mailbox_is_ignored(after: KeepState) -> None:
    async with virtual_node() as (_, clock):
        pid = await Script.start("a")
        assert pid is not None
        m = script(pid)
        await do(pid, KeepState([GenericTimeout("g", 5.0, "original")]))
        m.after_block = after
        await pid.cast("block")
        await clock.advance(6.0)  # expires while the handler is busy: the expiry is queued
        assert len(pid.process.mailbox) == 1
        m.gate.set()  # ... and the handler then cancels or restarts the timer
        await settle()
        await clock.advance(20.0)
        contents = [(t, e.content) for t, e in m.fired_at]
        assert contents == ([] if after.actions[0] == CancelTimeout("g") else [(11.0, "restarted")])


async def test_zero_timeouts_run_after_queued_events_but_before_the_mailbox() -> None:
    async with virtual_node():
        pid = await Script.start("a")
        assert pid is not None
        m = script(pid)
        m.after_block = KeepState([GenericTimeout("g", 0, "g0"), NextEvent("n1"), StateTimeout(0, "s0")])
        await pid.cast("block")
        await settle()
        await pid.cast("from mailbox")
        m.gate.set()
        await settle()
        assert handled(m) == [
            "block",
            ("internal", "n1"),
            ("generic", "g", "g0"),
            ("state", "state", "s0"),
            "from mailbox",
        ]


async def test_timeout_arguments_are_validated() -> None:
    with pytest.raises(ValueError, match="reserved"):
        GenericTimeout("state", 1.0)
    with pytest.raises(ValueError, match=">= 0"):
        StateTimeout(-1.0)
    with pytest.raises(ValueError, match=">= 0"):
        EventTimeout(float("nan"))


async def test_none_seconds_cancels_like_otp_infinity() -> None:
    async with virtual_node() as (_, clock):
        pid = await Script.start("a")
        m = script(pid)
        await do(pid, KeepState([GenericTimeout("g", 5.0), GenericTimeout("g", None)]))
        await clock.advance(10.0)
        assert timeouts(m) == []
        assert clock.pending() == 0


# -- Postponed events are re-delivered, oldest first, after the next state change.


async def test_postponed_events_are_redelivered_oldest_first_after_a_state_change() -> None:
    async with virtual_node():
        pid = await Script.start("closed", ["closed"])
        assert pid is not None
        m = script(pid)
        await pid.cast(1)
        await pid.send(2)
        await pid.cast(NextState("open"))
        await pid.cast(3)  # already in the mailbox when the state changes
        await settle()
        assert [e for s, e in m.events if s == "closed"][:2] == [CastEvent(1), InfoEvent(2)]
        in_open = [e for s, e in m.events if s == "open"]
        assert in_open == [CastEvent(1), InfoEvent(2), CastEvent(3)]


async def test_postponed_events_are_not_redelivered_on_keep_state() -> None:
    async with virtual_node():
        pid = await Script.start("closed", ["closed"])
        assert pid is not None
        m = script(pid)
        await pid.cast("p")
        await do(pid, KeepState())
        await do(pid, NextState("closed"))  # same state: not a change
        await do(pid, RepeatState())
        assert handled(m) == ["p"]  # seen once, then parked
        await do(pid, NextState("open"))
        assert handled(m) == ["p", "p"]
        assert m.events[-1] == ("open", CastEvent("p"))


async def test_an_event_postponed_again_keeps_its_place() -> None:
    async with virtual_node():
        pid = await Script.start("s1", ["s1", "s2"])
        assert pid is not None
        m = script(pid)
        for n in (1, 2):
            await pid.cast(n)
        await do(pid, NextState("s2"))  # both re-delivered, both postponed again
        await do(pid, NextState("s3"))
        assert [e for s, e in m.events if s == "s3"] == [CastEvent(1), CastEvent(2)]


async def test_inserted_events_run_before_postponed_events_and_the_mailbox() -> None:
    async with virtual_node():
        pid = await Script.start("closed", ["closed"])
        assert pid is not None
        m = script(pid)
        await pid.cast("postponed")
        await pid.cast(NextState("open", [NextEvent("i1"), NextEvent("i2")]))
        await pid.cast("mailbox")
        await settle()
        assert [e for s, e in m.events if s == "open"] == [
            InternalEvent("i1"),
            InternalEvent("i2"),
            CastEvent("postponed"),
            CastEvent("mailbox"),
        ]


async def test_a_postponed_call_is_answered_in_a_later_state() -> None:
    async with virtual_node():
        pid = await Script.start("busy", ["busy"])
        assert pid is not None
        reply = asyncio.create_task(pid.call("state"))  # "busy" postpones every call
        await settle()
        assert not reply.done()
        await do(pid, NextState("idle"))
        assert await reply == "idle"


# -- Replies can be sent from any state; `stop` with replies.


class Keeper(GenStatem):
    """Replies from enter and from a later state, through callers it stored."""

    state_enter = True

    async def init(self) -> Any:
        self.starter: Call | None = None
        self.waiters: list[Call] = []
        return "idle"

    async def enter(self, old_state: Any, state: Any) -> Sequence[Action] | None:
        if state == "busy" and self.starter is not None:
            return [Reply(self.starter, f"entered {state} from {old_state}")]
        return None

    async def handle_event(self, state: Any, event: Event) -> Transition | None:
        match state, event:
            case "idle", CallEvent("begin", caller):
                self.starter = caller
                return NextState("busy")
            case "busy", CallEvent("result", caller):
                self.waiters.append(caller)
                return None
            case "busy", CastEvent(("finish", value)):
                return NextState("idle", [Reply(w, value) for w in self.waiters])
            case _, CastEvent(("quit", value)):
                return StopState(NORMAL, [Reply(w, value) for w in self.waiters])
            case _, CallEvent("stop_me", _):
                raise Stop(SHUTDOWN, reply="bye")
        return None

    async def terminate(self, reason: ExitReason, state: Any) -> None:
        self.at_terminate = (reason, state, [w.answered for w in self.waiters])


async def test_replies_from_enter_and_from_a_later_state_via_stored_callers() -> None:
    async with virtual_node():
        pid = await Keeper.start()
        assert pid is not None
        assert await pid.call("begin") == "entered busy from idle"
        results = [asyncio.create_task(pid.call("result")) for _ in range(2)]
        await settle()
        await pid.cast(("finish", 42))
        assert await asyncio.gather(*results) == [42, 42]


async def test_stop_with_replies_delivers_them_before_terminate() -> None:
    async with virtual_node():
        pid = await Keeper.start()
        assert pid is not None
        machine = pid.process.behaviour
        await pid.call("begin")
        results = [asyncio.create_task(pid.call("result")) for _ in range(2)]
        await settle()
        await pid.cast(("quit", "done"))
        assert await asyncio.gather(*results) == ["done", "done"]
        assert await pid.wait() is NORMAL
        assert machine.at_terminate == (NORMAL, "busy", [True, True])


async def test_raising_stop_with_a_reply_answers_the_caller_then_terminates() -> None:
    async with virtual_node():
        pid = await Keeper.start()
        assert pid is not None
        machine = pid.process.behaviour  # (a dead process keeps no state: read it while alive)
        assert await pid.call("stop_me") == "bye"
        assert await pid.wait() is SHUTDOWN
        assert machine.at_terminate[:2] == (SHUTDOWN, "idle")


# -- Crashes: the exception is the exit reason; waiting callers get ProcessDied.


class Fragile(GenStatem):
    state_enter = True

    async def init(self) -> Any:
        self.terminated: tuple[ExitReason, Any] | None = None
        return "up"

    async def enter(self, old_state: Any, state: Any) -> None:
        if state == "broken_enter":
            raise RuntimeError("enter failed")

    async def handle_event(self, state: Any, event: Event) -> Transition | None:
        match event:
            case CallEvent("boom"):
                raise ValueError("boom")
            case CallEvent("park"):
                return KeepState([Postpone()])
            case CallEvent("hold"):
                return None
            case CastEvent("break_enter"):
                return NextState("broken_enter")
            case CastEvent("bad_return"):
                return "not a transition"  # type: ignore[return-value]
        return None

    async def terminate(self, reason: ExitReason, state: Any) -> None:
        self.terminated = (reason, state)


async def test_exception_in_handle_event_crashes_after_terminate_and_waiting_callers_get_process_died() -> (
    None
):
    async with virtual_node():
        pid = await Fragile.start()
        assert pid is not None
        machine = pid.process.behaviour
        parked = asyncio.create_task(pid.call("park"))
        held = asyncio.create_task(pid.call("hold"))
        await settle()
        with pytest.raises(ProcessDied) as crash:
            await pid.call("boom")
        reason = pid.exit_reason
        assert isinstance(reason, ValueError)
        assert crash.value.reason is reason
        for waiting in (parked, held):
            with pytest.raises(ProcessDied):
                await waiting
        assert machine.terminated == (reason, "up")  # OTP: terminate on crash too


async def test_exception_in_enter_crashes_with_the_exception() -> None:
    async with virtual_node():
        pid = await Fragile.start()
        assert pid is not None
        await pid.cast("break_enter")
        reason = await pid.wait()
        assert isinstance(reason, RuntimeError)
        assert str(reason) == "enter failed"


async def test_a_bad_return_value_crashes_with_a_clear_error() -> None:
    async with virtual_node():
        pid = await Fragile.start()
        assert pid is not None
        await pid.cast("bad_return")
        reason = await pid.wait()
        assert isinstance(reason, TransitionError)
        assert "'not a transition'" in str(reason)


# -- Starting.


class Starter(GenStatem):
    async def init(self, how: str) -> Any:
        match how:
            case "ok":
                self.init_done = True
                return NextState("ready", [GenericTimeout("tick", 1.0, "t"), NextEvent("go")])
            case "ignore":
                return IGNORE
            case "raise":
                raise LookupError("no config")
            case "stop":
                return StopState(SHUTDOWN)
            case "raise_stop":
                raise Stop(SHUTDOWN)
            case "hang":
                await asyncio.Event().wait()
        raise AssertionError(how)

    async def handle_event(self, state: Any, event: Event) -> Transition | None:
        match event:
            case InternalEvent("go"):
                return NextState("going")
            case TimeoutEvent(name="tick"):
                return NextState("ticked")
            case CallEvent("state", caller):
                caller.reply(state)
        return None


async def test_start_link_is_synchronous_registers_the_name_and_links() -> None:
    async with virtual_node() as (node, clock):
        outcome: list[Any] = []

        async def parent(proc: Process) -> None:
            pid = await Starter.start_link("ok", name="starter")
            assert pid is not None
            outcome.append((pid.process.behaviour.init_done, node.whereis("starter") == pid))
            outcome.append(pid in proc.links())
            await asyncio.Event().wait()

        node.spawn(parent)
        await settle()
        assert outcome == [(True, True), True]
        pid = node.whereis("starter")
        assert pid is not None
        assert await pid.call("state") == "going"  # the NextEvent from init ran first
        await clock.advance(1.0)
        assert await pid.call("state") == "ticked"  # and the timer from init ran


@pytest.mark.parametrize("how", ["raise", "stop", "raise_stop"])
async def test_failed_init_fails_the_start_and_spares_the_linked_starter(how: str) -> None:
    async with virtual_node() as (node, _):
        errors: list[StartError] = []

        async def parent(proc: Process) -> None:
            try:
                await Starter.start_link(how)
            except StartError as e:
                errors.append(e)
            await asyncio.Event().wait()

        parent_pid = node.spawn(parent)
        await settle()
        assert parent_pid.is_alive()
        (error,) = errors
        if how == "raise":
            assert isinstance(error.reason, LookupError)
            assert isinstance(error.__cause__, LookupError)
        else:
            assert error.reason is SHUTDOWN


async def test_init_returning_ignore_starts_nothing() -> None:
    async with virtual_node() as (node, _):
        assert await Starter.start("ignore", name="ignored") is None
        assert node.whereis("ignored") is None


async def test_a_process_killed_during_init_fails_the_start_instead_of_hanging() -> None:
    async with virtual_node() as (node, _):
        starting = asyncio.create_task(Starter.start("hang", name="slow"))
        await settle()
        pid = node.whereis("slow")
        assert pid is not None
        pid.kill()
        with pytest.raises(StartError) as failed:
            await starting
        assert failed.value.reason is KILLED


# -- Calls, stopping, introspection.


async def test_call_timeout_raises_in_the_caller_only_and_the_late_reply_is_dropped() -> None:
    async with virtual_node() as (_, clock):
        pid = await Script.start("a")
        assert pid is not None
        m = script(pid)
        call = asyncio.create_task(pid.call("hold", timeout=1.0))
        await clock.advance(1.01)
        with pytest.raises(CallTimeout):
            await call
        assert pid.is_alive()
        await do(pid, KeepState([Reply(m.held[0], "too late")]))  # dropped, no error
        assert pid.is_alive()
        assert await pid.call("state") == "a"


async def test_terminate_runs_on_graceful_stop_with_the_current_state() -> None:
    async with virtual_node() as (node, clock):
        pid = await Script.start("a")
        assert pid is not None
        m = script(pid)
        await do(pid, NextState("b", [GenericTimeout("g", 5.0), StateTimeout(5.0)]))
        assert await node.stop(pid) is SHUTDOWN
        assert m.terminated == [(SHUTDOWN, "b")]
        assert clock.pending() == 0  # the machine's timers died with it


async def test_terminate_runs_when_stopped_mid_callback() -> None:
    async with virtual_node() as (node, _):
        pid = await Script.start("a")
        machine = script(pid)  # (a dead process keeps no state: taken while it lives)
        await pid.cast("block")
        await settle()
        assert await node.stop(pid) is SHUTDOWN
        assert machine.terminated == [(SHUTDOWN, "a")]


async def test_terminate_does_not_run_on_kill() -> None:
    async with virtual_node() as (_, clock):
        pid = await Script.start("a")
        machine = script(pid)
        await do(pid, KeepState([GenericTimeout("g", 5.0)]))
        pid.kill()
        assert await pid.wait() is KILLED
        await settle()
        assert machine.terminated == []
        assert clock.pending() == 0


async def test_a_trapping_machine_terminates_on_its_parents_exit_signal() -> None:
    class Trapper(Script):
        trap_exit = True

    async with virtual_node() as (node, _):
        child: list[Pid | None] = []

        machines: list[Script] = []

        async def parent(proc: Process) -> None:
            child.append(await Trapper.start_link("a"))
            machines.append(script(child[0]))
            await asyncio.Event().wait()

        parent_pid = node.spawn(parent)
        await settle()
        parent_pid.exit(SHUTDOWN)  # the parent stops; its link delivers the signal
        await settle()
        assert await node.stop(parent_pid) is SHUTDOWN
        await settle()
        (pid,) = child
        assert pid is not None
        assert pid.exit_reason is SHUTDOWN
        assert machines[0].terminated == [(SHUTDOWN, "a")]


async def test_state_and_current_event_are_visible_for_introspection() -> None:
    async with virtual_node():
        pid = await Script.start("a")
        assert pid is not None
        await do(pid, NextState("b"))
        await pid.cast("block")
        await settle()
        assert pid.process.behaviour.state == "b"
        assert pid.process.current == CastEvent("block")
        script(pid).gate.set()
        await settle()
        assert pid.process.current is None


# -- A realistic machine: a run alternating EXECUTING and WAITING_TOOL.


async def tool(proc: Process, run: Pid, seconds: float, output: Any) -> None:
    """A tool call: works for ``seconds`` of clock time, then reports to its run."""
    await proc.node.clock.sleep(seconds)
    if output == "crash":
        raise OSError("tool crashed")
    await run.send(("tool_done", proc.pid, output))


TERMINAL = ("completed", "failed", "cancelled", "timeout")


class MiniRun(GenStatem):
    """Runs steps ``(seconds, output, step_timeout)`` in order, each in its own process.

    A generic timeout bounds the whole run across every state change; a state timeout
    bounds each tool wait and is cancelled for free by the state change a result causes.
    ``result`` calls wait (postponed) until the run is terminal.
    """

    state_enter = True

    async def init(self, steps: list[tuple[float, Any, float]], deadline: float) -> Any:
        self.steps = list(steps)
        self.outputs: list[Any] = []
        self.tool: Pid | None = None
        self.error: Any = None
        return NextState("executing", [GenericTimeout("run_deadline", deadline)])

    async def enter(self, old_state: Any, state: Any) -> Sequence[Action] | None:
        if state == "executing":
            return [StateTimeout(0, "next_step")]  # work on entry: enter may not NextEvent
        if state in TERMINAL:
            self.stop_tool()
            return [CancelTimeout("run_deadline")]
        return None

    def stop_tool(self) -> None:
        if self.tool is not None and self.tool.is_alive():
            self.tool.kill()

    async def handle_event(self, state: Any, event: Event) -> Transition | None:
        match state, event:
            case "executing", TimeoutEvent(kind="state"):
                if not self.steps:
                    return NextState("completed")
                seconds, output, step_timeout = self.steps.pop(0)
                self.tool = self._proc.node.spawn(tool, self.pid, seconds, output)
                self._proc.monitor(self.tool)
                return NextState("waiting_tool", [StateTimeout(step_timeout, "step_timeout")])
            case "waiting_tool", InfoEvent(("tool_done", pid, output)) if pid == self.tool:
                self.outputs.append(output)
                return NextState("executing")
            case "waiting_tool", InfoEvent(Down(pid=pid, reason=reason)) if pid == self.tool:
                if reason is not NORMAL:
                    self.error = reason
                    return NextState("failed")
            case "waiting_tool", TimeoutEvent(kind="state"):
                self.error = "step timeout"
                return NextState("timeout")
            case _, TimeoutEvent(name="run_deadline"):
                self.error = "run deadline"
                return NextState("timeout")
            case s, CastEvent("cancel") if s not in TERMINAL:
                return NextState("cancelled")
            case s, CallEvent("status", caller):
                return KeepState([Reply(caller, s)])
            case s, CallEvent("result", caller):
                if s in TERMINAL:
                    return KeepState([Reply(caller, (s, self.outputs, self.error))])
                return KeepState([Postpone()])
        return None


async def test_run_machine_completes_steps_in_order_each_in_its_own_process() -> None:
    async with virtual_node() as (_, clock):
        pid = await MiniRun.start([(1.0, "a", 5.0), (2.0, "b", 5.0)], 60.0)
        assert pid is not None
        result = asyncio.create_task(pid.call("result", timeout=None))
        await settle()
        assert await pid.call("status", timeout=None) == "waiting_tool"
        first_tool = pid.process.behaviour.tool
        await clock.advance(1.0)
        assert pid.process.behaviour.tool is not first_tool
        await clock.advance(2.0)
        assert await result == ("completed", ["a", "b"], None)
        assert clock.pending() == 0  # step and run timers all gone


async def test_run_machine_times_out_a_hanging_tool_and_kills_it() -> None:
    async with virtual_node() as (_, clock):
        pid = await MiniRun.start([(1.0, "a", 5.0), (100.0, "hang", 5.0)], 60.0)
        assert pid is not None
        result = asyncio.create_task(pid.call("result", timeout=None))
        await clock.advance(6.0)
        assert await result == ("timeout", ["a"], "step timeout")
        tool_pid = pid.process.behaviour.tool
        assert tool_pid.exit_reason is KILLED


async def test_run_machine_deadline_survives_state_changes() -> None:
    async with virtual_node() as (_, clock):
        steps = [(2.0, "a", 5.0), (2.0, "b", 5.0), (2.0, "c", 5.0)]
        pid = await MiniRun.start(steps, 5.0)
        assert pid is not None
        result = asyncio.create_task(pid.call("result", timeout=None))
        await clock.advance(10.0)
        assert await result == ("timeout", ["a", "b"], "run deadline")


async def test_run_machine_fails_when_its_tool_crashes() -> None:
    async with virtual_node() as (_, clock):
        pid = await MiniRun.start([(1.0, "crash", 5.0)], 60.0)
        assert pid is not None
        await clock.advance(1.0)
        state, outputs, error = await pid.call("result")
        assert (state, outputs) == ("failed", [])
        assert isinstance(error, OSError)
        assert pid.is_alive()  # the tool's crash is data to the run, not its death


async def test_run_machine_cancel_stops_the_active_tool() -> None:
    async with virtual_node() as (_, clock):
        pid = await MiniRun.start([(100.0, "slow", 500.0)], 600.0)
        assert pid is not None
        await settle()
        tool_pid = pid.process.behaviour.tool
        await pid.cast("cancel")
        assert await pid.call("result", timeout=None) == ("cancelled", [], None)
        assert tool_pid.exit_reason is KILLED
        await pid.cast("cancel")  # terminal: ignored
        assert await pid.call("status", timeout=None) == "cancelled"
        assert clock.pending() == 0  # run deadline and step timeout both gone


# -- The module docstring's door, as users would write it.


class Door(GenStatem):
    state_enter = True

    async def init(self, code: str) -> Any:
        self.code = code
        self.log: list[str] = []
        return "locked"

    async def enter(self, old_state: Any, state: Any) -> Sequence[Action] | None:
        self.log.append(state)
        return None

    async def handle_event(self, state: Any, event: Event) -> Transition | None:
        match state, event:
            case "locked", CallEvent(request=("open", self.code), caller=caller):
                return NextState("open", [Reply(caller, "ok"), StateTimeout(10.0, "lock")])
            case "locked", CallEvent(request=("open", _), caller=caller):
                return KeepState([Reply(caller, "wrong code")])
            case "open", CallEvent(request=("open", _), caller=caller):
                return KeepState([Reply(caller, "already open")])
            case "open", TimeoutEvent(kind="state"):
                return NextState("locked")
            case "open", CastEvent("ring"):
                return None
            case _, CastEvent("ring"):
                return KeepState([Postpone()])  # answer the bell once the door is open
        return None


async def test_door_opens_with_the_code_and_relocks_after_its_state_timeout() -> None:
    async with virtual_node() as (_, clock):
        pid = await Door.start("1234")
        assert pid is not None
        door = pid.process.behaviour
        assert await pid.call(("open", "0000")) == "wrong code"
        await pid.cast("ring")
        assert await pid.call(("open", "1234")) == "ok"
        await clock.advance(5.0)
        assert await pid.call(("open", "1234")) == "already open"  # keep_state: timer runs on
        await clock.advance(5.0)
        assert door.state == "locked"
        assert door.log == ["locked", "open", "locked"]
