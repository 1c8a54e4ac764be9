"""A live retry storm, through the real runtime: an agent does healthy work towards its
intent, then gets stuck re-running a failing build while its model hedges and its context
grows. The monitor walks it OBSERVE → GUIDE → WARN → BLOCK — guidance reaches its session and
destructive tools are refused — and back to OBSERVE when it recovers. The stored log replays
to the recorded trajectory bit for bit."""

from __future__ import annotations

from pathlib import Path

import pytest

from soma_runtime import CommandTool, RunState, Runtime, Session, Step
from soma_runtime.vitals import Mode, first_divergence, recorded_trajectory, replay

pytestmark = pytest.mark.anyio

INTENT = "Fix the failing build of the parser package so that its test suite passes"
build = CommandTool("build", ["false"], effect="state")  # the storm: this keeps failing
run_tests = CommandTool("run_tests", ["true", "{suite}"], effect="read")  # healthy work passes

HEALTHY = [
    "I will read the parser module to find why the build of the parser package fails.",
    "The build fails in the parser test suite. Running the parser tests to see the failure.",
    "Fixing the tokenizer in the parser package, then running its test suite again.",
]
HEDGING = [
    "The build failed again. Maybe the package mirror is flaky; let me try again.",
    "Hmm, still failing. Perhaps it is a transient network issue, I'm not sure. Trying again.",
    "It probably just needs another attempt. I think the mirror might be down, sorry.",
]


async def model_turn(rt: Runtime, session: Session, text: str, input_tokens: int) -> None:
    """The agent's model call before each tool use (what the agent layer records)."""
    usage = {"input_tokens": input_tokens, "output_tokens": 100}
    payload = {"model": "claude-sonnet-4", "usage": usage, "text": text}
    await rt.events.append("llm.succeeded", payload, session_id=session.session_id, agent_id="coder")


async def healthy(rt: Runtime, session: Session, i: int) -> None:
    await model_turn(rt, session, HEALTHY[i % len(HEALTHY)], 1800 + 60 * (i % 5))
    run = await session.start_run([Step("t", "run_tests", {"suite": f"parser-{i}"})])
    assert (await run.result()).state is RunState.COMPLETED


async def mode_of(rt: Runtime) -> Mode:
    await rt.vitals.caught_up(timeout=10.0)
    return (await rt.vitals.snapshot())["coder"].mode


async def test_a_retry_storm_walks_guide_warn_block_and_back(tmp_path: Path) -> None:
    async with Runtime.open(db=str(tmp_path / "soma.db"), tools=[build, run_tests], root=tmp_path) as rt:
        session = await rt.start_session("coder", intent=INTENT)
        for i in range(30):
            await healthy(rt, session, i)
        assert await mode_of(rt) is Mode.OBSERVE

        walk = [Mode.OBSERVE]
        for attempt in range(12):
            await model_turn(rt, session, HEDGING[attempt % 3], 1800 + 500 * (attempt + 1))
            run = await session.start_run([Step("b", "build")])
            assert (await run.result()).state is RunState.FAILED
            mode = await mode_of(rt)
            if mode is not walk[-1]:
                walk.append(mode)
        assert walk[:4] == [Mode.OBSERVE, Mode.GUIDE, Mode.WARN, Mode.BLOCK], walk
        assert walk[-1] is Mode.BLOCK

        guidance = await session.take_guidance()
        assert {"bash_retry", "bash_error_streak"} <= {g.pattern for g in guidance}
        fired = await rt.events.query(session_id=session.session_id, type="guidance.fired")
        assert {g.firing_id for g in guidance} <= {e.payload["firing_id"] for e in fired}

        write = await session.start_run([Step("w", "file_write", {"path": "notes.txt", "content": "x"})])
        result = await write.result()
        assert result.state is RunState.FAILED and "destructive" in (result.error or "")
        assert not (tmp_path / "notes.txt").exists(), "nothing destructive ran under BLOCK"
        assert await rt.events.query(run_id=write.run_id, type="tool.blocked")

        for i in range(40):  # recovery: the agent compacts its context and works normally
            await healthy(rt, session, i)
            if await mode_of(rt) is Mode.OBSERVE:
                break
        assert await mode_of(rt) is Mode.OBSERVE
        write = await session.start_run([Step("w", "file_write", {"path": "notes.txt", "content": "x"})])
        assert (await write.result()).state is RunState.COMPLETED
        assert (tmp_path / "notes.txt").read_text() == "x"

        # Replay: the stored log through a fresh engine gives the recorded trajectory exactly.
        await rt.vitals.caught_up()
        log = await rt.events.query()
        recorded = recorded_trajectory(log)
        assert len(recorded) > 80
        assert [u.payload() for u in replay(log)] == recorded
        assert first_divergence(log) is None
