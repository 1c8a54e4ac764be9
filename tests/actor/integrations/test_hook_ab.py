"""A/B-tested guidance through Claude Code's hooks (direct writes): a control firing is
recorded and followed up, but never handed to Claude; a treatment firing is."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from _hooks import bash, failure, pre

from soma_actor.integrations.claude_code.hook import handle, parse_options
from soma_runtime.store.glance import glance
from soma_runtime.vitals import VitalsConfig
from soma_runtime.vitals.replay import recorded_guidance, replay_guidance

SESSION = "5a4b3c2d-aaaa-4bbb-8ccc-ddddeeeeffff"


def run(db: Path, event: dict[str, Any], config: Path) -> dict[str, Any] | None:
    return handle(json.dumps(event).encode(), parse_options(["--db", str(db), "--config", str(config)]))


def test_control_firings_are_recorded_and_followed_but_never_delivered(tmp_path: Path) -> None:
    db = tmp_path / "soma.db"
    vitals = VitalsConfig(ab="*")
    (tmp_path / "vitals.json").write_text(json.dumps(vitals.to_json()))
    config = tmp_path / "hooks.toml"
    config.write_text('vitals_config = "vitals.json"\n')
    answers = []
    for i in range(16):
        use = f"toolu_{i}"
        command = bash(f"npm run build -- --step {i % 4}")
        run(db, pre(SESSION, tmp_path, "Bash", command, use), config)
        answers.append(
            run(db, failure(SESSION, tmp_path, "Bash", command, use, f"Exit code 1 ({i})"), config)
        )
    with glance(db) as log:
        events = log.query()
    fired = [e.payload for e in events if e.type == "guidance.fired"]
    delivered = {i for e in events if e.type == "guidance.delivered" for i in e.payload["firing_ids"]}
    control = {f["firing_id"] for f in fired if f["arm"] == "control"}
    treated = {f["firing_id"] for f in fired if f["arm"] == "treatment"}
    assert control and treated and {f["arm"] for f in fired} == {"treatment", "control"}
    assert delivered == treated, "every treated firing reached Claude, no control one did"
    assert any(a is not None and "additionalContext" in json.dumps(a) for a in answers)
    outcomes = [e for e in events if e.type == "guidance.outcome"]
    assert {o.payload["firing_id"] for o in outcomes} & control, "control firings are followed up"
    assert {e.source for e in events} == {"hook"}
    assert recorded_guidance(events) == replay_guidance(events, config=vitals)


def test_the_ledger_knows_the_stores_sources() -> None:
    from soma_actor.integrations._ledger import SOURCES, Draft
    from soma_runtime.store.events import SOURCES as STORE_SOURCES

    assert SOURCES == STORE_SOURCES
    assert Draft.from_json({"type": "hook.error", "payload": {}, "source": "hook"}).source == "hook"
    with pytest.raises(ValueError, match="'source'"):
        Draft.from_json({"type": "hook.error", "payload": {}, "source": "someone"})
