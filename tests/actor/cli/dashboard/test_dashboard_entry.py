"""``run_dashboard``, what the ``soma dashboard`` verb calls: exit code 0 after a normal quit,
1 and one line on stderr when there is nothing to show."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest
from _dashboard_helpers import import_fixture, shown
from textual.pilot import Pilot

from soma_actor.cli.dashboard import SomaDashboard, run_dashboard


def test_a_missing_database_is_one_line_and_exit_code_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nothing.db"
    assert run_dashboard(str(missing), None) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("soma: error: cannot open event store")
    assert "no such file" in err and str(missing) in err
    assert not missing.exists()


def test_nothing_listening_is_one_line_and_exit_code_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "soma.db"
    anyio.run(import_fixture, db, backend="asyncio")
    assert run_dashboard(str(db), str(tmp_path / "soma.sock")) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith(f"soma: error: no Soma runtime is listening on {tmp_path / 'soma.sock'}")


def test_neither_a_database_nor_a_socket(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_dashboard(None, None) == 1
    assert capsys.readouterr().err == (
        "soma: error: nothing to show: give a database (--db PATH) or a control socket (--control PATH)\n"
    )


def test_quitting_exits_0(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "soma.db"
    anyio.run(import_fixture, db, backend="asyncio")
    seen: list[str] = []
    run = SomaDashboard.run

    def headless(app: SomaDashboard, **_: Any) -> None:
        # The real terminal is not ours in a test: run the same app headless and press q.
        async def quit_when_shown(pilot: Pilot[None]) -> None:
            seen.append(await shown(pilot, "seq 82", "waiting_tool"))
            await pilot.press("q")

        run(app, headless=True, size=(80, 24), auto_pilot=quit_when_shown)

    monkeypatch.setattr(SomaDashboard, "run", headless)
    assert run_dashboard(str(db), None) == 0
    assert capsys.readouterr().err == ""
    assert len(seen) == 1, "it ran, showed the log, and quit"
