"""The Supervisor against a small reference model (hypothesis stateful testing).

Random sequences of child crashes, orderly exits, kills, ``terminate_child``,
``restart_child``, ``delete_child``, ``start_child`` and clock advances are driven into a real
``Supervisor`` running on a ``VirtualClock``, in an event loop on another thread (an anyio
blocking portal). After every step the live supervisor is compared with a pure-Python model
of OTP's rules:

* which children exist (in start order) and which are running; temporary specs removed;
* whose pid changed — exactly the children the strategy restarts (one_for_one: the failed
  one; one_for_all: every non-temporary child, stopped ones included, as OTP's
  ``restart_multiple_children`` does; rest_for_one: the failed one and those after it);
* when the supervisor gives up: more than ``intensity`` restarts within ``period`` seconds
  (OTP keeps restarts at most ``period`` old: ``R >= Now - Period``) — then it is dead with
  reason ``shutdown`` and so is every child it ever had;
* the typed errors of the admin API.
"""

from __future__ import annotations

import asyncio
import contextvars
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest
from anyio.from_thread import start_blocking_portal
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, precondition, rule

from soma_runtime.kernel import (
    KILLED,
    NORMAL,
    PERMANENT,
    SHUTDOWN,
    TEMPORARY,
    TRANSIENT,
    AlreadyPresent,
    AlreadyStarted,
    ChildInfo,
    ChildNotFound,
    ChildRunning,
    ChildSpec,
    GenServer,
    Node,
    Pid,
    Restart,
    Shutdown,
    Stop,
    Strategy,
    Supervisor,
    SupervisorError,
    VirtualClock,
    is_orderly,
    settle,
)

T = TypeVar("T")


class Crash(Exception):
    pass


class Child(GenServer):
    async def handle_cast(self, message: Any) -> None:
        match message:
            case "crash":
                raise Crash("model crash")
            case ("stop", reason):
                raise Stop(reason)


def spec(child_id: str, restart: Restart) -> ChildSpec:
    return ChildSpec(child_id, Child.start_link, restart=restart)


# -- the reference model ---------------------------------------------------------------------


@dataclass
class ModelChild:
    id: str
    restart: Restart
    running: bool = True


class Model:
    """OTP's supervisor rules, for children whose starts always succeed."""

    def __init__(self, strategy: Strategy, intensity: int, period: float, children: list[ModelChild]) -> None:
        self.strategy = strategy
        self.intensity = intensity
        self.period = period
        self.children = children
        self.restarts: list[float] = []
        self.alive = True

    def find(self, child_id: str) -> ModelChild | None:
        return next((c for c in self.children if c.id == child_id), None)

    def exited(self, child: ModelChild, reason: Any, now: float) -> set[str]:
        """A running child exited on its own; returns the ids that got a new pid."""
        child.running = False
        if child.restart is PERMANENT or (child.restart is TRANSIENT and not is_orderly(reason)):
            return self._restart(child, now)
        if child.restart is TEMPORARY:
            self.children.remove(child)
        return set()

    def _restart(self, child: ModelChild, now: float) -> set[str]:
        self.restarts = [t for t in self.restarts if t >= now - self.period] + [now]
        if len(self.restarts) > self.intensity:
            self.alive = False  # gives up: every child stopped, supervisor exits shutdown
            for c in self.children:
                c.running = False
            return set()
        if self.strategy is Strategy.ONE_FOR_ONE:
            group = [child]
        elif self.strategy is Strategy.ONE_FOR_ALL:
            group = list(self.children)
        else:
            group = self.children[self.children.index(child) :]
        for member in group:
            if member is not child and member.restart is TEMPORARY:
                self.children.remove(member)  # temporary bystanders are not restarted
        restarted = [m for m in group if m is child or m.restart is not TEMPORARY]
        for member in restarted:
            member.running = True
        return {m.id for m in restarted}

    def terminate_child(self, child_id: str) -> type[SupervisorError] | None:
        child = self.find(child_id)
        if child is None:
            return ChildNotFound
        child.running = False
        if child.restart is TEMPORARY:
            self.children.remove(child)
        return None

    def restart_child(self, child_id: str) -> type[SupervisorError] | None:
        child = self.find(child_id)
        if child is None:
            return ChildNotFound
        if child.running:
            return ChildRunning
        child.running = True
        return None

    def delete_child(self, child_id: str) -> type[SupervisorError] | None:
        child = self.find(child_id)
        if child is None:
            return ChildNotFound
        if child.running:
            return ChildRunning
        self.children.remove(child)
        return None

    def start_child(self, child_id: str, restart: Restart) -> type[SupervisorError] | None:
        child = self.find(child_id)
        if child is not None:
            return AlreadyStarted if child.running else AlreadyPresent
        self.children.append(ModelChild(child_id, restart))
        return None


# -- the real system, on a loop in another thread --------------------------------------------


class Harness:
    """A blocking portal (an asyncio loop on a thread) with one Node open on a VirtualClock."""

    def __init__(self) -> None:
        self.clock = VirtualClock()
        self._portal_cm = start_blocking_portal(backend="asyncio")
        self.portal = self._portal_cm.__enter__()
        try:
            self._node_cm = self.portal.wrap_async_context_manager(self._open())
            self.node, self._context = self._node_cm.__enter__()
        except BaseException:
            self._portal_cm.__exit__(None, None, None)
            raise

    @asynccontextmanager
    async def _open(self) -> AsyncIterator[tuple[Node, contextvars.Context]]:
        async with Node.open(self.clock) as node:
            # The node is found through a context variable: run every step in this context.
            yield node, contextvars.copy_context()

    def run(self, fn: Callable[[], Awaitable[T]]) -> T:
        """Run ``fn()`` on the loop, inside the node's context, and wait for its result."""

        async def in_node() -> T:
            async def step() -> T:
                return await fn()

            loop = asyncio.get_running_loop()
            return await loop.create_task(step(), context=self._context.copy())

        return self.portal.call(in_node)

    def close(self) -> None:
        try:
            self._node_cm.__exit__(None, None, None)
        finally:
            self._portal_cm.__exit__(None, None, None)


EXITS: dict[str, Any] = {"normal": NORMAL, "shutdown": SHUTDOWN, "shutdown(info)": Shutdown("info")}


class SupervisorMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.h = Harness()
        self.model: Model | None = None
        self.sup: Pid | None = None
        self.pids: dict[str, Pid | None] = {}
        self.every_pid: list[Pid] = []
        self.ids_used: list[str] = []
        self.fresh = itertools.count()
        self.infos: list[ChildInfo] | None = None

    # -- helpers ---------------------------------------------------------------------------

    @property
    def m(self) -> Model:
        assert self.model is not None
        return self.model

    @property
    def alive(self) -> bool:
        return self.model is not None and self.model.alive

    def running_ids(self) -> list[str]:
        return [c.id for c in self.m.children if c.running]

    async def _snapshot(self) -> list[ChildInfo] | None:
        await settle()
        assert self.sup is not None
        if not self.sup.is_alive():
            return None
        children = await Supervisor.which_children(self.sup)
        counts = await Supervisor.count_children(self.sup)
        assert counts.specs == counts.workers == len(children)
        assert counts.active == sum(isinstance(c.pid, Pid) for c in children)
        return children

    def step(self, act: Callable[[], Awaitable[T]]) -> T:
        """Run one action on the loop, let the system settle and take a snapshot of the
        supervisor, all in one round trip (kept for ``check``); returns the action's result."""

        async def act_then_snapshot() -> tuple[T, list[ChildInfo] | None]:
            result = await act()
            return result, await self._snapshot()

        result, self.infos = self.h.run(act_then_snapshot)
        return result

    def check(self, changed: set[str]) -> None:
        """Compare the last snapshot with the model; ``changed``: ids with a new pid."""
        infos = self.infos
        assert self.sup is not None
        if not self.m.alive:
            assert infos is None, "the supervisor should have given up (intensity)"
            assert self.sup.exit_reason == SHUTDOWN
            assert not any(p.is_alive() for p in self.every_pid)
            return
        assert infos is not None, f"supervisor died unexpectedly: {self.sup.exit_reason!r}"
        assert [i.id for i in infos] == [c.id for c in self.m.children]
        pids: dict[str, Pid | None] = {}
        for info, child in zip(infos, self.m.children, strict=True):
            pid = info.pid
            if child.running:
                assert isinstance(pid, Pid) and pid.is_alive(), (child.id, pid)
            else:
                assert pid is None, (child.id, pid)
            old = self.pids.get(child.id)
            if child.id in changed:
                assert pid is not None and pid is not old, f"{child.id} should have restarted"
            elif child.running:
                assert pid is old, f"{child.id} should have kept its pid"
            assert isinstance(pid, Pid) or pid is None
            pids[child.id] = pid
        live = {p for p in pids.values() if p is not None}
        for p in self.every_pid:
            if p not in live:
                assert not p.is_alive(), f"{p} outlived its place in the supervisor"
        self.every_pid.extend(p for p in live if p not in self.every_pid)
        self.pids = pids

    async def _admin(self, call: Callable[[], Awaitable[Any]]) -> type[SupervisorError] | None:
        try:
            await call()
        except SupervisorError as e:
            return type(e)
        return None

    # -- rules ------------------------------------------------------------------------------

    @initialize(
        strategy=st.sampled_from(list(Strategy)),
        intensity=st.sampled_from([0, 1, 3]),
        period=st.sampled_from([5.0, 10.0]),
        restarts=st.lists(st.sampled_from(list(Restart)), min_size=1, max_size=5),
    )
    def start_supervisor(
        self, strategy: Strategy, intensity: int, period: float, restarts: list[Restart]
    ) -> None:
        children = [ModelChild(f"c{i}", r) for i, r in enumerate(restarts)]
        self.ids_used = [c.id for c in children]
        specs = [spec(c.id, c.restart) for c in children]
        self.model = Model(strategy, intensity, period, children)

        async def start() -> None:
            self.sup = await Supervisor.start_link(
                specs, strategy=strategy, intensity=intensity, period=period
            )

        self.step(start)
        self.check({c.id for c in children})

    def _exit(self, data: st.DataObject, how: str) -> None:
        child_id = data.draw(st.sampled_from(self.running_ids()), label="child")
        pid = self.pids[child_id]
        assert pid is not None

        async def act() -> None:
            if how == "kill":
                pid.kill()
            elif how == "crash":
                await pid.cast("crash")
            else:
                await pid.cast(("stop", EXITS[how]))

        self.step(act)
        reason = pid.exit_reason
        if how == "crash":
            assert isinstance(reason, Crash)
        elif how == "kill":
            assert reason is KILLED
        else:
            assert reason == EXITS[how]
        child = self.m.find(child_id)
        assert child is not None
        changed = self.m.exited(child, reason, self.h.clock.now())
        self.check(changed)

    @precondition(lambda self: self.alive and any(c.running for c in self.m.children))
    @rule(data=st.data(), how=st.sampled_from(["crash", "kill"]))
    def child_fails(self, data: st.DataObject, how: str) -> None:
        self._exit(data, how)

    @precondition(lambda self: self.alive and any(c.running for c in self.m.children))
    @rule(data=st.data(), how=st.sampled_from(["normal", "shutdown", "shutdown(info)"]))
    def child_exits_orderly(self, data: st.DataObject, how: str) -> None:
        self._exit(data, how)

    def _pick_id(self, data: st.DataObject) -> str:
        return data.draw(st.sampled_from([*self.ids_used, "unknown"]), label="id")

    @precondition(lambda self: self.alive)
    @rule(data=st.data())
    def terminate_child(self, data: st.DataObject) -> None:
        child_id = self._pick_id(data)
        sup = self.sup
        assert sup is not None
        got = self.step(lambda: self._admin(lambda: Supervisor.terminate_child(sup, child_id)))
        assert got is self.m.terminate_child(child_id)
        self.check(set())

    @precondition(lambda self: self.alive)
    @rule(data=st.data())
    def restart_child(self, data: st.DataObject) -> None:
        child_id = self._pick_id(data)
        sup = self.sup
        assert sup is not None
        got = self.step(lambda: self._admin(lambda: Supervisor.restart_child(sup, child_id)))
        expected = self.m.restart_child(child_id)
        assert got is expected
        self.check({child_id} if expected is None else set())

    @precondition(lambda self: self.alive)
    @rule(data=st.data())
    def delete_child(self, data: st.DataObject) -> None:
        child_id = self._pick_id(data)
        sup = self.sup
        assert sup is not None
        got = self.step(lambda: self._admin(lambda: Supervisor.delete_child(sup, child_id)))
        assert got is self.m.delete_child(child_id)
        self.check(set())

    @precondition(lambda self: self.alive)
    @rule(data=st.data(), restart=st.sampled_from(list(Restart)), fresh=st.booleans())
    def start_child(self, data: st.DataObject, restart: Restart, fresh: bool) -> None:
        if fresh or not self.m.children:
            child_id = f"n{next(self.fresh)}"
        else:
            child_id = data.draw(st.sampled_from([c.id for c in self.m.children]), label="id")
        if child_id not in self.ids_used:
            self.ids_used.append(child_id)
        sup = self.sup
        assert sup is not None
        new = spec(child_id, restart)
        got = self.step(lambda: self._admin(lambda: Supervisor.start_child(sup, new)))
        expected = self.m.start_child(child_id, restart)
        assert got is expected
        self.check({child_id} if expected is None else set())

    @rule(dt=st.sampled_from([0.5, 1.0, 2.5, 5.0, 10.0, 11.0]))
    def advance_clock(self, dt: float) -> None:
        self.step(lambda: self.h.clock.advance(dt))
        self.check(set())

    def teardown(self) -> None:
        node = self.h.node
        self.h.close()
        # After the Node closes, nothing it ran is alive.
        assert node.tasks() == set()
        assert not any(p.is_alive() for p in self.every_pid)
        assert self.sup is None or not self.sup.is_alive()


SupervisorMachine.TestCase.settings = settings(
    max_examples=150,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestSupervisorModel = SupervisorMachine.TestCase


# -- minimal cases the model found -----------------------------------------------------------


@pytest.mark.anyio
async def test_intensity_window_counts_a_restart_exactly_period_seconds_old() -> None:
    """Intensity: more than `intensity` restarts within `period` seconds stops the supervisor;
    as in OTP (restarts kept while ``R >= Now - Period``), a restart exactly `period` seconds
    old still counts. (Found by the model: crash, advance 5.0, crash, intensity 1 in 5 s.)"""
    clock = VirtualClock()
    async with Node.open(clock):
        sup = await Supervisor.start_link([spec("a", PERMANENT)], intensity=1, period=5.0)
        (first,) = await Supervisor.which_children(sup)
        assert isinstance(first.pid, Pid)
        await first.pid.cast("crash")  # t = 0: restart 1
        await settle()
        await clock.advance(5.0)
        (second,) = await Supervisor.which_children(sup)
        assert isinstance(second.pid, Pid) and second.pid is not first.pid
        await second.pid.cast("crash")  # t = 5: restart 2, the one at t = 0 still counts
        await settle()
        assert sup.exit_reason == SHUTDOWN
        assert not second.pid.is_alive()
