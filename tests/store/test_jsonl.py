"""JSONL export and import: round trips, slices, and corrupt files that import nothing."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from soma_runtime.store._redaction import REDACTED
from soma_runtime.store.errors import JsonlImportError, JsonlLineError, StoreReadOnly
from soma_runtime.store.events import Event, EventDraft
from soma_runtime.store.log import EventLog, open_event_log, read_jsonl

pytestmark = pytest.mark.anyio


async def fill(log: EventLog) -> list[Event]:
    return await log.append_many(
        [
            EventDraft("session.started", {"intent": "research"}, session_id="s", agent_id="a"),
            EventDraft("run.started", {"steps": [{"id": "s1"}]}, session_id="s", run_id="r1"),
            EventDraft("tool.started", {"tool": "echo", "args": {"v": "é✓"}}, run_id="r1"),
            EventDraft("tool.succeeded", {"tool": "echo", "output": [1, None]}, run_id="r1"),
            EventDraft("run.completed", {"outputs": {"s1": 1}}, session_id="s", run_id="r1"),
            EventDraft("run.started", {}, session_id="s", run_id="r2", correlation_id="c"),
        ]
    )


def same_but_seq(a: Event, b: Event) -> bool:
    return a.model_dump(exclude={"seq"}) == b.model_dump(exclude={"seq"})


async def test_round_trip_through_a_file(tmp_path: Path, any_db: str) -> None:
    out = tmp_path / "trace.jsonl"
    async with open_event_log(any_db) as source:
        original = await fill(source)
        assert await source.export_jsonl(out) == 6
    assert not (tmp_path / "trace.jsonl.partial").exists()
    lines = out.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["seq"] for line in lines] == [1, 2, 3, 4, 5, 6]
    async with open_event_log(":memory:") as target:  # SQLite: a trace moves between backends
        await target.append("session.started", {})  # the target already has history
        report = await target.import_jsonl(out)
        assert report.imported == 6 and report.skipped == []
        imported = await target.query(after_seq=1)
    assert [e.seq for e in imported] == [2, 3, 4, 5, 6, 7]  # seq is the target's
    assert all(same_but_seq(a, b) for a, b in zip(original, imported, strict=True))


async def test_export_a_slice_to_a_text_stream() -> None:
    async with open_event_log(":memory:") as log:
        await fill(log)
        buf = io.StringIO()
        assert await log.export_jsonl(buf, run_id="r1", type="tool.*") == 2
        types = [json.loads(line)["type"] for line in buf.getvalue().splitlines()]
        assert types == ["tool.started", "tool.succeeded"]
        buf = io.StringIO()
        assert await log.export_jsonl(buf, after_seq=2, limit=3) == 3
        assert [json.loads(x)["seq"] for x in buf.getvalue().splitlines()] == [3, 4, 5]


async def test_large_export_pages_through_the_log(tmp_path: Path) -> None:
    async with open_event_log(":memory:") as log:
        await log.append_many([EventDraft("run.accepted", {"i": i}) for i in range(2500)])
        out = tmp_path / "big.jsonl"
        assert await log.export_jsonl(out) == 2500
        assert await log.export_jsonl(tmp_path / "some.jsonl", limit=1001) == 1001
    async with open_event_log(":memory:") as other:
        assert (await other.import_jsonl(out)).imported == 2500
        assert await other.last_seq() == 2500


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


async def exported_lines() -> list[str]:
    async with open_event_log(":memory:") as log:
        await fill(log)
        buf = io.StringIO()
        await log.export_jsonl(buf)
    return buf.getvalue().splitlines()


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ('{"seq": 1, "event_id": "x", "ts": 1, "type": "run.started"', "not JSON"),
        ("[1, 2, 3]", "expected a JSON object"),
        ('{"seq": 1, "event_id": "x", "ts": 1, "type": "no.such", "payload": {}}', "unknown event type"),
        ('{"seq": 1, "event_id": "x", "ts": 1, "type": "run.failed", "payload": {}}', "error"),
        ('{"seq": 1, "event_id": "x", "ts": "late", "type": "run.started"}', "'ts'"),
        ('{"seq": 1, "event_id": "x", "ts": 1, "type": "run.started", "colour": 1}', "colour"),
        ('{"seq": 1, "event_id": "x", "ts": 1, "type": "run.started", "run_id": 5}', "run_id"),
    ],
)
async def test_corrupt_line_imports_nothing(tmp_path: Path, line: str, problem: str) -> None:
    good = await exported_lines()
    path = write_lines(tmp_path / "bad.jsonl", [*good[:3], line, *good[3:]])
    async with open_event_log(":memory:") as log:
        with pytest.raises(JsonlImportError) as info:
            await log.import_jsonl(path)
        assert info.value.line == 4 and problem in info.value.errors[0].problem
        assert "line 4: " in str(info.value) and str(path) in str(info.value)
        assert await log.last_seq() == 0


async def test_every_bad_line_is_reported_and_partial_import_takes_the_rest(
    tmp_path: Path,
) -> None:
    good = await exported_lines()
    lines = [good[0], "garbage", good[1], "", good[2], good[1], "{}"]
    path = write_lines(tmp_path / "mixed.jsonl", lines)
    async with open_event_log(":memory:") as log:
        with pytest.raises(JsonlImportError) as info:
            await log.import_jsonl(path)
        assert [e.line for e in info.value.errors] == [2, 6, 7]
        assert "duplicate event_id" in info.value.errors[1].problem
        assert "first on line 3" in info.value.errors[1].problem
        assert await log.last_seq() == 0
        report = await log.import_jsonl(path, partial=True)
        assert report.imported == 3 and [e.line for e in report.skipped] == [2, 6, 7]
        assert await log.last_seq() == 3


async def test_reimport_is_refused_or_skipped(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "t.jsonl", await exported_lines())
    async with open_event_log(":memory:") as log:
        assert (await log.import_jsonl(path)).imported == 6
        with pytest.raises(JsonlImportError, match="already in the store"):
            await log.import_jsonl(path)
        report = await log.import_jsonl(path, skip_existing=True)
        assert report.imported == 0 and report.skipped == []
        assert await log.last_seq() == 6


async def test_import_from_lines_redacts_secrets() -> None:
    secret = "sk-ant-" + "q" * 40
    line = json.dumps(
        {
            "seq": 9,
            "event_id": "imported-1",
            "ts": 123,
            "type": "llm.started",
            "payload": {"model": "m", "api_key": secret},
        }
    )
    async with open_event_log(":memory:") as log:
        report = await log.import_jsonl(io.StringIO(line + "\n"))
        assert report.imported == 1
        (event,) = await log.query()
    assert event.payload["api_key"] == REDACTED and event.event_id == "imported-1"
    assert event.ts == 123 and event.seq == 1


async def test_readonly_log_exports_but_does_not_import(any_db: str) -> None:
    db = any_db
    async with open_event_log(db) as log:
        await fill(log)
    async with open_event_log(db, readonly=True) as ro:
        buf = io.StringIO()
        assert await ro.export_jsonl(buf, session_id="s") == 4
        with pytest.raises(StoreReadOnly):
            await ro.import_jsonl(io.StringIO(buf.getvalue()))


async def test_read_jsonl_gives_the_events_as_recorded(tmp_path: Path) -> None:
    out = tmp_path / "trace.jsonl"
    async with open_event_log(":memory:") as log:
        await log.append("session.started", {})
        original = await fill(log)
        await log.export_jsonl(out, after_seq=1)
    read = read_jsonl(out)
    assert read == original, "every field, seq included"
    assert read_jsonl(out.read_text(encoding="utf-8").splitlines()) == original


@pytest.mark.parametrize(
    ("bad", "problem"),
    [
        (b"{oops", "not JSON"),
        (b'{"event_id": "e", "ts": 1, "type": "run.started"}', "no 'seq'"),
        (b'{"seq": 9, "event_id": "e", "ts": 1, "type": "no.such"}', "unknown event type"),
        (b"\xff\xfe", "not UTF-8"),
    ],
)
def test_read_jsonl_names_the_first_bad_line(tmp_path: Path, bad: bytes, problem: str) -> None:
    good = Event(seq=1, event_id="e1", ts=1, type="session.started").to_json().encode()
    path = tmp_path / "bad.jsonl"
    path.write_bytes(good + b"\n\n" + bad + b"\n" + good + b"\n")
    with pytest.raises(JsonlLineError) as err:
        read_jsonl(path)
    assert err.value.line == 3
    assert problem in err.value.problem
    assert str(err.value).startswith(f"{path}:3: ")
