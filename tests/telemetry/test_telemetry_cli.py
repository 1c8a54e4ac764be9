"""``soma export --otlp`` and ``soma serve --otel`` as real subprocesses, against a local OTLP
receiver: a recorded database as spans, the database of a runtime SIGKILLed mid-run (its
unfinished work exported as incomplete), a collector that refuses, and a served runtime
exporting with the standard OTEL_* variables."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
from _otlp_receiver import dead_endpoint, otlp_receiver
from _telemetry_db import Recorded, record
from anyio.streams.buffered import BufferedByteReceiveStream

from soma_runtime.control import ControlClient

ROOT = Path(__file__).resolve().parents[2]
SOMA = [sys.executable, "-m", "soma_actor.cli"]


def env(**extra: str) -> dict[str, str]:
    """This environment less whoever runs the tests' SOMA_* and OTEL_* settings, plus ``extra``."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("SOMA_", "OTEL_"))}
    return {**base, **extra}


def names(tree: list[Any]) -> set[str]:
    found: set[str] = set()
    for process in tree:
        found |= {process["name"]} if process["name"] else set()
        found |= names(process["children"])
    return found


def make_db(path: Path) -> Recorded:
    return anyio.run(record, path, backend="asyncio")


def run_soma(*args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*SOMA, *args], capture_output=True, text=True, env=env(**extra), timeout=60)


def test_export_otlp_sends_a_recorded_database_as_spans(tmp_path: Path) -> None:
    recorded = make_db(tmp_path / "soma.db")
    with otlp_receiver() as (endpoint, received):
        done = run_soma("export", "--db", str(recorded.db), "--otlp", endpoint)
        spans = received.spans()
    assert done.returncode == 0, done.stderr
    [summary] = done.stderr.strip().splitlines()
    assert summary.startswith(f"exported {len(spans)} spans (") and summary.endswith(f"events) to {endpoint}")
    names = [s.name for s in spans]
    assert names.count("run plain") == 2 and names.count("invoke_agent lead") == 1
    [failed] = [s for s in spans if s.name == "run lead"]
    assert failed.status_code == 2 and failed.attributes["error.type"] == "ToolFailed"  # STATUS_CODE_ERROR
    [cancelled] = [
        s for s in spans if s.name == "run plain" and s.attributes["soma.run.id"] == recorded.cancelled_run
    ]
    assert cancelled.attributes["soma.run.state"] == "cancelled" and cancelled.status_code == 0  # UNSET


def test_export_otlp_of_a_runtime_killed_mid_run_marks_what_was_in_flight(tmp_path: Path) -> None:
    db = tmp_path / "soma.db"
    script = f"""
import anyio
from soma_runtime import Runtime, Step

async def main():
    async with Runtime.open(db={str(db)!r}) as rt:
        session = await rt.start_session("doomed")
        await session.start_run([Step("s1", "sleep", {{"seconds": 60}})])
        while not await rt.events.query(type="tool.started"):
            await anyio.sleep(0.01)
        print("ready", flush=True)
        await anyio.sleep(60)

anyio.run(main)
"""
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        child.kill()
    assert child.returncode == -signal.SIGKILL
    with otlp_receiver() as (endpoint, received):
        done = run_soma("export", "--db", str(db), "--otlp", endpoint)
        spans = received.spans()
    assert done.returncode == 0, done.stderr
    assert "4 still open when the log ends" in done.stderr
    incomplete = sorted(s.name for s in spans if s.attributes.get("soma.incomplete"))
    assert incomplete == ["execute_tool sleep", "run doomed", "session doomed", "step sleep"]
    assert all(s.end >= s.start for s in spans)


def test_export_otlp_refusals_are_one_line(tmp_path: Path) -> None:
    recorded = make_db(tmp_path / "soma.db")
    dead = dead_endpoint()
    refused = run_soma("export", "--db", str(recorded.db), "--otlp", dead, OTEL_EXPORTER_OTLP_TIMEOUT="0.5")
    assert refused.returncode == 1
    # The exporter's own log lines come first (the CLI logs warnings to stderr); the error last.
    last = refused.stderr.strip().splitlines()[-1]
    assert last.startswith(f"soma: error: {dead} did not accept the spans: ")
    usage = run_soma("export", "--db", str(recorded.db), "--otlp", dead, "-o", str(tmp_path / "x.jsonl"))
    assert usage.returncode == 2 and "--otlp sends spans: it takes neither -o nor --type" in usage.stderr


def test_serve_otel_without_the_extra_says_so_in_one_line(tmp_path: Path) -> None:
    code = (
        "import sys; sys.modules['opentelemetry'] = None; from soma_actor.cli import main; sys.exit(main())"
    )
    args = ["serve", "--otel", "--db", str(tmp_path / "s.db"), "--control", str(tmp_path / "s.sock")]
    done = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, env=env(), timeout=60
    )
    assert done.returncode == 1
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("soma: error: OpenTelemetry export needs opentelemetry")
    assert "pip install 'soma-runtime[telemetry]'" in line


@pytest.mark.anyio
async def test_serve_otel_exports_with_the_standard_variables_and_reports_what_it_sent(
    tmp_path: Path,
) -> None:
    db, sock = tmp_path / "soma.db", tmp_path / "soma.sock"
    with otlp_receiver() as (endpoint, _received):
        command = [*SOMA, "--log-json", "serve", "--otel", "--db", str(db), "--control", str(sock)]
        environment = env(OTEL_EXPORTER_OTLP_ENDPOINT=endpoint, OTEL_SERVICE_NAME="served")
        async with await anyio.open_process(command, env=environment) as proc:
            assert proc.stderr is not None
            stderr = BufferedByteReceiveStream(proc.stderr)
            logs: list[dict[str, Any]] = []
            with anyio.fail_after(30):
                while not logs or logs[-1]["event"] != "serving":
                    logs.append(json.loads(await stderr.receive_until(b"\n", 1 << 16)))
            assert logs[-1]["otel"] is True
            async with ControlClient.connect(sock) as client:
                stats = await client.request("telemetry")
                tree = await client.tree()
            try:
                assert stats["running"] is True and stats["spans_dropped"] == 0
                assert "soma.telemetry" in names(tree), "the follower is in the served tree"
            finally:
                proc.send_signal(signal.SIGTERM)
            with anyio.fail_after(30):
                while logs[-1]["event"] != "stopped":
                    logs.append(json.loads(await stderr.receive_until(b"\n", 1 << 16)))
            assert await proc.wait() == 0
        [report] = [r for r in logs if r["event"] == "telemetry"]
        assert report["spans_dropped"] == report["spans_failed"] == 0
        assert report["running"] is False  # reported after the tree stopped
    assert db.exists()
