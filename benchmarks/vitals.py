"""Vitals benchmarks: the pure engine's throughput on a recorded 1M-event log (issue 5), and
how good a detector it is on the scenario suite (issue 21).

Throughput.

The log is synthetic but shaped like what a Soma store records, and held in memory as real
``Event`` envelopes (a store subscription hands the monitor the same objects; they are made
by ``model_copy`` of a per-agent template, which is cheaper than validating a million).
100 agents in 100 sessions, interleaved, each looping model call → tool call in runs of four
steps. One cycle records ``llm.started``, ``llm.succeeded``, ``step.started``,
``tool.started``, ``tool.succeeded`` (``tool.failed``, 15% of the time), ``step.succeeded``
(or ``failed``), and the monitor's ``vitals.updated`` after each of the two actions; each run
adds ``run.started`` and ``run.completed``. So 2 of every ~8.5 events are actions, which the
engine scores; the rest it reads past. Model outputs are 25 to 55 words from a 2,000-word
vocabulary (a pool of 5,000 texts, 40% with a hedge), tool calls a mix of file tools and
command tools with varied arguments, token counts grow along each session.

Rows: events per second and actions per second of a fresh engine replaying the whole log.
The monitor's lag behind the store under load belongs to the monitor's benchmark.

Detection. Every scenario of ``soma_runtime.vitals.scenarios`` for ``SEEDS`` seeds, and the
retry storm once through a live runtime (real runs, a real failing ``sh`` command): actions
from the onset of the distress to GUIDE / WARN / BLOCK (the range over the seeds; ``-``
never), the peak pressure during the distress (of the whole run for normal work), false
alarms — normal actions at GUIDE or above — per 1,000 normal actions (over all seeds), how
many runs met every goal, and the goal beside it. The table is printed before the summary table, which gets
one row: the scenarios that met every goal on every seed.
"""

from __future__ import annotations

import gc
import random
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from soma_runtime import Runtime
from soma_runtime.store.events import Event
from soma_runtime.vitals import Mode, VitalsEngine, first_divergence
from soma_runtime.vitals.scenarios import Result, measure, record_storm, suite
from soma_runtime.vitals.scenarios._live import TOOLS as LIVE_TOOLS

from ._table import Row

PART = "vitals"
EVENTS = 1_000_000
AGENTS = 100
STEPS_PER_RUN = 4
TARGET_RATE = 100_000

_TOOLS: list[tuple[str, str, bool]] = [  # (name, isolation, takes a path)
    ("file_read", "thread", True),
    ("file_write", "thread", True),
    ("text_grep", "thread", True),
    ("pytest", "command", False),
    ("git_diff", "command", False),
]
_MODEL = "claude-3-5-sonnet-20241022"


def recorded_log(n: int = EVENTS, seed: int = 5) -> list[Event]:
    """The first ``n`` events of ``AGENTS`` interleaved agent loops (see the module docstring)."""
    rng = random.Random(seed)
    letters = "abcdefghijklmnopqrstuvwxyz"
    vocabulary = ["".join(rng.choices(letters, k=rng.randint(2, 10))) for _ in range(2000)]
    texts = []
    for _ in range(5000):
        words = rng.choices(vocabulary, k=rng.randint(25, 55))
        if rng.random() < 0.4:
            words.insert(rng.randrange(len(words)), rng.choice(["maybe", "perhaps", "i think", "probably"]))
        texts.append(" ".join(words).capitalize() + ".")
    vitals = {"pressure": 0.1, "mode": "observe", "signals": {}}  # skipped by the engine: shared

    templates = [
        Event.model_construct(
            seq=1,
            event_id="",
            ts=0,
            type="",
            session_id=f"session-{agent}",
            run_id=None,
            step_id=None,
            tool_call_id=None,
            agent_id=f"agent-{agent}",
            task_id=None,
            correlation_id=None,
            payload={},
        )
        for agent in range(AGENTS)
    ]
    events: list[Event] = []
    append = events.append
    seq = 0

    def add(kind: str, agent: int, payload: dict[str, Any], call: str | None = None) -> None:
        nonlocal seq
        seq += 1
        fields = {
            "seq": seq,
            "event_id": f"ev-{seq}",
            "ts": 1_700_000_000_000_000_000 + seq * 50_000,
            "type": kind,
            "run_id": f"run-{agent}-{cycle[agent] // STEPS_PER_RUN}",
            "tool_call_id": call,
            "payload": payload,
        }
        append(templates[agent].model_copy(update=fields))

    cycle = [0] * AGENTS
    for agent in range(AGENTS):
        add("session.started", agent, {"intent": " ".join(rng.choices(vocabulary, k=12)), "metadata": {}})
    while seq < n:
        agent = rng.randrange(AGENTS)
        i = cycle[agent]
        if i % STEPS_PER_RUN == 0:
            add("run.started", agent, {"steps": [], "options": {}})
        usage = {
            "input_tokens": 1500 + 40 * (i % 200) + rng.randrange(400),
            "output_tokens": rng.randrange(40, 400),
        }
        add("llm.started", agent, {"model": _MODEL})
        add("llm.succeeded", agent, {"model": _MODEL, "usage": usage, "text": rng.choice(texts)})
        add("vitals.updated", agent, vitals)
        tool, isolation, has_path = rng.choice(_TOOLS)
        args: dict[str, Any] = (
            {"path": f"src/module_{rng.randrange(50)}.py"} if has_path else {"k": f"t{i % 17}"}
        )
        call = f"tc-{agent}-{i}"
        add("step.started", agent, {"tool": tool, "args": args})
        add("tool.started", agent, {"tool": tool, "args": args, "isolation": isolation}, call)
        if rng.random() < 0.15:
            add(
                "tool.failed",
                agent,
                {"tool": tool, "error": "exit status 1: 2 tests failed", "duration_ms": 40.0},
                call,
            )
            add("step.failed", agent, {"error": "exit status 1"})
        else:
            add("tool.succeeded", agent, {"tool": tool, "output": "ok", "duration_ms": 12.0}, call)
            add("step.succeeded", agent, {"output": "ok"})
        add("vitals.updated", agent, vitals)
        if i % STEPS_PER_RUN == STEPS_PER_RUN - 1:
            add("run.completed", agent, {"outputs": {}})
        cycle[agent] = i + 1
    return events[:n]


def replay(events: list[Event]) -> tuple[float, int]:
    """(seconds, pressure updates) of one fresh engine over ``events``."""
    engine = VitalsEngine()
    observe = engine.observe
    updates = 0
    start = time.perf_counter()
    for event in events:
        updates += len(observe(event))
    return time.perf_counter() - start, updates


SEEDS = range(20)


async def live_storm() -> Result:
    """The storm through a live runtime; its log must replay to what the monitor recorded."""
    with tempfile.TemporaryDirectory() as tmp:
        async with Runtime.open(db=str(Path(tmp) / "soma.db"), tools=list(LIVE_TOOLS), root=tmp) as rt:
            scenario = await record_storm(rt, Path(tmp))
    if first_divergence(scenario.events) is not None:
        raise AssertionError("the live storm's log does not replay to its recorded trajectory")
    return measure(scenario)


def _span(values: Sequence[int | None]) -> str:
    """The range of a delay over seeds: ``3``, ``3-5``, ``7-never``, ``-`` (never)."""
    seen = sorted(v for v in values if v is not None)
    if not seen:
        return "-"
    low, high = seen[0], ("never" if len(seen) < len(values) else seen[-1])
    return str(low) if low == high else f"{low}-{high}"


def scenario_table(results: dict[str, list[Result]]) -> str:
    """The detection table: one line per scenario, its figures over the seeds it ran."""
    modes = " ".join(f"{mode:>7}" for mode in ("GUIDE", "WARN", "BLOCK"))
    head = f"{'scenario':27} {modes}  {'peak':>9} {'FA/1k':>6}  {'met':>5}  goal"
    lines = [head, "-" * (len(head) + 40)]
    for name, runs in results.items():
        delays = [_span([r.to_mode(m) for r in runs]) for m in (Mode.GUIDE, Mode.WARN, Mode.BLOCK)]
        peaks = [r.peak()[0] for r in runs]
        low, high = min(peaks), max(peaks)
        peak = f"{low:.2f}" if f"{low:.2f}" == f"{high:.2f}" else f"{low:.2f}-{high:.2f}"
        normal = sum(len(r.normal) for r in runs)
        alarms = f"{1000 * sum(r.false_alarms for r in runs) / normal:.1f}" if normal else "-"
        met = f"{sum(r.ok for r in runs)}/{len(runs)}"
        goal = runs[0].scenario.goal.describe()
        lines.append(
            f"{name:27} {delays[0]:>7} {delays[1]:>7} {delays[2]:>7}  {peak:>9} {alarms:>6}  {met:>5}  {goal}"
        )
        for r in runs:
            if not r.ok:
                lines.append(f"{'':29}missed: {'; '.join(r.failures())}")
                break
    return "\n".join(lines)


async def scenarios(engine: Callable[[], Any] = VitalsEngine) -> dict[str, list[Result]]:
    results: dict[str, list[Result]] = {}
    for seed in SEEDS:
        for scenario in suite(seed):
            results.setdefault(scenario.name, []).append(measure(scenario, engine()))
    results["retry storm, live runtime"] = [await live_storm()]
    return results


async def run() -> list[Row]:
    start = time.perf_counter()
    results = await scenarios()
    elapsed = time.perf_counter() - start
    print(f"vitals scenarios, seeds {SEEDS.start}-{SEEDS.stop - 1} (delays in actions from the onset)")
    print(scenario_table(results))
    print()
    met = sum(all(r.ok for r in runs) for runs in results.values())
    detection = Row(
        PART,
        "scenario suite: goals met on every seed",
        met,
        "scenarios",
        target=f"{len(results)} of {len(results)}",
        ok=met == len(results),
        note=f"{sum(map(len, results.values()))} runs in {elapsed:.1f} s (the table above)",
    )
    return [*await throughput(), detection]


async def throughput() -> list[Row]:
    # Building a million objects with the collector on spends half the time in collections
    # that find nothing; the built log is then frozen out of the collector's sight (a real
    # replay streams its events from the store instead of holding them all).
    collecting = gc.isenabled()
    gc.disable()
    try:
        events = recorded_log()
    finally:
        if collecting:
            gc.enable()
    gc.freeze()
    try:
        count = len(events)
        actions = sum(1 for e in events if e.type in ("llm.succeeded", "tool.succeeded", "tool.failed"))
        elapsed, updates = min(replay(events) for _ in range(2))
    finally:
        del events
        gc.unfreeze()
    rate = count / elapsed
    return [
        Row(
            PART,
            "engine replay, 1M-event log",
            rate,
            "events/s",
            target=f">= {TARGET_RATE:,}",
            ok=rate >= TARGET_RATE,
            note=(
                f"best of 2 fresh engines: {elapsed:.2f} s for {count:,} events "
                f"({actions:,} actions, {actions / elapsed:,.0f} actions/s; {updates:,} updates)"
            ),
        ),
        Row(PART, "engine replay, 1M-event log", elapsed, "s", target="<= 10 s", ok=elapsed <= 10.0),
    ]
