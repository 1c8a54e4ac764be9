"""The agent-runtime benchmark's own bookkeeping (benchmarks/peers/agents): the step record
that crash-resume counts re-runs with, the probe of what a cancel left running, and the
results' round trip. None of it may import the peer libraries (`make test` runs without the
`bench` extra)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
from pathlib import Path

from benchmarks.peers.agents import COLUMNS, MEASURES
from benchmarks.peers.agents._probe import Baseline, alive
from benchmarks.peers.agents._side import mark_step, marks, resumed_marks, tally
from benchmarks.peers.agents.report import cell, markdown
from benchmarks.peers.agents.results import AgentResults

ROOT = Path(__file__).resolve().parents[1]


def _mark_in_child(path: Path, indexes: range) -> int:
    """Mark ``indexes`` from another process (as the crashed run does); returns its pid."""
    code = (
        "import sys; from benchmarks.peers.agents._side import mark_step\n"
        f"for i in {list(indexes)!r}: mark_step(sys.argv[1], i)\n"
        "import os; print(os.getpid())"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True, cwd=ROOT
    )
    return int(out.stdout)


def test_tally_counts_the_crashed_process_steps_run_again(tmp_path: Path) -> None:
    side = tmp_path / "steps"
    crashed = _mark_in_child(side, range(5))  # steps 0-4 completed before the kill
    for i in range(3, 10):  # the resume starts again at step 3
        mark_step(str(side), i)
    assert marks(str(side)) == 12
    assert tally(str(side), 10, crashed) == {"completed": 5, "rerun": 2, "missing": 0}
    assert tally(str(side), 12, crashed)["missing"] == 2  # steps 10 and 11 never ran


def test_resumed_marks_is_this_process_first_step(tmp_path: Path) -> None:
    side = tmp_path / "steps"
    _mark_in_child(side, range(3))
    try:
        resumed_marks(str(side))
    except RuntimeError as e:
        assert "no step" in str(e)
    else:
        raise AssertionError("a resume that ran no step must not report a time")
    mark_step(str(side), 3)
    mark_step(str(side), 4)
    first = resumed_marks(str(side))
    last = float(side.read_text().splitlines()[-1].split()[2])
    assert first < last


def test_alive_tells_a_running_process_from_an_exited_one() -> None:
    proc = subprocess.Popen(["sleep", "60"])
    try:
        assert alive(proc.pid)
    finally:
        proc.kill()
        proc.wait()
    assert not alive(proc.pid)


def test_leftovers_names_a_task_that_outlived_the_cancel() -> None:
    async def main() -> tuple[str, str]:
        baseline = Baseline()
        before = await baseline.leftovers(grace=0.05)
        stuck = asyncio.create_task(asyncio.Event().wait())
        try:
            return before, await baseline.leftovers(grace=0.05)
        finally:
            stuck.cancel()

    assert asyncio.run(main()) == ("none", "1 task")


def test_leftovers_names_a_process_still_running() -> None:
    async def main(pid: int) -> str:
        return await Baseline().leftovers([pid], grace=0.05)

    proc = subprocess.Popen(["sleep", "60"])
    try:
        left = asyncio.run(main(proc.pid))
    finally:
        proc.kill()
        proc.wait()
    assert left == "1 OS process"


def test_results_round_trip_and_render() -> None:
    results = AgentResults([c.key for c in COLUMNS], {c.key: c.label for c in COLUMNS})
    results.samples = {"loop": {"soma": [150.0, 140.0, 160.0]}, "rerun": {"soma-sqlite": [3.0]}}
    results.texts = {"cancel_left": {"soma": ["none", "none", "1 task"]}}
    results.unsupported = {"crash": {"autogen": "no resume"}}
    results.summarise()
    again = AgentResults.from_json(results.to_json())
    by_key = {m.key: m for m in MEASURES}
    assert cell(again, by_key["loop"], "soma") == "150.0 µs [140.0 µs, 160.0 µs]"
    assert cell(again, by_key["rerun"], "soma-sqlite") == "3"
    assert cell(again, by_key["cancel_left"], "soma") == "none (2 of 3), 1 task (1 of 3)"
    assert cell(again, by_key["loop"], "autogen") == "n/a"
    block = markdown(again, None)
    assert "| 1,000-step no-op loop, per step (µs) | 150.0 µs [140.0 µs, 160.0 µs] |" in block
    assert "- autogen-core, crash: no resume." in block


def test_the_bookkeeping_imports_no_peer_library() -> None:
    code = (
        "import sys\n"
        "import benchmarks.peers.agents.run, benchmarks.peers.agents.report\n"
        "peers = {'langgraph', 'autogen_core', 'langchain_core', 'matplotlib'}\n"
        "print(sorted(peers & {m.split('.')[0] for m in sys.modules}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"


def test_leftovers_names_a_thread_without_its_counter() -> None:
    release = threading.Event()

    async def main() -> str:
        baseline = Baseline()
        threading.Thread(target=release.wait, name="asyncio-waitpid-7").start()
        return await baseline.leftovers(grace=0.05)

    try:
        left = asyncio.run(main())
    finally:
        release.set()
    assert left == "1 thread (asyncio-waitpid)"
