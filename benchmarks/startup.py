"""Start-up time of the ``soma`` command, verb by verb, against ``python -c pass``.

A verb's start-up is what a user waits for before it does anything: the interpreter, then
the imports it needs (``soma --help`` lists every verb without importing any). ``soma
statusline`` is drawn at every shell prompt and ``soma --version`` is the smallest thing the
command does, so both must cost little more than Python itself (≤ 150 ms); every other verb
≤ 300 ms. Measured as real processes, the median of :data:`ROUNDS` runs, each round running
the baseline and every verb once in turn so a busy machine slows them alike.

The targets are judged as ratios against ``python -c pass`` in the same rounds, like every
other benchmark here: the absolute figures move with the machine's load (a shared 2-core
machine under other test suites starts Python in 75 ms instead of 25 to 30), the ratio does
not. 150 ms and 300 ms over the 30 ms an idle machine takes to start Python are 5x and 10x.

The database verbs run for real on a small recorded database; the control verbs for real
against a socket nobody listens on (they get as far as connecting: every import they need is
paid); the rest show their ``--help`` (which imports the verb's module, not the work).

Run alone: ``python -m benchmarks.startup``.
"""

from __future__ import annotations

import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import anyio

from soma_runtime import Runtime, Step

from ._table import Row

PART = "startup"
ROUNDS = 15
PYTHON_MS = 30.0  # python -c pass on an idle machine: what the absolute targets assume
QUICK_MS = 150.0  # soma --version, soma statusline
VERB_MS = 300.0  # every other verb
SERVE_ROUNDS = 3
SERVE_NOTE = "not a start-up target: it imports and starts the whole runtime (for reference)"


async def _record(db: Path) -> str:
    async with Runtime.open(db=db) as rt:
        session = await rt.start_session("bench")
        run = await session.start_run([Step("s1", "echo", {"value": 1}), Step("s2", "fail")])
        await run.result()
        await rt.vitals.caught_up()
        return run.run_id


def _invocations(db: Path, run_id: str, sock: Path) -> dict[str, tuple[list[str], float]]:
    d = ["--db", str(db)]
    c = ["--control", str(sock)]
    return {
        "soma --version": (["--version"], QUICK_MS),
        "soma statusline": (["statusline", *d], QUICK_MS),
        "soma --help": (["--help"], VERB_MS),
        "soma status": (["status", *d], VERB_MS),
        "soma trace RUN": (["trace", run_id, *d], VERB_MS),
        "soma export --run RUN": (["export", "--run", run_id, *d], VERB_MS),
        "soma replay --db": (["replay", "-q", *d], VERB_MS),
        "soma replay FILE.jsonl": (["replay", "-q", str(db.with_suffix(".jsonl"))], VERB_MS),
        "soma cancel RUN (no runtime)": (["cancel", run_id, *c], VERB_MS),
        "soma run --step (no runtime)": (["run", "--step", "echo value=1", *c], VERB_MS),
        "soma ask AGENT (no runtime)": (["ask", "helper", "hi", *c], VERB_MS),
        "soma serve --help": (["serve", "--help"], VERB_MS),
        "soma dashboard --help": (["dashboard", "--help"], VERB_MS),
        "soma demo --help": (["demo", "--help"], VERB_MS),
    }


def _serve_ready(soma: list[str], tmp: Path) -> float:
    """From ``soma serve`` to its "serving" line: imports, the store, the tree, the socket."""
    start = time.perf_counter()
    command = [*soma, "serve", "--db", str(tmp / "served.db"), "--control", str(tmp / "served.sock")]
    with subprocess.Popen(command, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True) as proc:
        assert proc.stderr is not None
        for line in proc.stderr:
            if "serving" in line:
                break
        ready = (time.perf_counter() - start) * 1000
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    return ready


def _time(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return (time.perf_counter() - start) * 1000


def main() -> list[Row]:
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "soma.db"
        run_id = anyio.run(_record, db, backend="asyncio")
        soma = [sys.executable, "-m", "soma_actor.cli"]
        export = [*soma, "export", "--db", str(db), "-o", str(db.with_suffix(".jsonl"))]
        subprocess.run(export, check=True, stderr=subprocess.DEVNULL)
        verbs = _invocations(db, run_id, Path(tmp) / "nobody.sock")
        baseline: list[float] = []
        times: dict[str, list[float]] = {name: [] for name in verbs}
        for _ in range(ROUNDS):
            baseline.append(_time([sys.executable, "-c", "pass"]))
            for name, (args, _) in verbs.items():
                times[name].append(_time([*soma, *args]))
        serve = statistics.median(_serve_ready(soma, Path(tmp)) for _ in range(SERVE_ROUNDS))
    python = statistics.median(baseline)
    rows = []
    for name, (_, limit) in verbs.items():
        value = statistics.median(times[name])
        ratio = limit / PYTHON_MS
        rows.append(Row(PART, name, value, "ms", python, f"<= {ratio:.0f}x", value / python <= ratio, ""))
    rows[0].note = (
        f"baseline: python -c pass, {python:.0f} ms (median of {ROUNDS}); targets: {QUICK_MS:.0f} ms "
        f"and {VERB_MS:.0f} ms over a {PYTHON_MS:.0f} ms Python start"
    )
    rows.append(Row(PART, "soma serve, until it serves", serve, "ms", python, "", None, SERVE_NOTE))
    return rows


async def run() -> list[Row]:
    rows: list[Row] = await anyio.to_thread.run_sync(main)
    return rows


if __name__ == "__main__":
    from ._table import print_table

    print_table(main())
