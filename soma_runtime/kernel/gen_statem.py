"""GenStatem: OTP's gen_statem, in its ``handle_event_function`` style with state-enter calls.

One callback sees every event together with the current state, so a machine reads as one
``match state, event:`` block::

    class Door(GenStatem):
        state_enter = True

        async def init(self, code: str) -> Any:
            self.code = code
            return "locked"

        async def handle_event(self, state: Any, event: Event) -> Transition | None:
            match state, event:
                case "locked", CallEvent(request=("open", self.code), caller=caller):
                    return NextState("open", [Reply(caller, "ok"), StateTimeout(10.0, "lock")])
                case "open", TimeoutEvent(kind="state"):
                    return NextState("locked")
                case _, CastEvent():
                    return KeepState([Postpone()])
            return None  # keep_state

The rules are OTP's:

* ``enter(old_state, state)`` runs for the initial state (``old_state == state``), on every
  state change and on ``RepeatState`` — never on ``KeepState`` or ``NextState(same)``. It may
  reply and set timeouts; it cannot change state, postpone or insert events.
* Event timeout: cancelled by any event. State timeout: cancelled by a state change (not by
  keep/repeat). Generic timeouts are named, survive state changes, and are only cancelled or
  updated explicitly. Arming a timer that is running restarts it. ``seconds=None`` cancels
  (OTP's ``infinity``); ``0`` enqueues the timeout behind the events already queued, except
  the event timeout, which then fires only if no event at all is waiting.
* ``Postpone()`` keeps the current event aside; postponed events are re-delivered, oldest
  first, after the next state change. ``NextEvent`` events go before those, and all of them
  before the mailbox.
* A reply can be sent from any callback and any later state (keep the ``Call`` around), or by
  stopping: ``StopState(reason, replies)`` delivers its replies before ``terminate`` runs.
* An exception in a callback crashes the process with the exception as its reason (after
  ``terminate``, as in OTP); every caller still waiting (being served, postponed, or stored)
  gets ``ProcessDied``.
* Starting, stopping and ``terminate`` behave as in :class:`GenServer`: ``terminate(reason,
  state)`` runs on every exit except a kill.

Timers read the node's clock only and deliver into the mailbox as kernel signals. Each armed
timer is its own expiry message and counts only while it is still the machine's timer of
that name: a cancelled or restarted timer whose expiry is already in the mailbox is
recognised and ignored, so no cancellation can race.
"""

from __future__ import annotations

import asyncio
import enum
from collections import deque
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, ClassVar, Literal, TypeAlias

from . import _behaviour
from ._behaviour import IGNORE
from .clock import TimerHandle
from .errors import Exit, KernelError
from .gen_server import Stop
from .mailbox import Mailbox
from .process import Call, Cast, ExitSignal, Pid, Process, recycle_cast
from .reasons import NORMAL, ExitReason

# -- events ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CallEvent:
    """A ``pid.call(request)``; answer with ``Reply(caller, value)`` or ``caller.reply(value)``."""

    request: Any
    caller: Call


@dataclass(frozen=True, slots=True)
class CastEvent:
    message: Any


@dataclass(frozen=True, slots=True)
class InfoEvent:
    """Any other message: plain sends, ``Down``, trapped ``ExitSignal``."""

    message: Any


TimeoutKind: TypeAlias = Literal["event", "state", "generic"]


@dataclass(frozen=True, slots=True)
class TimeoutEvent:
    """A timeout fired. ``name`` is ``"event"``, ``"state"`` or the generic timer's name."""

    kind: TimeoutKind
    name: Hashable
    content: Any


@dataclass(frozen=True, slots=True)
class InternalEvent:
    """An event the machine inserted itself with ``NextEvent(content)``."""

    content: Any


Event: TypeAlias = CallEvent | CastEvent | InfoEvent | TimeoutEvent | InternalEvent

# -- actions ---------------------------------------------------------------------------------


def _check_seconds(seconds: float | None) -> None:
    if seconds is not None and not seconds >= 0:  # also rejects NaN
        raise ValueError(f"timeout must be >= 0 seconds or None, got {seconds!r}")


def _check_generic_name(name: Hashable) -> None:
    # "event" and "state" name the two built-in timers in CancelTimeout / UpdateTimeout.
    if name in ("event", "state"):
        raise ValueError(f"generic timeout name {name!r} is reserved; use EventTimeout/StateTimeout")


@dataclass(frozen=True, slots=True)
class Reply:
    caller: Call
    value: Any


@dataclass(frozen=True, slots=True)
class Postpone:
    """Set the current event aside until the next state change."""


@dataclass(frozen=True, slots=True)
class NextEvent:
    """Insert ``InternalEvent(content)``, handled before postponed events and the mailbox."""

    content: Any


@dataclass(frozen=True, slots=True)
class EventTimeout:
    seconds: float | None
    content: Any = None

    def __post_init__(self) -> None:
        _check_seconds(self.seconds)


@dataclass(frozen=True, slots=True)
class StateTimeout:
    seconds: float | None
    content: Any = None

    def __post_init__(self) -> None:
        _check_seconds(self.seconds)


@dataclass(frozen=True, slots=True)
class GenericTimeout:
    name: Hashable
    seconds: float | None
    content: Any = None

    def __post_init__(self) -> None:
        _check_seconds(self.seconds)
        _check_generic_name(self.name)


@dataclass(frozen=True, slots=True)
class CancelTimeout:
    """Cancel the ``"event"`` or ``"state"`` timeout, or a generic one by name."""

    name: Hashable


@dataclass(frozen=True, slots=True)
class UpdateTimeout:
    """New content for a running timer; if it is not running, it fires now (OTP's rule)."""

    name: Hashable
    content: Any


Action: TypeAlias = (
    Reply
    | Postpone
    | NextEvent
    | EventTimeout
    | StateTimeout
    | GenericTimeout
    | CancelTimeout
    | UpdateTimeout
)

# -- transitions -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NextState:
    """Go to ``state`` (a change only if it differs from the current one)."""

    state: Any
    actions: Sequence[Action] = ()


@dataclass(frozen=True, slots=True)
class KeepState:
    actions: Sequence[Action] = ()


@dataclass(frozen=True, slots=True)
class RepeatState:
    """Stay, but run ``enter`` again as if the state had been re-entered."""

    actions: Sequence[Action] = ()


@dataclass(frozen=True, slots=True)
class StopState:
    """Stop with ``reason``, sending ``replies`` first; ``terminate`` then runs."""

    reason: ExitReason = NORMAL
    replies: Sequence[Reply] = ()


Transition: TypeAlias = NextState | KeepState | RepeatState | StopState


class TransitionError(KernelError):
    """A callback returned something the machine cannot do; it crashes the process."""


# -- internals -------------------------------------------------------------------------------

_KEEP = KeepState()
_NO_REPLY = Stop._no_reply


class _Enter(enum.Enum):
    """What ``_transition`` returns when the state-enter call is due."""

    ENTER = "enter"


_ENTER = _Enter.ENTER


class _Timer:
    """An armed timeout, and also its expiry as queued in the mailbox (or in the internal
    queue, for a 0 s timeout): one object per arming, where a token, an expiry message and
    a callback wrapping it used to be three (a step's timeout is armed on every step)."""

    __slots__ = ("content", "handle", "mailbox", "name")

    def __init__(self, name: Hashable, content: Any, mailbox: Mailbox) -> None:
        self.name = name
        self.content = content
        self.mailbox = mailbox
        # None: a 0 s timer, already queued (or, for "event", pending). Dropped once the
        # timer is cancelled or has fired, so a timer and its clock handle never hold each
        # other for the collector to find.
        self.handle: TimerHandle | None = None

    def __call__(self) -> None:
        """The clock's callback: the expiry goes into the mailbox as a kernel signal."""
        self.mailbox.put_signal(self)


def _defer(proc: Process, call: Call) -> None:
    """Track an unanswered call so the kernel fails it with ProcessDied if we exit.

    Done as soon as a call is received: a call may be postponed or stored for a later state,
    where the kernel's own "fail the message being handled" rule cannot see it.
    """
    if proc.deferred_calls is None:
        proc.deferred_calls = set()
    proc.deferred_calls.add(call)
    call._server = proc


class GenStatem(_behaviour.Behaviour):
    """Base class of state machines. ``self.pid`` is set before ``init`` runs."""

    state_enter: ClassVar[bool] = False

    pid: Pid
    _proc: Process
    _state: Any = None

    @property
    def state(self) -> Any:
        """The current state (read-only: states change only through a returned transition)."""
        return self._state

    # -- callbacks --------------------------------------------------------------------------

    async def init(self, *args: Any) -> Any:
        """Return the initial state, or ``NextState(state, actions)``; ``IGNORE`` to not start;
        raise to fail the start. (Not a ``(state, actions)`` tuple: tuples are common states.)"""
        raise NotImplementedError(f"{type(self).__name__}.init must return the initial state")

    async def handle_event(self, state: Any, event: Event) -> Transition | None:
        """Handle one event in ``state``. ``None`` means ``KeepState()``."""
        raise NotImplementedError(f"{type(self).__name__} got an unexpected {event!r} in {state!r}")

    async def enter(self, old_state: Any, state: Any) -> Sequence[Action] | StopState | None:
        """State-enter call (only if ``state_enter = True``). May reply, set or cancel timers."""
        return None

    async def terminate(self, reason: ExitReason, state: Any) -> None:
        """Clean up on a stop or a crash. Not called when the process is killed."""

    async def _init(self, args: tuple[Any, ...]) -> Any:
        outcome = await self.init(*args)
        if isinstance(outcome, StopState):
            raise Exit(outcome.reason)  # OTP's {stop, Reason} from init: the start fails
        if isinstance(outcome, KeepState | RepeatState):
            raise TransitionError(f"init returned {outcome!r}; there is no state to keep")
        return outcome

    # -- the loop ------------------------------------------------------------------------------

    async def _serve(self, proc: Process, args: tuple[Any, ...], started: asyncio.Future[Any]) -> None:
        self.pid = proc.pid
        self._proc = proc
        proc.behaviour = self
        self._queue: deque[Event | _Timer] = deque()  # inserted, re-delivered, 0 s timeouts
        self._postponed: list[Event] = []
        self._timers: dict[Hashable, _Timer] = {}
        # partial, not a lambda: see GenServer._serve
        outcome = await _behaviour.initialise(proc, started, partial(self._init, args), _start_failure)
        if outcome is IGNORE:
            return
        first = outcome if isinstance(outcome, NextState) else NextState(outcome)
        self._state = first.state
        # As in OTP, the start is acknowledged before the initial state-enter call runs.
        started.set_result(None)
        proc.current = None  # the start handshake is answered
        del started, args  # an idle machine keeps neither (see GenServer._serve)
        try:
            try:
                reason = await self._run(proc, first)
            except asyncio.CancelledError:
                stop_reason = proc._stop_reason
                if stop_reason is None or not proc.alive:
                    raise  # killed, or cancelled from outside the kernel: no terminate
                reason = stop_reason
                task = asyncio.current_task()
                if task is not None:
                    task.uncancel()
            except (Exception, Exit) as crash:
                # As OTP does, terminate runs when a callback crashes too; only a kill skips it.
                await self.terminate(crash.reason if isinstance(crash, Exit) else crash, self._state)
                raise
            proc.current = None
            await self.terminate(reason, self._state)
        finally:
            for timer in self._timers.values():
                if timer.handle is not None:
                    timer.handle.cancel()  # keep the clock clean: nobody will read these
            self._timers.clear()
        raise Exit(reason)

    async def _run(self, proc: Process, first: NextState) -> ExitReason:
        """Handle events until a callback stops the machine; return the stop reason.

        Every step that need not wait is a plain call: taking an event that is already
        there, applying a transition (only the state-enter call and ``handle_event`` are
        awaited). A coroutine per layer per event was a measurable share of a run step.
        """
        try:
            reason = self._transition(None, first)
            if reason is _ENTER:
                reason = await self._enter(self._state)
        except Stop as stop:
            reason = stop.reason
        mailbox = proc.mailbox
        while reason is None:
            event = self._take_event()
            while event is None:  # nothing is waiting: sleep in this frame until a delivery
                await mailbox.waiter()
                event = self._take_event()
            proc.current = event
            if (
                type(event) is InfoEvent
                and isinstance(event.message, ExitSignal)
                and proc.trap_exit
                and event.message.pid == proc.parent
            ):
                return event.message.reason  # OTP: the parent's exit signal stops a trapping statem
            try:
                old = self._state
                reason = self._transition(event, await self.handle_event(old, event))
                if reason is _ENTER:
                    reason = await self._enter(old)
            except Stop as stop:
                if type(event) is CallEvent and stop.reply is not _NO_REPLY:
                    event.caller.reply(stop.reply)
                reason = stop.reason
            proc.current = None
        return reason

    def _transition(self, event: Event | None, result: object) -> ExitReason | _Enter | None:
        """Apply a callback's result in OTP's order; a returned reason means "stop", and
        ``_ENTER`` that the state-enter call is due (the caller awaits it: the one step
        of a transition that may suspend).

        ``event`` is None for the initial transition out of ``init``. The events to handle
        next are queued before the state-enter call runs; that call can neither insert nor
        postpone events, and a 0 s timeout it arms still goes behind them.
        """
        match result:
            case None:
                result = _KEEP
                changed = False
            case NextState(state=new):
                changed = new != self._state
            case KeepState() | RepeatState():
                changed = False
            case StopState():
                return self._stop(result)
            case _:
                raise TransitionError(
                    f"handle_event returned {result!r}; expected NextState, KeepState, "
                    "RepeatState, StopState or None"
                )
        if changed:
            self._state = new
            if "state" in self._timers:
                self._cancel_timer("state")  # before the actions, which may arm the new state's
        actions = result.actions
        if actions:
            where = "handle_event" if event is not None else "init"
            next_events: list[Event] = []
            postpone = False
            for action in actions:
                postpone |= self._act(action, where, next_events)
            if postpone and event is not None:  # _act refuses Postpone outside handle_event
                self._postponed.append(event)
            if changed and self._postponed:
                self._queue.extendleft(reversed(self._postponed))
                self._postponed.clear()
            if next_events:
                self._queue.extendleft(reversed(next_events))
        elif changed and self._postponed:
            self._queue.extendleft(reversed(self._postponed))
            self._postponed.clear()
        if self.state_enter and (changed or event is None or isinstance(result, RepeatState)):
            return _ENTER
        return None

    async def _enter(self, old: Any) -> ExitReason | None:
        """The state-enter call, after a transition out of ``old`` (``_ENTER``)."""
        state = self._state
        result = await self.enter(old, state)
        match result:
            case None:
                return None
            case StopState():
                return self._stop(result)
            case KeepState(actions=actions):
                pass  # OTP allows keep_state from a state-enter call
            case NextState() if result.state == state:
                actions = result.actions
            case NextState() | RepeatState():
                raise TransitionError(
                    f"state enter calls cannot change state: enter({old!r}, {state!r}) returned {result!r}"
                )
            case list() | tuple():
                actions = result
            case _:
                raise TransitionError(f"enter returned {result!r}; expected a list of actions or None")
        for action in actions:
            self._act(action, "enter", None)
        return None

    def _stop(self, stop: StopState) -> ExitReason:
        for reply in stop.replies:
            reply.caller.reply(reply.value)
        return stop.reason

    def _act(self, action: object, where: str, next_events: list[Event] | None) -> bool:
        """Carry out one action; True if it postpones the current event."""
        match action:  # the commonest first: a case is an isinstance test
            case NextEvent(content) if next_events is not None:
                next_events.append(InternalEvent(content))
            case Reply(caller, value):
                caller.reply(value)
            case EventTimeout(seconds, content):
                self._set_timer("event", seconds, content)
            case StateTimeout(seconds, content):
                self._set_timer("state", seconds, content)
            case GenericTimeout(name, seconds, content):
                self._set_timer(name, seconds, content)
            case CancelTimeout(name):
                self._cancel_timer(name)
            case UpdateTimeout(name, content):
                timer = self._timers.get(name)
                if timer is not None:
                    timer.content = content
                else:
                    self._set_timer(name, 0, content)  # not running: fires now, as in OTP
            case Postpone() if where == "handle_event":
                return True
            case NextEvent() | Postpone():
                raise TransitionError(f"{action!r} is not allowed in {where}")
            case _:
                raise TransitionError(f"{where} returned an unknown action {action!r}")
        return False

    # -- timers --------------------------------------------------------------------------------

    def _set_timer(self, name: Hashable, seconds: float | None, content: Any) -> None:
        self._cancel_timer(name)  # arming a running timer restarts it
        if seconds is None:
            return
        timer = _Timer(name, content, self._proc.mailbox)
        if seconds > 0:
            clock = self._proc.node.clock
            timer.handle = clock.call_at(clock.now() + seconds, timer)
        elif name != "event":
            # OTP: a 0 s timeout goes after the events already queued, before the mailbox.
            # (A 0 s event timeout instead waits in _take_event for both to be empty.)
            self._queue.append(timer)
        self._timers[name] = timer

    def _cancel_timer(self, name: Hashable) -> None:
        timer = self._timers.pop(name, None)
        if timer is not None and timer.handle is not None:
            timer.handle.cancel()
            timer.handle = None

    def _fired(self, fired: _Timer) -> TimeoutEvent | None:
        """The timeout event for an expiry, or None if that timer was cancelled or restarted."""
        name = fired.name
        if self._timers.get(name) is not fired:
            return None  # stale: its expiry was already queued when it was cancelled
        del self._timers[name]
        fired.handle = None
        kind: TimeoutKind = name if name == "event" or name == "state" else "generic"
        return TimeoutEvent(kind, name, fired.content)

    # -- receiving -----------------------------------------------------------------------------

    def _take_event(self) -> Event | None:
        """The next event if one is waiting: the internal queue first, then the mailbox;
        stale timers skipped. None when the machine has to wait: both are empty then."""
        event: Event | None
        queue = self._queue
        while queue:
            item = queue.popleft()
            event = self._fired(item) if isinstance(item, _Timer) else item
            if event is not None:
                if "event" in self._timers:
                    self._cancel_timer("event")  # any event cancels the event timeout
                return event
        mailbox = self._proc.mailbox
        while True:
            if mailbox._head == len(mailbox._items):  # empty
                timer = self._timers.get("event")
                if timer is not None and timer.handle is None:
                    del self._timers["event"]  # a 0 s event timeout, and nothing is waiting
                    return TimeoutEvent("event", "event", timer.content)
                return None
            message = mailbox.get_nowait()
            kind = type(message)
            if kind is Cast:
                event = CastEvent(message.message)
                recycle_cast(message)  # the event carries the message on
            elif kind is Call:
                if not message.answered:
                    _defer(self._proc, message)
                event = CallEvent(message.request, message)
            elif kind is _Timer:
                event = self._fired(message)
            else:
                event = InfoEvent(message)
            if event is not None:
                if "event" in self._timers:
                    self._cancel_timer("event")
                return event


def _start_failure(e: BaseException) -> ExitReason:
    # Stop(reason) from init is OTP's {stop, Reason}: the start fails with Reason.
    return e.reason if isinstance(e, Exit | Stop) else e
