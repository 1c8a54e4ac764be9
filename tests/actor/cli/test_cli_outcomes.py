"""``soma lessons`` and ``soma outcomes`` on a database a real runtime wrote: a command tool
that fails, is fixed, and fails alike again brings its lesson back as guidance."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from _cli import soma_all

from soma_runtime import CommandTool, Runtime, Step
from soma_runtime.vitals import VitalsConfig

pytestmark = pytest.mark.anyio

# Fails like a missing module unless called with --fixed (the fix: another argument).
SCRIPT = (
    "import sys; flag = sys.argv[1]; "
    "sys.exit(0) if flag == '--fixed' else "
    "sys.exit(f\"ModuleNotFoundError: No module named 'parsers' ({flag})\")"
)
compile_tool = CommandTool("compile", [sys.executable, "-c", SCRIPT, "{flag}"], effect="state")


async def test_a_fixed_error_becomes_a_lesson_that_comes_back_as_guidance(tmp_path: Path) -> None:
    db = tmp_path / "soma.db"
    async with Runtime.open(db=db, tools=[compile_tool], vitals=VitalsConfig(ab=["lesson"])) as rt:
        session = await rt.start_session("builder", intent="make the build pass")
        for flag in ("--plain", "--verbose", "--fixed"):
            await (await session.start_run([Step("c", "compile", {"flag": flag})])).result()
        await rt.vitals.caught_up()
        [recorded] = await rt.events.query(type="lesson.recorded")
        assert recorded.agent_id == "builder" and recorded.payload["tool"] == "compile"
        assert "No module named 'parsers' (--verbose)" in recorded.payload["error"]
        assert recorded.payload["fix"] == {"changed": {"flag": ["--verbose", "--fixed"]}}
        assert recorded.payload["failures"] == 2
        # Much later, a similar error: the lesson comes back, as a firing of the ``lesson`` pattern.
        for flag in ("--quiet", "--debug"):
            await (await session.start_run([Step("c", "compile", {"flag": flag})])).result()
        await rt.vitals.caught_up()
        recalled = await rt.events.query(type="lesson.recalled")
        assert recalled and recalled[0].payload["lesson_id"] == recorded.payload["lesson_id"]
        assert recalled[0].payload["similarity"] >= VitalsConfig().lesson_similarity
        [firing] = [
            e
            for e in await rt.events.query(type="guidance.fired")
            if e.payload["firing_id"] == recalled[0].payload["firing_id"]
        ]
        assert firing.payload["pattern"] == "lesson" and firing.payload["arm"] in ("treatment", "control")
        assert "--fixed" in firing.payload["message"] and "compile" in firing.payload["message"]

    listed, as_json, other, outcomes, outcomes_json, audit = soma_all(
        ["lessons", "--db", str(db)],
        ["lessons", "--db", str(db), "--agent", "builder", "--json"],
        ["lessons", "--db", str(db), "--agent", "nobody"],
        ["outcomes", "--db", str(db)],
        ["outcomes", "--db", str(db), "--json", "--horizon", "1"],
        ["export", "--db", str(db), "--type", "guidance.*,tool.blocked,lesson.*"],
    )
    assert listed.code == 0 and "tool compile" in listed.out and "recalled 1×" in listed.out
    assert '"--fixed"' in listed.out
    [row] = [json.loads(line) for line in as_json.out.splitlines()]
    assert row["lesson_id"] == recorded.payload["lesson_id"] and row["recalled"] == 1
    assert other.code == 0 and "no lessons" in other.out
    assert outcomes.code == 0, outcomes.err
    assert "lesson  → COLLECTING" in outcomes.out
    document = json.loads(outcomes_json.out)
    assert document["horizon"] == 1 and document["excluded_sources"] == ["replay", "test"]
    verdicts = {p["pattern"]: p["verdict"] for p in document["patterns"]}
    assert verdicts["lesson"] == "collecting"
    assert verdicts.get("bash_error_streak") in (None, "descriptive")
    # The audit trail: every firing (with its arm), delivery, outcome and lesson, and who recorded it.
    trail = [json.loads(line) for line in audit.out.splitlines()]
    kinds = {e["type"] for e in trail}
    assert {"guidance.fired", "guidance.outcome", "lesson.recorded", "lesson.recalled"} <= kinds
    assert all(k.startswith(("guidance.", "lesson.")) or k == "tool.blocked" for k in kinds)
    assert {e["source"] for e in trail} == {"runtime"}


def test_outcomes_of_a_missing_database_is_a_clear_error(tmp_path: Path) -> None:
    [result] = soma_all(["outcomes", "--db", str(tmp_path / "none.db")])
    assert result.code == 1 and "no database at" in result.err
