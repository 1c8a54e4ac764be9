"""The suite's hang watchdog (tests/_hang_watchdog.py), on an inner pytest run: a hung anyio
test and a hung sync test each fail alone, saying where they hung, and every test after them
runs — on the same event loop, for the anyio module."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

INNER = '''
import asyncio
import time

import anyio
import pytest

CLEANED = []


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.mark.anyio
async def test_async_hang():
    try:
        await asyncio.Event().wait()  # HANGS: async
    finally:
        CLEANED.append("async")  # the test's own cleanup runs


def test_sync_hang():
    time.sleep(3600)  # HANGS: sync


@pytest.mark.anyio
async def test_runs_after_the_hangs_on_the_same_loop():
    assert CLEANED == ["async"]
    await anyio.sleep(0)


def test_passes_too():
    pass
'''


def test_a_hung_test_fails_alone_says_where_and_the_run_goes_on(tmp_path: Path) -> None:
    (tmp_path / "test_inner.py").write_text(INNER)
    started = time.monotonic()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "anyio",
            "-p",
            "_hang_watchdog",
            "-p",
            "no:cacheprovider",
            "-o",
            "hang_timeout=0.5",
            "-o",
            "hang_grace=5",
            "-rA",
            "test_inner.py",
        ],
        cwd=tmp_path,
        env={"PYTHONPATH": str(Path(__file__).parent), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    out = done.stdout
    assert done.returncode == 1, out + done.stderr
    assert "2 failed, 2 passed" in out.splitlines()[-1], out
    assert "PASSED test_inner.py::test_runs_after_the_hangs_on_the_same_loop" in out
    assert "FAILED test_inner.py::test_async_hang" in out and "FAILED test_inner.py::test_sync_hang" in out
    async_report = out[out.index("_ test_async_hang _") : out.index("_ test_sync_hang _")]
    assert "test_inner.py::test_async_hang hung: no end after 0.5s" in async_report
    assert "(the test)" in async_report and "await asyncio.Event().wait()  # HANGS: async" in async_report
    sync_report = out[out.index("_ test_sync_hang _") :]
    assert "test_inner.py::test_sync_hang (call) hung" in sync_report
    assert "time.sleep(3600)  # HANGS: sync" in sync_report
    assert time.monotonic() - started < 30, "the hangs were not cut at their deadline"
