"""Nothing the runtime accepts can poison the log (issue 14, breakage 1; docs/design.md §5c).

Before: args nested 199 deep were committed in ``run.accepted`` and could not be read back
(pydantic's parser stops ~254 levels down, the envelope adds two): the vitals monitor
crash-looped until the root supervisor gave up, and every later open died. A NUL in a step
id was accepted, then the run crashed and never ended. Now such input is refused at the API
with ``InvalidRun`` (naming the path and the limit) before anything is written; a payload
the read path could not parse is refused at append; and a row that cannot be decoded
(written by an older Soma, another program) is skipped by every read and reported by seq.
"""

from __future__ import annotations

import math
import sqlite3
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest

from soma_runtime import FromStep, InvalidRun, RunState, Runtime, Step
from soma_runtime.store import InvalidEvent
from soma_runtime.store._limits import MAX_PAYLOAD_DEPTH, MAX_VALUE_DEPTH

pytestmark = pytest.mark.anyio


def nested(depth: int) -> Any:
    value: Any = "bottom"
    for _ in range(depth):
        value = {"a": value}
    return value


async def test_args_nested_past_the_limit_are_refused_and_nothing_is_written(tmp_path: Path) -> None:
    db = tmp_path / "soma.db"
    async with Runtime.open(db) as rt:  # vitals on: the monitor follows every event
        session = await rt.start_session("a")
        before = await rt.events.last_seq()
        with pytest.raises(InvalidRun) as refused:
            await session.start_run([Step("s1", "echo", {"value": nested(199)})])
        assert refused.value.limit == MAX_VALUE_DEPTH
        assert refused.value.step_id == "s1"
        assert refused.value.field is not None and refused.value.field.startswith("args.value.a.a")
        assert await rt.events.last_seq() == before, "a refused run wrote something"
        # The limit itself is accepted, and read back whole (by the run and from the store).
        deepest = nested(MAX_VALUE_DEPTH - 1)
        run = await session.start_run([Step("s1", "echo", {"value": deepest})])
        result = await run.result()
        assert result.state is RunState.COMPLETED and result.outputs["s1"] == deepest
        accepted = await rt.events.query(run_id=run.run_id, type="run.accepted")
        assert accepted[0].payload["steps"][0]["args"]["value"] == deepest
        # The session and the monitor are fine: another session's run completes.
        other = await rt.start_session("b")
        assert (await (await other.start_run([Step("s1", "echo", {"value": 1})])).result()).state is (
            RunState.COMPLETED
        )
        assert rt.root.is_alive()
    async with Runtime.open(db) as rt:  # and the database opens again
        assert await rt.events.query(type="run.completed")
        assert await rt.events.unreadable() == {}


@pytest.mark.parametrize(
    ("step", "field"),
    [
        (Step("a\x00b", "echo", {"value": 1}), "id"),
        (Step("a\ud800", "echo", {"value": 1}), "id"),
        (Step("x" * 2000, "echo", {"value": 1}), "id"),
        (Step("s1", "echo", {"value": "lone \ud800 surrogate"}), "args.value"),
        (Step("s1", "echo", {"value": math.nan}), "args.value"),
        (Step("s1", "echo", {"value": [1, math.inf]}), "args.value[1]"),
        (Step("s1", "echo", {"value": {1: "int key"}}), "args.value"),
        (Step("s1", ["not", "a", "name"], {"value": 1}), "tool"),  # type: ignore[arg-type]
    ],
)
async def test_input_that_cannot_be_journalled_is_refused_before_anything_is_written(
    step: Step, field: str
) -> None:
    async with Runtime.open(vitals=False) as rt:
        session = await rt.start_session("a")
        before = await rt.events.last_seq()
        with pytest.raises(InvalidRun) as refused:
            await session.start_run([step])
        assert refused.value.field == field
        assert await rt.events.last_seq() == before
        # The session serves on.
        ok = await session.start_run([Step("s1", "echo", {"value": 1})])
        assert (await ok.result()).state is RunState.COMPLETED


async def test_ids_that_cannot_be_stored_are_refused_by_start_session() -> None:
    async with Runtime.open(vitals=False) as rt:
        for bad in ({"agent_id": "a\x00"}, {"agent_id": "a", "session_id": "s\x00"}):
            with pytest.raises(ValueError, match="NUL"):
                await rt.start_session(**bad)  # type: ignore[arg-type]
        assert await rt.events.query() == []


async def test_an_output_too_deep_to_journal_fails_its_step_and_the_run_ends() -> None:
    async with Runtime.open(vitals=False) as rt:
        session = await rt.start_session("a")
        # Each step wraps the previous output once more: the third one is over the limit.
        plan = [
            Step("s1", "echo", {"value": nested(MAX_VALUE_DEPTH - 1)}),
            Step("s2", "echo", {"value": {"b": FromStep("s1")}}),
            Step("s3", "echo", {"value": {"c": FromStep("s2")}}),
        ]
        run = await session.start_run(plan)
        result = await run.result()
        assert result.state is RunState.FAILED
        assert "step 's3'" in (result.error or "") and "not recordable" in (result.error or "")
        # The run has its one end, and the whole log reads back.
        ends = await rt.events.query(run_id=run.run_id, type=["run.completed", "run.failed"])
        assert [e.type for e in ends] == ["run.failed"]
        assert await rt.events.unreadable() == {}


async def test_a_payload_the_read_path_could_not_parse_is_refused_at_append() -> None:
    async with Runtime.open(vitals=False) as rt:
        with pytest.raises(InvalidEvent, match=f"limit of {MAX_PAYLOAD_DEPTH}"):
            await rt.events.append("session.started", {"metadata": nested(252)})
        await rt.events.append("session.started", {"metadata": nested(MAX_PAYLOAD_DEPTH - 2)})
        assert len(await rt.events.query()) == 1


def _poison(db: Path, depth: int) -> int:
    """Insert, as an older Soma (or another program) could have, an event nested too deep."""
    payload = '{"output":' + '{"a":' * depth + "1" + "}" * depth + "}"
    with sqlite3.connect(db) as conn:
        seq = conn.execute("SELECT max(seq) + 1 FROM events").fetchone()[0]
        conn.execute(
            "INSERT INTO events (seq, event_id, ts, type, run_id, step_id, payload)"
            " VALUES (?, ?, 0, ?, ?, ?, ?)",
            (seq, "ev-poison", "step.succeeded", "run-old", "s1", payload),
        )
    conn.close()
    return int(seq)


async def test_a_stored_event_that_cannot_be_decoded_is_skipped_by_every_read_and_reported(
    tmp_path: Path,
) -> None:
    db = tmp_path / "soma.db"
    async with Runtime.open(db) as rt:
        session = await rt.start_session("a")
        await (await session.start_run([Step("s1", "echo", {"value": 1})])).result()
    poisoned = _poison(db, 300)
    # Every later open used to die within a second; the monitor follows the log from 0.
    async with Runtime.open(db) as rt:
        session = await rt.start_session("a")
        result = await (await session.start_run([Step("s1", "echo", {"value": 2})])).result()
        assert result.state is RunState.COMPLETED
        everything = await rt.events.query()
        assert poisoned not in {e.seq for e in everything}
        assert {e.seq for e in everything} == set(range(1, everything[-1].seq + 1)) - {poisoned}
        assert list(await rt.events.unreadable()) == [poisoned]
        assert "limit" in (await rt.events.unreadable())[poisoned]
        lines: list[str] = []

        class Sink:
            def write(self, text: str) -> None:
                lines.extend(text.splitlines())

        count = await rt.events.export_jsonl(Sink())
        assert count == len(everything) == len(lines)
    # soma export and soma check read it too: the export has every line, check names the seq.
    with anyio.fail_after(60):
        export = await anyio.run_process([sys.executable, "-m", "soma_actor.cli", "export", "--db", str(db)])
        check = await anyio.run_process(
            [sys.executable, "-m", "soma_actor.cli", "check", "--db", str(db)], check=False
        )
    with sqlite3.connect(db) as conn:
        stored = conn.execute("SELECT count(*) FROM events").fetchone()[0]
    conn.close()
    assert len(export.stdout.decode().splitlines()) == stored  # the poisoned row too, as stored
    assert check.returncode == 1 and f"seq {poisoned}: " in check.stderr.decode()
