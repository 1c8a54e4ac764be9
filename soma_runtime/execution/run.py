"""Run: one execution attempt of a step list, as a GenStatem.

    EXECUTING --(spawn ToolCall)--> WAITING_TOOL --(ToolReturned)--> EXECUTING --> ... --> COMPLETED
                                         |  tool crashed / bad args        --> FAILED
                                         |  step or run timeout            --> TIMEOUT
                                         |  cancel (from any live state)   --> CANCELLED

The run owns the run state: the step cursor, the committed outputs, the active ToolCall,
the run timeout (a named generic timeout, so it survives the state changes of every step)
and the step timeout (a state timeout of WAITING_TOOL, so leaving the state cancels it).
Tools get a read-only context and their outputs arrive as messages.

Every transition is an event. A terminal state is reached exactly once: the first of
completion, failure, timeout or cancel to be handled wins, later ones find the run gone.
The terminal event is appended *durably* before any waiter gets the result, so a caller
that saw ``run.result()`` return can find the same outcome in the store after a crash.

The events are also the run's journal (docs/design.md §5b): ``run.started`` holds the plan and
options, ``tool.started`` the tool's ``effect`` and ``idempotent`` as they were — durable
*before* the call starts when the tool is neither (write-ahead), ``tool.spawned``
the identity of a tool's OS process, ``step.failed`` the outcome it ends the run in. From
them, ``resume`` rebuilds a run its runtime did not finish, and the run continues from a
:class:`ResumePoint` under its own id. Stopped from outside while live (an orderly shutdown,
or its own crash), the run still records its end: ``run.cancelled`` (reason ``shutdown``),
``run.suspended`` when the runtime suspends its runs, ``run.failed`` (kind ``crashed``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

from ..kernel import (
    NORMAL,
    Call,
    Clock,
    Down,
    ExitSignal,
    Pid,
    Shutdown,
    current_node,
)
from ..kernel.gen_statem import (
    CallEvent,
    CancelTimeout,
    Event,
    GenericTimeout,
    GenStatem,
    InfoEvent,
    InternalEvent,
    KeepState,
    NextEvent,
    NextState,
    Reply,
    StateTimeout,
    StopState,
    TimeoutEvent,
    Transition,
)
from ..kernel.node import shutdown_process
from ..kernel.reasons import ExitReason, describe, is_orderly
from ..store._limits import MAX_PAYLOAD_DEPTH, LimitExceeded, abbreviate, check_value
from ..store.errors import InvalidEvent, PayloadTooLarge, StoreWriteError
from ..store.events import EventDraft, PreparedEvent
from ..store.ids import new_id
from ..store.log import EventLog
from ..tools.spec import Effect, Isolation, ToolContext, ToolSpec
from ..tools.tool_call import ToolReturned, ToolSpawned, tool_call
from .run_types import (
    CANCEL,
    GO,
    RESULT,
    SESSION,
    STATUS,
    TERMINAL_TYPES,
    OnShutdown,
    ResumePoint,
    RunFinished,
    RunOptions,
    RunResult,
    RunSnapshot,
    RunState,
    RunSuspended,
    run_name,
    tool_journal,
)
from .steering import DestructiveBlock
from .steps import Step, StepArgumentError, substitute

# Re-exported: the run's vocabulary is imported from here too.
__all__ = [
    "CANCEL",
    "GO",
    "RESULT",
    "SESSION",
    "STATUS",
    "TERMINAL_TYPES",
    "OnShutdown",
    "ResumePoint",
    "Run",
    "RunFinished",
    "RunOptions",
    "RunResult",
    "RunSnapshot",
    "RunState",
    "RunSuspended",
    "run_name",
    "tool_journal",
]

log = logging.getLogger("soma.run")

_NEXT = "next_step"
_END_RETRY = "end_retry"
END_RETRY_FIRST = 0.05
"""Seconds before a run first tries again to write an end the store refused (a full disk)."""
END_RETRY_MAX = 2.0
"""The longest wait between two tries (the wait doubles up to it)."""


class _Active:
    """The ToolCall in flight."""

    __slots__ = ("args", "deadline", "os_pid", "pid", "spec", "started", "step", "tool_call_id")

    def __init__(
        self,
        step: Step,
        spec: ToolSpec,
        tool_call_id: str,
        pid: Pid,
        args: dict[str, Any],
        deadline: float | None = None,
    ) -> None:
        self.step = step
        self.spec = spec
        self.tool_call_id = tool_call_id
        self.pid = pid
        # As JSON, repeated on the outcome event (see _outcome) with long strings cut:
        # tool.started holds them whole, and twice in one event would halve the payload cap.
        self.args = abbreviate(args)
        self.os_pid: int | None = None  # a process/command tool's OS process, once spawned
        self.started = time.perf_counter()
        self.deadline = deadline  # the step's timeout, on the node's clock


class Run(GenStatem):
    state_enter = False
    trap_exit = True  # ToolCalls are linked: their crashes arrive as ExitSignal messages

    async def init(
        self,
        run_id: str,
        session: Pid | None,
        steps: Sequence[Step],
        tools: Mapping[str, ToolSpec],
        options: RunOptions,
        events: EventLog,
        resume: ResumePoint | None = None,
        plan: list[dict[str, Any]] | None = None,
    ) -> Any:
        self.run_id = run_id
        self.session = session
        self.steps = list(steps)
        self.tools = dict(tools)
        self.options = options
        self.events = events
        # The steps as the journal holds them, made once (by the session, which journalled
        # them first): run.started holds them all, each step.started its own args.
        self.plan = plan if plan is not None else [s.to_json() for s in self.steps]
        self.outputs: dict[str, Any] = dict(resume.outputs) if resume is not None else {}
        self.cursor = resume.cursor if resume is not None else 0
        self.active: _Active | None = None
        self._unsent: list[PreparedEvent] = []  # a step's outcome, sent with the next batch
        self.waiters: list[Call] = []
        self.finished = False  # the terminal event is recorded
        self._ending: tuple[str, dict[str, Any], RunResult] | None = None  # ... or being written
        self._end_retry: float | None = None  # the store refused the end: the next try's wait
        self.block = options.destructive_block
        self._session_ref = self._proc.monitor(session) if session is not None else None
        current_node().register(run_name(run_id), self.pid)
        if resume is not None:
            # Rebuilt by recovery, which journalled it (run.resumed, or run.started) with the
            # others in a few batches: it waits for recovery's go before its next step.
            timeout = resume.timeout
            actions: list[Any] = []
        else:
            timeout = options.timeout
            await self._emit(
                "run.started",
                {"steps": self.plan, "options": options.journal()},
            )
            actions = [NextEvent(_NEXT)]
        if timeout is not None:
            actions.append(GenericTimeout("run", timeout))
        return NextState(RunState.EXECUTING, actions)

    # -- events ------------------------------------------------------------------------------

    async def handle_event(self, state: Any, event: Event) -> Transition | None:
        if self._end_retry is not None:
            return await self._holding_end(event)
        if type(event) is InfoEvent and type(event.message) is ExitSignal and event.message.reason is NORMAL:
            # Every step's ToolCall ends so, after its ToolReturned: nothing to do, and one per
            # step, so it skips the walk through the cases below.
            return None
        match state, event:
            case RunState.EXECUTING, InternalEvent(content="next_step") | InfoEvent(message="resume.go"):
                return await self._start_step()
            case RunState.WAITING_TOOL, InfoEvent(message=ToolReturned() as returned):
                if self.active is None or returned.tool_call_id != self.active.tool_call_id:
                    return None  # a late message from a ToolCall that was already stopped
                return await self._step_succeeded(returned.output)
            case _, CallEvent(request=ToolSpawned() as spawned, caller=caller):
                unrecorded = None
                if self.active is not None and spawned.tool_call_id == self.active.tool_call_id:
                    self.active.os_pid = spawned.os_pid
                    unrecorded = await self._spawned(self.active, spawned)
                caller.reply(None)  # the tool gets its input now
                if unrecorded is not None:
                    # A process the journal does not know of could outlive a crash unseen:
                    # it is stopped now, and the step fails.
                    why = f"its OS process could not be journalled: {unrecorded.problem}"
                    return await self._step_failed(why, RunState.FAILED, "store_write")
                return None
            case _, InfoEvent(message=DestructiveBlock() as block):
                self.block = block if block.blocked else None
                return None
            case _, InfoEvent(message=ExitSignal(pid=pid, reason=reason)):
                if self.active is not None and pid == self.active.pid and reason is not NORMAL:
                    return await self._step_failed(describe(reason), RunState.FAILED)
                return None
            case RunState.WAITING_TOOL, TimeoutEvent(kind="state"):
                assert self.active is not None
                timeout = self._step_timeout(self.active.step, self.active.spec)
                return await self._step_failed(f"timed out after {timeout}s", RunState.TIMEOUT)
            case _, TimeoutEvent(kind="generic", name="run"):
                return await self._interrupt(RunState.TIMEOUT, f"run timed out after {self.options.timeout}s")
            case _, CallEvent(request="cancel", caller=caller):
                self.waiters.append(caller)
                return await self._interrupt(RunState.CANCELLED, "cancelled")
            case _, CallEvent(request="result", caller=caller):
                self.waiters.append(caller)
                return None
            case _, CallEvent(request="status", caller=caller):
                caller.reply(self.snapshot())
                return None
            case _, CallEvent(request="session", caller=caller):
                caller.reply(self.session)
                return None
            case _, InfoEvent(message=Down(ref=ref)) if ref is self._session_ref:
                return await self._interrupt(RunState.CANCELLED, "its session exited")
        return None

    def snapshot(self) -> RunSnapshot:
        active = self.active
        step = self.steps[self.cursor] if self.cursor < len(self.steps) else None
        return RunSnapshot(
            self.run_id,
            self.state,
            step.id if step is not None else None,
            self.cursor,
            len(self.steps),
            active.tool_call_id if active is not None else None,
            active.os_pid if active is not None else None,
        )

    # -- steps -------------------------------------------------------------------------------

    def _step_timeout(self, step: Step, spec: ToolSpec) -> float | None:
        return step.timeout if step.timeout is not None else spec.timeout

    async def _start_step(self) -> Transition:
        if self.cursor >= len(self.steps):
            return await self._finish(RunState.COMPLETED, None)
        step = self.steps[self.cursor]
        spec = self.tools[step.tool]
        args_json = self.plan[self.cursor]["args"]
        started = self._draft("step.started", {"tool": spec.name, "args": args_json}, step.id)
        if spec.destructive and self.block is not None:
            return await self._refuse(step, spec, started, self.block)
        try:
            args = spec.validate_args(substitute(step.args, self.outputs))
        except (StepArgumentError, ValueError) as e:
            # Bad arguments never reach the tool: the step fails with the reason as data.
            failed = {"error": str(e), "outcome": "failed"}
            await self._record([started, self._draft("step.failed", failed, step.id)])
            return await self._finish(RunState.FAILED, f"step {step.id!r}: {e}")
        tool_call_id = new_id("tc")
        json_args = args.model_dump(mode="json")
        # One batch per step: the last step's outcome goes with this start (``_record``).
        journal = [started, self._draft("tool.started", tool_journal(spec, json_args), step.id, tool_call_id)]
        try:
            # Substituted outputs may have made the arguments deeper than the journal holds
            # (each was checked alone), and trusted events are not checked for it again: the
            # payloads that hold them wrap them once.
            check_value(json_args, "args", max_depth=MAX_PAYLOAD_DEPTH - 1)
            # Write-ahead: a call that must not run twice is in the log before it runs, or a
            # runtime killed meanwhile would leave no trace of it and resume would repeat it.
            durable = not (spec.effect is Effect.PURE or spec.idempotent)
            await self._record(journal, durable=durable)
        except LimitExceeded as e:
            failed = {"error": f"arguments not recordable: {e}", "outcome": "failed"}
            await self._record([started, self._draft("step.failed", failed, step.id)])
            return await self._finish(RunState.FAILED, f"step {step.id!r}: arguments not recordable: {e}")
        except StoreWriteError as e:
            # The store refused the write-ahead (a full disk): the tool never starts.
            why = f"step {step.id!r}: not started, the event store could not record it: {e.problem}"
            return await self._finish(RunState.FAILED, why, "store_write")
        except InvalidEvent as e:
            # Arguments the log cannot record (an earlier output substituted in made them too
            # deep or too large): the tool never runs, the step fails with the reason as data.
            failed = {"error": f"arguments not recordable: {e}", "outcome": "failed"}
            await self._record([started, self._draft("step.failed", failed, step.id)])
            return await self._finish(RunState.FAILED, f"step {step.id!r}: arguments not recordable: {e}")
        node = current_node()
        timeout = self._step_timeout(step, spec)
        ctx = ToolContext(
            tool=spec.name,
            tool_call_id=tool_call_id,
            run_id=self.run_id,
            session_id=self.options.session_id,
            step_id=step.id,
            agent_id=self.options.agent_id,
            deadline=None if timeout is None else node.clock.now() + timeout,
            root=self.options.root,
        )
        pid = node.spawn(tool_call, self.pid, spec, args, ctx, link=True)
        self.active = _Active(step, spec, tool_call_id, pid, json_args, ctx.deadline)
        return NextState(RunState.WAITING_TOOL, [StateTimeout(timeout, "step")] if timeout else [])

    async def _refuse(
        self, step: Step, spec: ToolSpec, started: EventDraft, block: DestructiveBlock
    ) -> Transition:
        """BLOCK: a destructive tool never runs; the step fails with the reason as data."""
        reason = (
            f"tool {spec.name!r} is destructive and agent {block.agent_id!r} is blocked "
            f"(pressure {block.pressure:.2f}): {block.reason}"
        )
        blocked = {"tool": spec.name, "reason": reason, "pressure": block.pressure}
        await self._record(
            [
                started,
                self._draft("tool.blocked", blocked, step.id),
                self._draft("step.failed", {"error": reason, "outcome": "failed"}, step.id),
            ]
        )
        return await self._finish(RunState.FAILED, f"step {step.id!r}: {reason}")

    async def _step_succeeded(self, output: Any) -> Transition:
        active = self.active
        assert active is not None
        self.active = None
        step = active.step
        ms = (time.perf_counter() - active.started) * 1000
        if active.deadline is not None and current_node().clock.now() > active.deadline:
            # It returned after its timeout: a task tool that blocked the event loop, so that
            # the timeout could not fire in time. That is a timeout, not a completion.
            self.active = active
            timeout = self._step_timeout(step, active.spec)
            why = (
                f"timed out after {timeout}s (it returned after {ms / 1000:.2f}s, having blocked the "
                "event loop: give CPU-bound tools isolation='thread' or 'process')"
            )
            return await self._step_failed(why, RunState.TIMEOUT)
        try:
            # Deeper than this, the run's own end (every output, wrapped) could not be stored.
            check_value(output, "output")
        except LimitExceeded as e:
            self.active = active
            return await self._step_failed(f"output not recordable: {e}", RunState.FAILED)
        try:
            # Sent with the next step's start, one batch per step (the next thing the run does,
            # before it reads another message); prepared now, so an output the log cannot hold
            # fails this step.
            self._unsent += await self.events.prepare_trusted(
                [
                    self._draft(
                        "tool.succeeded",
                        {**_outcome(active), "output": output, "duration_ms": ms},
                        step.id,
                        active.tool_call_id,
                    ),
                    self._draft("step.succeeded", {"output": output}, step.id),
                ]
            )
        except InvalidEvent as e:
            # An output the log cannot record (over the payload cap) cannot be committed
            # either: a run's outputs must be replayable from the store. The step fails.
            self.active = active
            return await self._step_failed(f"output not recordable: {e}", RunState.FAILED)
        self.outputs[step.id] = output
        self.cursor += 1
        return NextState(RunState.EXECUTING, [NextEvent(_NEXT)])

    async def _step_failed(self, error: str, outcome: RunState, cause: str | None = None) -> Transition:
        active = self.active
        assert active is not None
        await self._stop_active()
        step = active.step
        ms = (time.perf_counter() - active.started) * 1000
        if active.spec.isolation is Isolation.THREAD and outcome is not RunState.FAILED:
            # Python threads cannot be killed: the call was abandoned and may still be running.
            error += " (thread tool abandoned: its thread may still be running)"
        await self._record(
            [
                self._draft(
                    "tool.failed",
                    {**_outcome(active), "error": error, "duration_ms": ms},
                    step.id,
                    active.tool_call_id,
                ),
                self._draft("step.failed", {"error": error, "outcome": str(outcome)}, step.id),
            ]
        )
        return await self._finish(outcome, f"step {step.id!r} ({active.spec.name}): {error}", cause)

    async def _interrupt(self, outcome: RunState, why: str, kind: str | None = None) -> Transition:
        """Cancel or run timeout (or a stop from outside): stop the active tool (if any),
        then end the run. A cancel records ``why`` as its reason; a failure ``kind``."""
        cause = why if outcome is RunState.CANCELLED else kind
        if self.active is not None:
            return await self._step_failed(why, outcome, cause)
        return await self._finish(outcome, why, cause)

    async def _stop_active(self) -> None:
        """Stop the ToolCall and wait until its task has really finished (for a process tool:
        until its OS process has been killed and reaped), bounded by ``cancel_grace``."""
        active, self.active = self.active, None
        if active is None:
            return
        proc = active.pid.process
        self._proc.unlink(active.pid)
        grace = self.options.cancel_grace
        clock = current_node().clock
        await shutdown_process(proc, Shutdown("cancelled"), grace, clock)
        task = proc.task
        if task is not None and not task.done():
            # Killed: the task may still be finishing (a process tool reaps its OS process).
            # One more grace at most, read from the node's clock like every other deadline.
            await _finished(task, grace, clock)

    # -- the end -------------------------------------------------------------------------------

    async def _finish(self, outcome: RunState, error: str | None, cause: str | None = None) -> Transition:
        """Record the end (durably) and stop. ``cause``: a cancel's short reason
        (``cancelled``, ``shutdown``…), a failure's kind (``crashed``)."""
        result = RunResult(self.run_id, outcome, dict(self.outputs), error, self.options.session_id)
        payload: dict[str, Any]
        if outcome is RunState.COMPLETED:
            payload = {"outputs": self.outputs}
        elif outcome is RunState.CANCELLED:
            payload = {"reason": error} if cause in (None, error) else {"reason": cause, "error": error}
        elif outcome is RunState.TIMEOUT:
            payload = {"timeout": self.options.timeout, "error": error}
        else:
            payload = {"error": error or "failed"} if cause is None else {"error": error, "kind": cause}
        event_type = TERMINAL_TYPES[outcome]
        self._ending = (event_type, payload, result)
        try:
            try:
                await self._emit(event_type, payload, durable=True)  # before anyone hears the result
            except PayloadTooLarge:
                if outcome is not RunState.COMPLETED:
                    raise
                # Each output fits its own step.succeeded; all of them together do not fit one
                # event. They are not stored twice: the end says where they are.
                payload = {"outputs": {}, "outputs_in_steps": True}
                self._ending = (event_type, payload, result)
                await self._emit(event_type, payload, durable=True)
        except StoreWriteError as e:
            return self._hold_end(e)
        return await self._ended(result)

    async def _ended(self, result: RunResult) -> Transition:
        self.finished = True
        self._end_retry = None
        if self.session is not None:
            await self.session.send(RunFinished(result))
        return StopState(NORMAL, [Reply(c, result) for c in self.waiters])

    def _hold_end(self, error: StoreWriteError) -> Transition:
        """The store refused the end (a full disk): nobody may hear an outcome the store
        does not have, so the run keeps it, and its waiters wait, while it tries again —
        at growing intervals — until the write succeeds (or the runtime stops, leaving the
        run to the next open, which ends it)."""
        delay = END_RETRY_FIRST if self._end_retry is None else min(self._end_retry * 2, END_RETRY_MAX)
        if self._end_retry is None:
            log.warning("run %s: its end could not be written (%s); trying again", self.run_id, error.problem)
        self._end_retry = delay
        return NextState(RunState.EXECUTING, [CancelTimeout("run"), GenericTimeout(_END_RETRY, delay)])

    async def _holding_end(self, event: Event) -> Transition | None:
        """While the end waits to be written: try again when it is time; every caller waits
        for it (a cancel too: the run has ended, only its record is late)."""
        match event:
            case TimeoutEvent(kind="generic", name="end_retry"):
                assert self._ending is not None
                event_type, payload, result = self._ending
                try:
                    await self._emit(event_type, payload, durable=True)
                except StoreWriteError as e:
                    return self._hold_end(e)
                return await self._ended(result)
            case CallEvent(request="cancel" | "result", caller=caller):
                self.waiters.append(caller)
            case CallEvent(request="status", caller=caller):
                caller.reply(self.snapshot())
            case CallEvent(request="session", caller=caller):
                caller.reply(self.session)
            case CallEvent(request=ToolSpawned(), caller=caller):
                caller.reply(None)  # a late one, of a tool already stopped
        return KeepState()

    async def terminate(self, reason: ExitReason, state: Any) -> None:
        """Stopped from outside while live — never leave a tool running, nor a run without
        its end: an orderly shutdown cancels the run (reason ``shutdown``) or suspends it;
        a crash of the run itself fails it (kind ``crashed``)."""
        if self.finished:
            return
        if self._ending is not None:
            await self._settle_end(*self._ending)
            return
        if self.options.on_shutdown == "suspend" and is_orderly(reason):
            await self._suspend()
            return
        if is_orderly(reason):
            end = await self._interrupt(RunState.CANCELLED, "shutdown")
        else:
            end = await self._interrupt(
                RunState.FAILED, f"run process crashed: {describe(reason)}", "crashed"
            )
        if not isinstance(end, StopState):
            # The store refused the end (``_hold_end``): no waiter hears an outcome it does
            # not have; the next open finds the run unfinished and ends it.
            log.error("run %s stopped before its end could be written", self.run_id)
            return
        for reply in end.replies:  # the waiters' (a stop from outside would drop them)
            reply.caller.reply(reply.value)

    async def _settle_end(self, event_type: str, payload: dict[str, Any], result: RunResult) -> None:
        """Stopped while the terminal event was being written: it may or may not have reached
        the store. Once the store has committed everything sent to it, look, and write it
        only if it is not there — a run has exactly one end."""
        try:
            await self.events.sync()
            if not await self.events.query(run_id=self.run_id, type=list(TERMINAL_TYPES.values()), limit=1):
                await self._emit(event_type, payload, durable=True)
        except StoreWriteError as e:
            # Still refused: the store has no end for it, so nobody hears one; the next open
            # finds the run unfinished and ends it (``resume``).
            log.error("run %s stopped before its end could be written (%s)", self.run_id, e.problem)
            return
        self.finished = True
        if self.session is not None:
            await self.session.send(RunFinished(result))
        for caller in self.waiters:
            caller.reply(result)

    async def _suspend(self) -> None:
        """Stop the active tool and leave the run to the next open (``resume``), which runs
        the stopped step again only if it is safe to."""
        active = self.active
        drafts = []
        if active is not None:
            await self._stop_active()
            interrupted = {
                **_outcome(active),
                "error": "interrupted: the runtime suspended its runs",
                "interrupted": True,
                "idempotent": active.spec.idempotent,
            }
            drafts.append(self._draft("tool.failed", interrupted, active.step.id, active.tool_call_id))
        step_id = active.step.id if active is not None else None
        drafts.append(self._draft("run.suspended", {"reason": "shutdown", "step_id": step_id}))
        try:
            await self._record(drafts, durable=True)
        except StoreWriteError as e:
            # Unrecorded, it is a run without an end all the same: the next open resumes it.
            log.error("run %s: its suspension could not be written (%s)", self.run_id, e.problem)
        if self.session is not None:
            await self.session.send(RunSuspended(self.run_id))

    async def _spawned(self, active: _Active, spawned: ToolSpawned) -> StoreWriteError | None:
        """Journal the OS process, durably, so the next open can make sure it is gone; the
        store's refusal, if it refused."""
        identity = spawned.identity
        payload = {
            "os_pid": spawned.os_pid,
            "start_time": identity.start_time if identity is not None else None,
            "boot_id": identity.boot_id if identity is not None else None,
        }
        try:
            draft = self._draft("tool.spawned", payload, active.step.id, active.tool_call_id)
            await self._record([draft], durable=True)
        except StoreWriteError as e:
            return e
        return None

    def _draft(
        self, type: str, payload: dict[str, Any], step_id: str | None = None, tool_call_id: str | None = None
    ) -> EventDraft:
        o = self.options
        return EventDraft(
            type,
            payload,
            o.session_id,
            self.run_id,
            step_id,
            tool_call_id,
            o.agent_id,
            o.task_id,
            o.correlation_id,
        )

    async def _emit(self, type: str, payload: dict[str, Any], durable: bool = False) -> None:
        """Record an event. Only the terminal one waits for its commit: the store writes in
        order, so that acknowledgement covers every event the run emitted before it."""
        await self._record([self._draft(type, payload)], durable=durable)

    async def _record(self, drafts: list[EventDraft], durable: bool = False) -> None:
        """Send ``drafts`` to the store as one batch, after the step outcome waiting to go
        with them (``_unsent``). ``durable``: wait for the commit (it covers all before it)."""
        prepared = await self.events.prepare_trusted(drafts)
        unsent, self._unsent = self._unsent, []
        try:
            await self.events.record_prepared(unsent + prepared if unsent else prepared, durable=durable)
        except StoreWriteError:
            self._unsent = unsent  # not committed (a batch is all or none): they go with the next
            raise


async def _finished(task: asyncio.Task[Any], timeout: float, clock: Clock) -> None:
    """Wait until ``task`` is done or ``timeout`` seconds of ``clock`` time have passed."""
    done = asyncio.get_running_loop().create_future()

    def wake(_: object = None) -> None:
        if not done.done():
            done.set_result(None)

    task.add_done_callback(wake)
    timer = clock.call_at(clock.now() + timeout, wake)
    try:
        await done
    finally:
        timer.cancel()
        task.remove_done_callback(wake)


def _outcome(active: _Active) -> dict[str, Any]:
    """What a tool outcome event repeats from ``tool.started``: each ``tool.succeeded`` /
    ``tool.failed`` is self-contained, so a reader of one event (the vitals engine spotting a
    retried command or a blind edit) never has to find its start."""
    return {
        "tool": active.spec.name,
        "args": active.args,
        "isolation": str(active.spec.isolation),
        "effect": str(active.spec.effect),
        "destructive": active.spec.destructive,
    }
