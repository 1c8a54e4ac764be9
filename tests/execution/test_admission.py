"""Admission: a session holds at most ``max_live_runs`` live runs, one more is refused at once
with ``Overloaded`` (issue 14, breakage 5); a live session id is unique (breakage 8).

Before: 50 submitters on one session had 745 runs/s accepted without bound (RSS 41 → 575 MB)
and ``session.stop()`` then took 34 s; ``start_session(session_id=X)`` for a live X started a
second session with the same id.
"""

from __future__ import annotations

import anyio
import pytest

from soma_runtime import Overloaded, RunHandle, RunState, Runtime, SessionExists, Step
from soma_runtime.execution.session import DEFAULT_MAX_LIVE_RUNS

pytestmark = pytest.mark.anyio


async def test_one_run_over_max_live_runs_is_overloaded_at_once_under_any_submit_rate() -> None:
    limit = 40
    async with Runtime.open(vitals=False) as rt:
        session = await rt.start_session("a", max_live_runs=limit)
        accepted: list[RunHandle] = []
        refused: list[Overloaded] = []

        async def submitter() -> None:
            for _ in range(10):
                try:
                    accepted.append(await session.start_run([Step("s1", "sleep", {"seconds": 60})]))
                except Overloaded as exc:
                    refused.append(exc)

        async with anyio.create_task_group() as tg:
            for _ in range(50):  # 500 submissions at once
                tg.start_soon(submitter)
        assert len(accepted) == limit and len(refused) == 500 - limit
        assert refused[0].limit == limit and refused[0].session_id == session.session_id
        # Nothing was written for a refused run.
        assert len(await rt.events.query(type="run.accepted")) == limit
        live = (await session.status()).live_runs
        assert len(live) == limit
        # One ends: one more is admitted.
        await accepted[0].cancel()
        extra = await session.start_run([Step("s1", "echo", {"value": 1})])
        assert (await extra.result()).state is RunState.COMPLETED
        with anyio.fail_after(10):  # bounded work to stop: the live runs, no backlog
            await session.stop()
        assert not session.pid.is_alive()


async def test_the_default_limit_and_bad_limits() -> None:
    assert DEFAULT_MAX_LIVE_RUNS == 1000
    async with Runtime.open(vitals=False) as rt:
        for bad in (0, -1, 1.5, True):
            with pytest.raises(ValueError, match="max_live_runs"):
                await rt.start_session("a", max_live_runs=bad)  # type: ignore[arg-type]


async def test_a_live_session_id_is_unique_and_free_again_once_it_stopped() -> None:
    async with Runtime.open(vitals=False) as rt:
        first = await rt.start_session("a", session_id="sess-x")
        with pytest.raises(SessionExists) as exists:
            await rt.start_session("b", session_id="sess-x")
        assert exists.value.session_id == "sess-x"
        starts = await rt.events.query(type="session.started", session_id="sess-x")
        assert len(starts) == 1, "the duplicate wrote nothing"
        assert first.pid.is_alive()
        await first.stop()
        again = await rt.start_session("b", session_id="sess-x")
        assert again.pid.is_alive() and again.pid != first.pid
