"""The payload cap applies to what is stored once, not twice (issue 14, breakage 8).

Before: ``tool.succeeded`` repeated the call's arguments next to its output, so a 600 KB
``echo`` failed at half the 1 MiB cap ("output not recordable"); and a run whose outputs
each fit but together did not could not write ``run.completed`` at all.
"""

from __future__ import annotations

import pytest

from soma_runtime import RunState, Runtime, Step, tool
from soma_runtime.execution.run_records import result_from_store

pytestmark = pytest.mark.anyio

BIG = "x" * 600_000  # over half the cap of 1 MiB, under the cap


@tool
async def produce(size: int) -> str:
    return "y" * size


async def test_a_600_kb_echo_completes_and_its_outcome_does_not_repeat_the_argument() -> None:
    async with Runtime.open(vitals=False) as rt:
        session = await rt.start_session("a")
        run = await session.start_run([Step("s1", "echo", {"value": BIG})])
        result = await run.result()
        assert result.state is RunState.COMPLETED, result.error
        assert result.outputs == {"s1": BIG}
        events = {e.type: e for e in await rt.events.query(run_id=run.run_id)}
        assert events["tool.started"].payload["args"] == {"value": BIG}  # whole, once
        echoed = events["tool.succeeded"].payload["args"]["value"]
        assert echoed.startswith("xxx") and "600000 chars" in echoed and len(echoed) < 300
        assert events["tool.succeeded"].payload["output"] == BIG


async def test_outputs_that_fit_one_by_one_but_not_together_end_the_run_completed() -> None:
    async with Runtime.open(vitals=False, tools=[produce]) as rt:
        session = await rt.start_session("a")
        run = await session.start_run(
            [Step("s1", "produce", {"size": 600_000}), Step("s2", "produce", {"size": 600_000})]
        )
        result = await run.result()
        assert result.state is RunState.COMPLETED, result.error
        [end] = await rt.events.query(run_id=run.run_id, type="run.completed")
        assert end.payload == {"outputs": {}, "outputs_in_steps": True}
        stored = await result_from_store(rt.events, run.run_id)
        assert stored.state is RunState.COMPLETED and stored.outputs == {
            "s1": "y" * 600_000,
            "s2": "y" * 600_000,
        }
