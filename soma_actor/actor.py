"""AgentActor: a long-lived agent entity, one gen_statem per actor.

    IDLE ──task──▶ THINKING ──reply / reject──────────────────────────▶ IDLE (task ends)
                      │  ▲
           run steps  │  │ step results go back into the conversation
                      ▼  │
                   RUNNING            DELEGATING (message_actor: waiting for another actor)

The actor owns its tasks and works on one at a time, in arrival order; it answers status,
result and cancel calls in every state, so it stays responsive while a model call or a run
is in flight. It never executes tool logic and never calls a model in its own process: a
model call is a disposable ``ModelCall`` worker (like a tool call), and approved steps run
as a ``Run`` of the actor's own runtime session. Everything that can go wrong in a task ends
that task with the reason as data; the actor takes its next message afterwards.

Every event of a task carries its ``task_id`` and ``correlation_id`` (and the actor's
``agent_id`` and ``session_id``, which is how the vitals see the agent); a delegated task
keeps its parent's correlation id, so one query returns the whole chain.
"""

from __future__ import annotations

import enum
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from soma_runtime import InvalidRun, Overloaded, RunResult, RunState, Runtime, Session, Step
from soma_runtime.kernel import (
    NORMAL,
    Call,
    Down,
    ExitSignal,
    NoProc,
    Pid,
    ProcessDied,
    Ref,
    Shutdown,
    current_node,
)
from soma_runtime.kernel.gen_statem import (
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
    TimeoutEvent,
    Transition,
)
from soma_runtime.kernel.node import shutdown_process
from soma_runtime.kernel.reasons import ExitReason, describe
from soma_runtime.store.errors import StoreWriteError
from soma_runtime.tools.registry import NAME as TOOL_REGISTRY
from soma_runtime.tools.registry import lookup

from . import _ids
from . import events as _events  # noqa: F401  (registers the actor event types with the store)
from ._protocol import (
    ActiveCall,
    ActiveDelegation,
    ActiveRun,
    CancelTask,
    Delegate,
    DelegateReply,
    RunDone,
    SendTask,
    await_run,
    cancel_run,
    uses_of,
)
from ._recovery import ACTOR_RESTARTED, end_open_tasks
from ._tasks import Parent, TaskRecord, TaskTable
from .budget import Budget
from .model import Model, ModelError, ModelRequest, ModelResponse, ToolSchema
from .model_call import ModelReturned, model_call
from .policy import ANY, Policy
from .proposal import (
    MESSAGE_ACTOR_SCHEMA,
    REJECT_TASK_SCHEMA,
    InvalidProposal,
    MessageActor,
    Proposal,
    Reject,
    Reply,
    RunSteps,
    normalize,
    read_proposal,
    tool_schemas,
)
from .proposal import (
    describe as describe_proposal,
)
from .task import TaskState, TaskStatus

DEFAULT_SYSTEM = "You are a careful agent. Use the tools you are given; answer concisely."


class ActorState(enum.StrEnum):
    IDLE = "idle"
    THINKING = "thinking"
    RUNNING = "running"
    DELEGATING = "delegating"


@dataclass(frozen=True, slots=True)
class ActorOptions:
    system: str = DEFAULT_SYSTEM
    model_timeout: float | None = 60.0  # one model call; None: no limit
    run_timeout: float | None = None  # one run of approved steps
    max_tokens: int = 1024  # the model's output limit per call
    delegation_trust: float = 1.0  # trust on the vitals edge delegate → delegator
    intent: str | None = None  # the actor session's intent (the vitals' drift signal)
    cancel_grace: float = 2.0  # how long a cancelled model call may take to close


@dataclass(frozen=True, slots=True)
class ActorInfo:
    """An actor at a glance (``soma status``, the dashboard, the control API)."""

    actor_id: str
    state: ActorState
    model: str
    session_id: str | None
    current_task: str | None
    queued: tuple[str, ...]
    tasks: tuple[TaskStatus, ...]


_NEXT = "next_task"


ACTOR_SUPERVISOR = "soma.actor_sup"
"""The registered name of the dynamic supervisor every actor runs under."""


def actor_name(actor_id: str) -> str:
    """The registered name of an actor's process."""
    return f"soma.actor.{actor_id}"


class AgentActor(GenStatem):
    state_enter = False
    trap_exit = True  # model calls and run waiters are linked: their crashes arrive as ExitSignal

    async def init(
        self, actor_id: str, rt: Runtime, model: Model, policy: Policy, budget: Budget, options: ActorOptions
    ) -> Any:
        self.actor_id = actor_id
        self.rt = rt
        self.model = model
        self.policy = policy
        self.budget = budget
        self.options = options
        self.tasks = TaskTable()
        self.queue: deque[TaskRecord] = deque()
        self.current: TaskRecord | None = None
        self.call: ActiveCall | None = None
        self.run: ActiveRun | None = None
        self.delegation: ActiveDelegation | None = None
        self.trusted: set[str] = set()  # delegates already linked in the vitals trust graph
        self.session: Session | None = None
        self.session_ref: Ref | None = None
        await self._open_session()
        lost = await self._record_lost_tasks()
        await self._emit(
            "actor.started",
            {
                "actor_id": actor_id,
                "model": model.name,
                "provider": model.provider,
                "policy": policy.to_json(),
                "budget": budget.to_json(),
                "lost_tasks": lost,
            },
            durable=True,
        )
        return NextState(ActorState.IDLE)

    async def _record_lost_tasks(self) -> int:
        """A predecessor that was killed (no ``terminate``) left tasks without an end: record
        them as failed, so the store — and every handle reading it — says what happened."""
        lost = await end_open_tasks(
            self.rt.events,
            error="the actor exited before the task ended (it was restarted)",
            reason=ACTOR_RESTARTED,
            actor_id=self.actor_id,
        )
        return len(lost)

    async def _open_session(self) -> Session:
        session = await self.rt.start_session(
            self.actor_id, intent=self.options.intent, metadata={"actor_id": self.actor_id}
        )
        self.session = session
        self.session_ref = self._proc.monitor(session.pid)
        return session

    # -- events ------------------------------------------------------------------------------

    async def handle_event(self, state: Any, event: Event) -> Transition | None:
        match event:
            case CallEvent(request=SendTask() as send, caller=caller):
                task = await self._accept(send.message, send.timeout, _ids.new_correlation_id())
                caller.reply(task.task_id)
                return self._queued(task)
            case InfoEvent(message=Delegate() as d):
                task = await self._accept(
                    d.message, d.timeout, d.correlation_id, d.parent, d.chain, d.task_id
                )
                return self._queued(task)
            case InternalEvent(content="next_task") if state is ActorState.IDLE:
                return await self._start_next()
            case CallEvent(request=("status", str() as task_id), caller=caller):
                known = self.tasks.get(task_id)
                caller.reply(None if known is None else known.status())
                return None
            case CallEvent(request=("result", str() as task_id), caller=caller):
                known = self.tasks.get(task_id)
                if known is None:
                    caller.reply(None)
                elif known.state.terminal:
                    caller.reply(known.result())
                else:
                    known.waiters.append(caller)
                return None
            case CallEvent(request=("cancel", str() as task_id), caller=caller):
                return await self._cancel(task_id, caller)
            case InfoEvent(message=CancelTask(task_id=task_id)):
                return await self._cancel(task_id, None)
            case CallEvent(request="info", caller=caller):
                caller.reply(self.info())
                return None
            case TimeoutEvent(kind="generic", name=("task", str() as task_id)):
                return await self._stop_task(task_id, TaskState.TIMEOUT, "task timed out")
        transition = await self._working(state, event)
        if isinstance(event, CallEvent) and not event.caller.answered:
            # A request this actor does not know: the caller gets a clear error, the actor
            # keeps serving (a bad call is the caller's bug, not the actor's).
            event.caller.fail(ValueError(f"actor {self.actor_id!r}: unknown request {event.request!r}"))
        return transition

    async def _working(self, state: Any, event: Event) -> Transition | None:
        """Events of the task in progress."""
        task = self.current
        match state, event:
            case ActorState.THINKING, InfoEvent(message=ModelReturned() as returned):
                if task is None or self.call is None or returned.call_id != self.call.call_id:
                    return None  # a late answer from a call already stopped
                return await self._heard(task, returned.response)
            case ActorState.THINKING, TimeoutEvent(kind="generic", name="model"):
                assert task is not None and self.call is not None
                await self._stop_call("llm.timeout", {"timeout": self.options.model_timeout})
                why = f"model call timed out after {self.options.model_timeout}s"
                return await self._finish(task, TaskState.TIMEOUT, error=why)
            case ActorState.RUNNING, InfoEvent(message=RunDone() as done):
                if task is None or self.run is None or done.run_id != self.run.handle.run_id:
                    return None
                return await self._run_done(task, done.result)
            case ActorState.DELEGATING, InfoEvent(message=DelegateReply() as answer):
                if task is None or answer.parent_task_id != task.task_id or self.delegation is None:
                    return None  # the answer to a delegation this task gave up on
                return await self._delegate_answered(task, answer)
            case ActorState.DELEGATING, InfoEvent(message=Down(ref=ref)) if (
                self.delegation is not None and ref is self.delegation.ref
            ):
                assert task is not None
                gone = self.delegation
                self.delegation = None
                task.tool_answer(
                    gone.tool_use_id,
                    f"actor {gone.actor_id!r} exited: {describe(event.message.reason)}",
                    True,
                )
                return await self._think(task)
            case _, InfoEvent(message=ExitSignal(pid=pid, reason=reason)):
                return await self._worker_exited(pid, reason)
            case _, InfoEvent(message=Down(ref=ref)) if ref is self.session_ref:
                self.session, self.session_ref = None, None  # a new one opens for the next run
                return None
        return None

    # -- tasks -------------------------------------------------------------------------------

    async def _accept(
        self,
        message: str,
        timeout: float | None,
        correlation_id: str,
        parent: Parent | None = None,
        chain: tuple[str, ...] = (),
        task_id: str | None = None,
    ) -> TaskRecord:
        task_id = task_id or _ids.new_task_id()
        task = TaskRecord(self.actor_id, task_id, correlation_id, message, timeout, parent, chain)
        self.tasks.add(task)
        self.queue.append(task)
        payload: dict[str, Any] = {"message": message, "timeout": timeout}
        if parent is not None:
            payload |= {"from_actor": parent.actor_id, "parent_task_id": parent.task_id}
        # Durable: whoever is told the task id can find the task in the store at once.
        await self._emit("actor.task.received", payload, task, durable=True)
        return task

    def _queued(self, task: TaskRecord) -> Transition:
        actions: list[Any] = []
        if task.timeout is not None:  # the deadline runs from acceptance, queueing included
            actions.append(GenericTimeout(("task", task.task_id), task.timeout))
        if self.current is None:
            actions.append(NextEvent(_NEXT))
        return KeepState(actions)

    async def _start_next(self) -> Transition:
        while self.queue:
            task = self.queue.popleft()
            if task.state is TaskState.QUEUED:  # not cancelled or timed out while it waited
                self.current = task
                await self._emit("actor.task.started", {"message": task.message}, task)
                return await self._think(task)
        return KeepState()

    async def _think(self, task: TaskRecord) -> Transition:
        """Ask the model what to do next (the budget permitting)."""
        overspent = self.budget.before_model_call(task.usage)
        if overspent is not None:
            await self._emit("proposal.rejected", {"stage": "budget", "reason": overspent}, task)
            return await self._finish(task, TaskState.FAILED, error=overspent)
        guidance = await self._take_guidance()
        request = ModelRequest(
            self.options.system,
            tuple(task.conversation),
            await self._offered_tools(),
            tuple(g.message for g in guidance),
            self.options.max_tokens,
        )
        call_id = _ids.new_call_id()
        await self._emit(
            "llm.started",
            {
                "call_id": call_id,
                "model": self.model.name,
                "provider": self.model.provider,
                "messages": len(request.messages),
                "guidance": [{"pattern": g.pattern, "message": g.message, "mode": g.mode} for g in guidance],
            },
            task,
        )
        pid = current_node().spawn(model_call, self.pid, call_id, self.model, request, link=True)
        self.call = ActiveCall(call_id, pid)
        task.state = TaskState.THINKING
        timeout = self.options.model_timeout
        return NextState(ActorState.THINKING, [GenericTimeout("model", timeout)] if timeout else [])

    async def _offered_tools(self) -> tuple[ToolSchema, ...]:
        """What the model may call: the policy's tools that the runtime has, and the actor
        tools (delegation only if the policy names someone to delegate to)."""
        allowed = self.policy.allowed_tools
        registry = current_node().resolve(TOOL_REGISTRY)
        if ANY in allowed:
            specs = await registry.call(("all",))
        else:
            specs = await lookup(registry, sorted(allowed))
        schemas = tool_schemas([specs[name] for name in sorted(specs)])
        actor_tools = (MESSAGE_ACTOR_SCHEMA,) if self.policy.messages_anyone else ()
        return (*schemas, *actor_tools, REJECT_TASK_SCHEMA)

    async def _take_guidance(self) -> list[Any]:
        """The vitals' pending guidance for this agent, for the next model call."""
        if self.session is None:
            return []
        try:
            return await self.session.take_guidance()
        except (NoProc, ProcessDied):
            return []

    # -- a model answered ---------------------------------------------------------------------

    async def _heard(self, task: TaskRecord, response: ModelResponse) -> Transition:
        call = self.call
        assert call is not None
        self.call = None
        self._proc.unlink(call.pid)
        task.spent_on_call(response)
        await self._emit(
            "llm.succeeded",
            {
                "call_id": call.call_id,
                "model": response.model or self.model.name,
                "provider": self.model.provider,
                "usage": _usage_json(response),
                "cost_usd": response.cost,
                "duration_ms": (time.perf_counter() - call.started) * 1000,
                "text": response.text,
                "stop_reason": response.stop_reason.value,
                "tool_uses": [{"id": u.id, "name": u.name} for u in response.tool_uses],
            },
            task,
        )
        task.heard(response)
        actions: list[Any] = [CancelTimeout("model")]
        try:
            proposal = read_proposal(response)
            await self._emit("proposal.received", describe_proposal(proposal), task)
            await self._normalize(proposal)
        except InvalidProposal as e:
            # The model's mistake: it hears why, and tries again within its budget.
            await self._emit("proposal.invalid", {"reason": e.reason}, task)
            task.tool_errors(response.tool_uses, f"invalid: {e.reason}")
            return _with(await self._think(task), actions)
        refused = self._check(task, proposal)
        if refused is not None:
            stage, reason = refused
            await self._emit("proposal.rejected", {"stage": stage, "reason": reason}, task)
            return _with(await self._finish(task, TaskState.FAILED, error=reason), actions)
        await self._emit("proposal.approved", {"kind": describe_proposal(proposal)["kind"]}, task)
        return _with(await self._carry_out(task, proposal), actions)

    async def _normalize(self, proposal: Proposal) -> None:
        if isinstance(proposal, RunSteps):
            names = sorted({s.tool for s in proposal.steps})
            normalize(proposal, await lookup(TOOL_REGISTRY, names))
        elif isinstance(proposal, MessageActor):
            if current_node().whereis(actor_name(proposal.actor_id)) is None:
                raise InvalidProposal(f"no actor {proposal.actor_id!r} is running")
            if proposal.actor_id == self.actor_id:
                raise InvalidProposal("an actor cannot delegate to itself")

    def _check(self, task: TaskRecord, proposal: Proposal) -> tuple[str, str] | None:
        """Policy, then budget: (stage, reason) if the proposal may not be carried out."""
        if isinstance(proposal, RunSteps):
            reason = self.policy.check_tools(self.actor_id, [s.tool for s in proposal.steps])
            if reason is not None:
                return "policy", reason
            reason = self.budget.before_steps(task.usage, len(proposal.steps))
            if reason is not None:
                return "budget", reason
        elif isinstance(proposal, MessageActor):
            reason = self.policy.check_message(self.actor_id, proposal.actor_id)
            if reason is not None:
                return "policy", reason
            if proposal.actor_id in task.chain:
                chain = " → ".join((*task.chain, self.actor_id, proposal.actor_id))
                return "policy", f"delegation cycle: {chain}"
        return None

    async def _carry_out(self, task: TaskRecord, proposal: Proposal) -> Transition:
        match proposal:
            case Reply(text=text):
                return await self._finish(task, TaskState.COMPLETED, reply=text)
            case Reject(reason=reason):
                return await self._finish(task, TaskState.REJECTED, error=reason)
            case RunSteps(steps=steps):
                return await self._start_run(task, steps)
            case MessageActor():
                return await self._delegate(task, proposal)

    # -- runs --------------------------------------------------------------------------------

    async def _start_run(self, task: TaskRecord, steps: tuple[Step, ...]) -> Transition:
        session = self.session if self.session is not None else await self._open_session()
        try:
            handle = await session.start_run(
                steps, self.options.run_timeout, task_id=task.task_id, correlation_id=task.correlation_id
            )
        except InvalidRun as e:  # after normalization: a tool vanished meanwhile
            task.tool_errors(tuple(uses_of(steps)), f"invalid: {e}")
            return await self._think(task)
        except (Overloaded, StoreWriteError) as e:  # refused, nothing started: task data too
            task.tool_errors(tuple(uses_of(steps)), f"not started: {e}")
            return await self._think(task)
        task.spent_on_steps(len(steps))
        task.runs.append(handle.run_id)
        task.state = TaskState.RUNNING
        waiter = current_node().spawn(await_run, self.pid, handle, link=True)
        self.run = ActiveRun(handle, steps, waiter)
        return NextState(ActorState.RUNNING)

    async def _run_done(self, task: TaskRecord, result: RunResult) -> Transition:
        run = self.run
        assert run is not None
        self.run = None
        self._proc.unlink(run.waiter)
        if task.stopping is not None:
            outcome, why = task.stopping
            return await self._finish(task, outcome, error=why)
        task.run_finished(run.steps, result)
        return await self._think(task)  # the results go back into the conversation

    # -- delegation --------------------------------------------------------------------------

    async def _delegate(self, task: TaskRecord, proposal: MessageActor) -> Transition:
        target = current_node().whereis(actor_name(proposal.actor_id))
        if target is None:  # it stopped between normalization and now
            task.tool_answer(proposal.tool_use_id, f"no actor {proposal.actor_id!r} is running", True)
            return await self._think(task)
        if proposal.actor_id not in self.trusted:
            # A struggling delegate raises its delegator's effective pressure.
            self.trusted.add(proposal.actor_id)
            await self.rt.vitals.add_trust_edge(
                proposal.actor_id, self.actor_id, self.options.delegation_trust
            )
        ref = self._proc.monitor(target)
        parent = Parent(self.actor_id, self.pid, task.task_id)
        child_task_id = _ids.new_task_id()
        await self._emit(
            "actor.message.sent",
            {"to_actor": proposal.actor_id, "message": proposal.message, "child_task_id": child_task_id},
            task,
        )
        await target.send(
            Delegate(
                child_task_id, proposal.message, task.correlation_id, parent, (*task.chain, self.actor_id)
            )
        )
        self.delegation = ActiveDelegation(
            proposal.actor_id, target, ref, proposal.tool_use_id, child_task_id
        )
        task.state = TaskState.DELEGATING
        return NextState(ActorState.DELEGATING)

    async def _delegate_answered(self, task: TaskRecord, answer: DelegateReply) -> Transition:
        delegation = self.delegation
        assert delegation is not None
        self.delegation = None
        self._proc.demonitor(delegation.ref)
        result = answer.result
        if result.state is TaskState.COMPLETED:
            task.tool_answer(delegation.tool_use_id, result.reply or "")
        else:
            task.tool_answer(delegation.tool_use_id, f"{result.state.value}: {result.error}", True)
        return await self._think(task)

    # -- cancel, timeout, crashes ------------------------------------------------------------

    async def _cancel(self, task_id: str, caller: Call | None) -> Transition | None:
        task = self.tasks.get(task_id)
        if task is None:
            if caller is not None:
                caller.reply(None)
            return None
        if caller is not None:
            task.waiters.append(caller)  # answered once the task is terminal
        if task.state.terminal:
            self._answer_waiters(task)
            return None
        return await self._stop_task(task_id, TaskState.CANCELLED, "cancelled")

    async def _stop_task(self, task_id: str, outcome: TaskState, why: str) -> Transition | None:
        """Cancel or timeout: stop whatever the task has in flight, then end it."""
        task = self.tasks.get(task_id)
        if task is None or task.state.terminal or task.stopping is not None:
            return None
        if task is not self.current:  # still queued: nothing runs yet
            return await self._finish(task, outcome, error=why)
        if self.call is not None:
            # The call itself did not time out (that is ``llm.timeout``): the task ended under it.
            await self._stop_call("llm.cancelled", {"reason": why})
            return _with(await self._finish(task, outcome, error=why), [CancelTimeout("model")])
        if self.run is not None:
            # The run stops its tool (killing an OS process if need be) and reports back; the
            # task ends when it has — never with a tool still running behind it.
            task.stopping = (outcome, why)
            current_node().spawn(cancel_run, self.run.handle)
            return None
        if self.delegation is not None:
            delegation, self.delegation = self.delegation, None
            self._proc.demonitor(delegation.ref)
            delegation.pid.send_nowait(CancelTask(delegation.child_task_id))
        return await self._finish(task, outcome, error=why)

    async def _stop_call(self, event_type: str, payload: dict[str, Any]) -> None:
        """Stop the model call in flight and wait until its task has finished (its HTTP
        request closed), bounded by ``cancel_grace``."""
        call, self.call = self.call, None
        if call is None:
            return
        self._proc.unlink(call.pid)
        node = current_node()
        await shutdown_process(call.pid.process, Shutdown("cancelled"), self.options.cancel_grace, node.clock)
        task = self.current
        await self._emit(
            event_type,
            {
                "call_id": call.call_id,
                "model": self.model.name,
                "provider": self.model.provider,
                "duration_ms": (time.perf_counter() - call.started) * 1000,
                **payload,
            },
            task,
        )

    async def _worker_exited(self, pid: Pid, reason: ExitReason) -> Transition | None:
        task = self.current
        if task is None or reason is NORMAL:
            return None
        if self.call is not None and pid == self.call.pid:
            call, self.call = self.call, None
            task.spent_on_call(None)
            error = reason if isinstance(reason, ModelError) else None
            await self._emit(
                "llm.failed",
                {
                    "call_id": call.call_id,
                    "model": self.model.name,
                    "provider": self.model.provider,
                    "duration_ms": (time.perf_counter() - call.started) * 1000,
                    "error": describe(reason),
                    "kind": None if error is None else error.kind.value,
                    "status": None if error is None else error.status,
                },
                task,
            )
            why = f"model call failed: {describe(reason)}"
            return _with(await self._finish(task, TaskState.FAILED, error=why), [CancelTimeout("model")])
        if self.run is not None and pid == self.run.waiter:
            # The waiter died without a result (it should not): the run's outcome is in the
            # store; treat the run as failed and let the model hear it.
            run, self.run = self.run, None
            failed = RunResult(
                run.handle.run_id, RunState.FAILED, {}, f"run waiter exited: {describe(reason)}"
            )
            if task.stopping is not None:
                return await self._finish(task, task.stopping[0], error=task.stopping[1])
            task.run_finished(run.steps, failed)
            return await self._think(task)
        return None

    # -- the end of a task ---------------------------------------------------------------------

    async def _finish(
        self, task: TaskRecord, outcome: TaskState, *, reply: str | None = None, error: str | None = None
    ) -> Transition:
        task.state, task.reply, task.error = outcome, reply, error
        payload: dict[str, Any] = {"usage": task.usage.to_json(), "runs": list(task.runs)}
        if reply is not None:
            payload["reply"] = reply
        if error is not None:
            payload["error"] = error
        # Durable before anyone hears the result: the store is the source of truth.
        await self._emit(f"actor.task.{outcome.value}", payload, task, durable=True)
        if task.parent is not None:
            task.parent.pid.send_nowait(DelegateReply(task.parent.task_id, task.result()))
        self._answer_waiters(task)
        self.tasks.finished()
        actions: list[Any] = [CancelTimeout(("task", task.task_id))]
        if task is not self.current:
            return KeepState(actions)  # a queued task ended; the current one goes on
        self.current = None
        if self.queue:
            actions.append(NextEvent(_NEXT))
        return NextState(ActorState.IDLE, actions)

    def _answer_waiters(self, task: TaskRecord) -> None:
        result = task.result()
        waiters, task.waiters = task.waiters, []
        for caller in waiters:
            caller.reply(result)

    def info(self) -> ActorInfo:
        current = self.current
        return ActorInfo(
            self.actor_id,
            self.state,
            self.model.name,
            self.session.session_id if self.session is not None else None,
            current.task_id if current is not None else None,
            tuple(t.task_id for t in self.queue if t.state is TaskState.QUEUED),
            tuple(t.status() for t in self.tasks.tasks.values()),
        )

    async def terminate(self, reason: ExitReason, state: Any) -> None:
        # Stopped (or crashed) with work in hand: nothing may keep running behind the actor,
        # and every unfinished task gets its terminal event.
        why = f"actor stopped: {describe(reason)}"
        if self.call is not None:
            await self._stop_call("llm.cancelled", {"reason": why})
        if self.run is not None:
            await self.run.handle.cancel()
        for task in [t for t in self.tasks.live()]:
            task.stopping = None
            if task is self.current:
                self.current = None
            await self._finish(task, TaskState.CANCELLED, error=why)
        await self._emit("actor.stopped", {"reason": describe(reason)}, durable=True)
        if self.session is not None:
            await self.session.stop()

    # -- events ------------------------------------------------------------------------------

    async def _emit(
        self, type: str, payload: dict[str, Any], task: TaskRecord | None = None, durable: bool = False
    ) -> None:
        events = self.rt.events
        write = events.append if durable else events.emit
        await write(
            type,
            payload,
            session_id=self.session.session_id if self.session is not None else None,
            agent_id=self.actor_id,
            task_id=task.task_id if task is not None else None,
            correlation_id=task.correlation_id if task is not None else None,
        )


def _with(transition: Transition, actions: list[Any]) -> Transition:
    """``transition`` with ``actions`` run first."""
    if isinstance(transition, NextState):
        return NextState(transition.state, [*actions, *transition.actions])
    if isinstance(transition, KeepState):
        return KeepState([*actions, *transition.actions])
    return transition


def _usage_json(response: ModelResponse) -> dict[str, int]:
    u = response.usage
    return {
        "input_tokens": u.input_tokens,
        "output_tokens": u.output_tokens,
        "cache_read_tokens": u.cache_read_tokens,
        "cache_write_tokens": u.cache_write_tokens,
    }


async def start_link(
    actor_id: str, rt: Runtime, model: Model, policy: Policy, budget: Budget, options: ActorOptions
) -> Pid | None:
    """The actor supervisor's start function: registered as ``soma.actor.<actor_id>``, so
    handles find the actor again after a restart."""
    return await AgentActor.start_link(
        actor_id, rt, model, policy, budget, options, name=actor_name(actor_id)
    )
