"""The dashboard's data source: what it opens, what it refuses, and that polling reads each
event once, in order, in bounded steps."""

from __future__ import annotations

from pathlib import Path

import pytest
from _dashboard_helpers import import_fixture

from soma_actor.cli.dashboard import source as source_module
from soma_actor.cli.dashboard.source import DashboardError, DashboardSource
from soma_runtime import Runtime, Step, open_event_log
from soma_runtime.control import NoRuntimeListening
from soma_runtime.store.errors import StoreOpenError

pytestmark = pytest.mark.anyio


async def test_polls_read_every_event_once_in_bounded_pages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "soma.db"
    await import_fixture(db)
    monkeypatch.setattr(source_module, "PAGE", 10)
    monkeypatch.setattr(source_module, "MAX_PAGES_PER_POLL", 3)
    async with DashboardSource.open(str(db), None) as source:
        assert source.readonly and not source.connected
        seen = []
        sizes = []
        while True:
            found = (await source.poll()).events
            if not found:
                break
            sizes.append(len(found))
            seen.extend(e.seq for e in found)
    assert seen == list(range(1, 83)), "each event once, in order"
    assert sizes == [30, 30, 22], "at most three pages of ten per poll; the rest at the next"
    assert source.state.last_seq == 82


async def test_it_starts_from_the_newest_events_of_a_long_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "soma.db"
    await import_fixture(db)
    monkeypatch.setattr(source_module, "BACKFILL", 20)
    async with DashboardSource.open(str(db), None) as source:
        found = (await source.poll()).events
    assert [e.seq for e in found] == list(range(63, 83))
    # A run whose start fell before the window still shows, from its later events.
    assert any(row.state == "waiting_tool" for row in source.state.runs.values())


async def test_it_needs_a_database_or_a_socket(tmp_path: Path) -> None:
    with pytest.raises(DashboardError, match="give a database"):
        async with DashboardSource.open(None, None):
            pass
    with pytest.raises(StoreOpenError, match="no such file"):
        async with DashboardSource.open(str(tmp_path / "missing.db"), None):
            pass
    with pytest.raises(NoRuntimeListening, match="no such socket"):
        async with DashboardSource.open(None, str(tmp_path / "nobody.sock")):
            pass
    assert not (tmp_path / "missing.db").exists(), "a read-only open never creates the file"


async def test_with_a_socket_it_reads_the_runtimes_own_database(tmp_path: Path) -> None:
    db, sock = tmp_path / "soma.db", tmp_path / "soma.sock"
    async with Runtime.open(db=db, control=sock) as rt:
        session = await rt.start_session("ops")
        await (await session.start_run([Step("s1", "echo", {"value": 1})])).result()
        async with DashboardSource.open(None, str(sock)) as found:
            assert Path(found.db) == db and found.connected and not found.readonly
            await found.poll()
            assert [row.state for row in found.state.runs.values()] == ["completed"]
            assert found.tree is not None and found.tree[0]["name"] == "soma_sup"
        async with DashboardSource.open(str(db), str(sock)) as given:
            assert given.db == str(db), "the same file, given both ways"

        other = tmp_path / "other.db"
        async with open_event_log(other):
            pass
        with pytest.raises(DashboardError, match=r"writes to .*soma\.db, not to .*other\.db"):
            async with DashboardSource.open(str(other), str(sock)):
                pass


async def test_a_runtime_without_a_database_file_is_refused(tmp_path: Path) -> None:
    sock = tmp_path / "soma.sock"
    async with Runtime.open(control=sock):  # events in memory
        with pytest.raises(DashboardError, match="keeps its events in memory"):
            async with DashboardSource.open(None, str(sock)):
                pass


async def test_cancel_needs_the_control_socket(tmp_path: Path) -> None:
    db = tmp_path / "soma.db"
    await import_fixture(db)
    async with DashboardSource.open(str(db), None) as source:
        with pytest.raises(DashboardError, match="read-only: no control socket"):
            await source.cancel_run("run-1")
