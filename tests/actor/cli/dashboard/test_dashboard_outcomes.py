"""The dashboard's outcomes tab (``4``): per pattern, what ``soma outcomes`` says — its verdict,
n per arm, each arm's recovery rate with its Wilson interval and Fisher's p; a test's or a
replay's outcomes stay out."""

from __future__ import annotations

from pathlib import Path

import pytest
from _dashboard_helpers import shown

from soma_actor.cli.dashboard import SomaDashboard
from soma_actor.cli.dashboard.panels import OutcomesTable
from soma_runtime.store.events import EventDraft
from soma_runtime.store.log import open_event_log
from soma_runtime.vitals.report import fisher

pytestmark = pytest.mark.anyio


def firing_and_outcome(
    pattern: str, i: int, arm: str | None, recovered: bool, source: str
) -> list[EventDraft]:
    firing_id = f"gf-{pattern}-{i}"
    fired = {"firing_id": firing_id, "message": "m", "pattern": pattern, "arm": arm}
    outcome = {
        "firing_id": firing_id,
        "pattern": pattern,
        "arm": arm,
        "horizon": 5,
        "censored": False,
        "pressure_at_firing": 0.4,
        "pressure": 0.1 if recovered else 0.5,
        "pressure_change": -0.3 if recovered else 0.1,
        "error": not recovered,
        "recovered": recovered,
    }
    ids = {"agent_id": f"agent-{i}", "source": source}
    return [EventDraft("guidance.fired", fired, **ids), EventDraft("guidance.outcome", outcome, **ids)]


async def test_the_outcomes_tab_shows_each_patterns_verdict(tmp_path: Path) -> None:
    db = tmp_path / "soma.db"
    drafts: list[EventDraft] = []
    for i in range(40):  # 20 treated (16 recover), 20 control (4 recover): still collecting
        arm = "treatment" if i % 2 else "control"
        drafts += firing_and_outcome(
            "bash_retry", i, arm, (i % 10 < 8) if arm == "treatment" else i % 10 < 2, "runtime"
        )
    for i in range(70):  # 35 a side: 30 of 35 recover with guidance, 8 of 35 without
        arm = "treatment" if i % 2 else "control"
        k = i // 2
        drafts += firing_and_outcome("error_cascade", i, arm, k < 30 if arm == "treatment" else k < 8, "hook")
    for i in range(6):
        drafts += firing_and_outcome("budget", i, None, i < 3, "wrap")
        drafts += firing_and_outcome("blind_edit", i, "control", False, "test")  # a test's: left out
    async with open_event_log(db) as log:
        await log.append_many(drafts)
    app = SomaDashboard(db=str(db), interval=60.0)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("4")
        text = await shown(pilot, "4 Outcomes", "error_cascade", "helps", "collecting", "descriptive")
        table = app.main.query_one(OutcomesTable)
        assert table.row_count == 3 and "blind_edit" not in text
        rows = {table.get_row_at(i)[0]: tuple(table.get_row_at(i)) for i in range(table.row_count)}
        assert rows["error_cascade"][1:3] == ("helps", "35/35")
        assert rows["error_cascade"][3].startswith("0.86 [") and rows["error_cascade"][4].startswith("0.23 [")
        assert rows["error_cascade"][5] == f"{fisher(30, 35, 8, 35):.3g}"
        assert rows["bash_retry"][1:3] == ("collecting", "20/20")
        assert rows["budget"][1:3] == ("descriptive", "6/-") and rows["budget"][4] == "-"
