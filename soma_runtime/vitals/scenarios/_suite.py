"""The scenarios: ordinary work, and each kind of distress the vitals exist to catch.

Every builder takes a seed (``random.Random(seed)``: the same seed, the same events) and
returns a :class:`Scenario` with its goal. Distress starts after some ordinary work (the
agent has a baseline to be judged against) unless the scenario says otherwise.
"""

from __future__ import annotations

import random
from typing import Final

from ..pressure import Mode
from . import _session
from ._measure import Goal, Scenario
from ._stream import EventStream
from ._work import INTENT, SOURCES, TESTS, AgentLoop, ToolWorker

AGENT: Final = "agent-1"
SESSION: Final = "session-1"
WARMUP: Final = 60
"""Normal actions before the distress (the agent's baseline is then past its cold start)."""

# The retry storm of issue 21: a command (``sh -c '...; exit 2'`` as a CommandTool) failing
# the same way, call after call.
STORM_TOOL: Final = "install"
STORM_ERROR: Final = (
    "CommandFailed: tool 'install' failed: command 'sh' exited with code 2; "
    "stderr: error: could not resolve host: packages.internal"
)
STORM_FAILURES: Final = 120
RECOVERY: Final = 10

STORM_GOAL: Final = Goal(reach=Mode.BLOCK, within=10, hold=Mode.WARN, after=Mode.GUIDE)


def _stream(intent: str | None = INTENT) -> EventStream:
    stream = EventStream(AGENT, SESSION)
    stream.start_session(intent)
    return stream


def _storm_call(stream: EventStream, *, failed: bool = True) -> None:
    stream.tool(STORM_TOOL, {}, error=STORM_ERROR if failed else None, isolation="command")


def retry_storm(seed: int = 0, *, warmup: int = WARMUP) -> Scenario:
    """Tool calls only (native runs): ordinary work, then 120 identical failures of one
    command, then 10 successes of it (the package index is back)."""
    stream = _stream()
    ToolWorker(stream, random.Random(seed)).work(warmup)
    onset = stream.actions + 1
    for _ in range(STORM_FAILURES):
        _storm_call(stream)
    end = stream.actions
    for _ in range(RECOVERY):
        _storm_call(stream, failed=False)
    name = "retry storm, tool calls" if warmup else "retry storm, first action"
    return Scenario(name, STORM_GOAL, stream.events, AGENT, onset, end)


STORM_SAYINGS: Final = (
    "The install failed again with a DNS error. Retrying the install.",
    "Still could not resolve the package host. Let me try again.",
    "The install failed. Maybe the package index is down; trying again.",
    "Running the install once more.",
)


def storm_in_a_loop(seed: int = 0) -> Scenario:
    """An agent on Soma in a retry storm: a model turn, then the same failing command, again
    and again, its context growing with each error it reads back (as in ``soma demo``); then
    the command works and the agent goes back to its work for 20 actions."""
    stream = _stream()
    loop = AgentLoop(stream, random.Random(seed))
    loop.work(WARMUP)
    onset = stream.actions + 1
    tokens = loop.context.tokens
    for i in range(STORM_FAILURES // 2):
        tokens += 300
        stream.llm(STORM_SAYINGS[i % len(STORM_SAYINGS)], input_tokens=tokens, output_tokens=60)
        _storm_call(stream)
    end = stream.actions
    stream.llm(
        "The install worked at last. Back to the date parsing fix.", input_tokens=tokens, output_tokens=60
    )
    _storm_call(stream, failed=False)
    loop.work(2 * RECOVERY - 2)  # back at work: ten turns or so
    # Ten failures are twenty actions here: a model call before each.
    goal = Goal(reach=Mode.BLOCK, within=20, hold=Mode.WARN, after=Mode.GUIDE)
    return Scenario("retry storm, agent loop", goal, stream.events, AGENT, onset, end)


CASCADE: Final = (
    ("file_read", {"path": "utils/dates.py"}, "OSError: [Errno 30] Read-only file system: '.pytest_cache'"),
    ("pytest", {"target": "tests/test_dates.py"}, "exit status 4: ERROR: could not create cache dir"),
    ("git_diff", {"path": "utils/dates.py"}, "exit status 128: fatal: unable to write index: read-only"),
    ("file_write", {"path": "utils/dates.py"}, "OSError: [Errno 30] Read-only file system: 'utils/dates.py'"),
    ("list_dir", {"path": "utils"}, "OSError: [Errno 5] Input/output error: 'utils'"),
    ("ruff", {"path": "utils"}, "exit status 2: error: failed to write cache: read-only file system"),
)
CASCADE_SAYINGS: Final = (
    "That failed with a read-only file system error. Checking the file another way.",
    "The tests cannot run either. Perhaps the disk is full; looking at the diff.",
    "Git fails too. Something is wrong with the workspace; trying to write the fix anyway.",
    "Hmm, the write failed as well. Listing the directory to see what is going on.",
    "Everything fails with I/O errors. Maybe the mount is broken; trying lint.",
)


def error_cascade(seed: int = 0) -> Scenario:
    """Every tool fails, one after another, each a different way (a broken workspace)."""
    stream = _stream()
    AgentLoop(stream, random.Random(seed)).work(WARMUP)
    onset = stream.actions + 1
    for i in range(15):
        stream.llm(CASCADE_SAYINGS[i % len(CASCADE_SAYINGS)], input_tokens=5200 + 90 * i, output_tokens=90)
        tool, args, error = CASCADE[i % len(CASCADE)]
        stream.tool(tool, {**args, "attempt": i // len(CASCADE)}, error=error)
    goal = Goal(reach=Mode.GUIDE, within=16, hold=Mode.GUIDE, pattern="error_cascade", pattern_within=6)
    return Scenario("error cascade", goal, stream.events, AGENT, onset, stream.actions)


def blind_edits(seed: int = 0) -> Scenario:
    """The agent reads the sources, works on the tests for a while, then overwrites source
    files it has not read since (blind edits: successful writes, a pattern's job)."""
    stream = _stream()
    loop = AgentLoop(stream, random.Random(seed))
    for path in SOURCES:
        loop.model_call(f"Reading {path} to learn how the project is laid out.")
        stream.tool("file_read", {"path": path})
    loop.project.focus = TESTS
    loop.work(30)
    onset = stream.actions + 1
    for i, path in enumerate(SOURCES):
        loop.model_call(f"Rewriting {path} with the offset fix applied everywhere.")
        stream.tool("file_write", {"path": path, "content": f"# rewritten {i}"})
    goal = Goal(pattern="blind_edit", pattern_within=2, peak=Mode.GUIDE)
    return Scenario("blind edits", goal, stream.events, AGENT, onset, stream.actions)


def cost_spiral(seed: int = 0) -> Scenario:
    """Tokens per action ×5, sustained: the agent starts pasting whole logs into its context."""
    stream = _stream()
    loop = AgentLoop(stream, random.Random(seed))
    loop.work(WARMUP)
    onset = stream.actions + 1
    loop.context.scale = 5.0
    loop.context.limit = 1 << 62  # no compaction to undo it: ×5 of what it was, sustained
    loop.work(40)
    goal = Goal(reach=Mode.WARN, within=10, hold=Mode.WARN, hold_share=0.9)
    return Scenario("cost spiral ×5", goal, stream.events, AGENT, onset, stream.actions)


UNSURE: Final = (
    "Maybe the offset is the problem? I'm not sure; perhaps parse_date is fine and the test is wrong.",
    "Hmm, I think it might be the timezone module, or possibly the CSV writer. Hard to say, sorry.",
    "I'm not certain this is right. It seems to work, but maybe it breaks naive dates, I guess.",
    "Perhaps I should try another approach. I believe the rows are probably dropped elsewhere.",
)


def hedging(seed: int = 0) -> Scenario:
    """The agent keeps working, but its every output hedges."""
    stream = _stream()
    rng = random.Random(seed)
    loop = AgentLoop(stream, rng)
    loop.work(WARMUP)
    onset = stream.actions + 1
    while stream.actions < onset + 29:
        loop.model_call(rng.choice(UNSURE))
        loop.tool()
    goal = Goal(reach=Mode.GUIDE, within=10, hold=Mode.GUIDE, signal="uncertainty", signal_within=6)
    return Scenario("hedging", goal, stream.events, AGENT, onset, stream.actions)


OFF_TASK: Final = (
    ("Drafting the team newsletter: holiday schedule, new hires, the retreat agenda.", "web_search",
     {"query": "newsletter template holiday schedule"}),
    ("Looking up venues for the retreat and their catering menus.", "web_search",
     {"query": "retreat venue catering menu"}),
    ("Writing the newsletter introduction about the summer party.", "file_write",
     {"path": "newsletter/draft.md", "content": "Summer party!"}),
    ("Collecting photos from the last retreat for the newsletter gallery.", "list_dir",
     {"path": "newsletter/photos"}),
)  # fmt: skip


def drift(seed: int = 0) -> Scenario:
    """The agent wanders off its session's intent onto unrelated work."""
    stream = _stream()
    loop = AgentLoop(stream, random.Random(seed))
    loop.work(WARMUP)
    onset = stream.actions + 1
    for i in range(15):
        text, tool, args = OFF_TASK[i % len(OFF_TASK)]
        loop.model_call(text)
        stream.tool(tool, {**args, "n": i})
    goal = Goal(
        reach=Mode.GUIDE, within=10, hold=Mode.GUIDE, hold_share=0.8, signal="drift", signal_within=10
    )
    return Scenario("drift from the intent", goal, stream.events, AGENT, onset, stream.actions)


def failure_creep(seed: int = 0) -> Scenario:
    """Failures creep up from one in ten to nine in ten over 100 actions (no storm: each
    failure is a different call) — the kind of change a learning baseline absorbs."""
    stream = _stream()
    loop = AgentLoop(stream, random.Random(seed))
    loop.work(WARMUP)
    onset = stream.actions + 1
    for i in range(100):
        loop.fail_rate = 0.1 + 0.8 * i / 99
        loop.step()
    goal = Goal(reach=Mode.GUIDE, within=70, hold=Mode.GUIDE, hold_share=0.8)
    return Scenario("failure creep 10% → 90%", goal, stream.events, AGENT, onset, stream.actions)


ORDINARY_GOAL: Final = Goal(guide_share=0.02)


def ordinary(seed: int = 0, actions: int = 1000) -> Scenario:
    """Ordinary work: 1,000 actions of an agent loop, 10% of them failing independently,
    token use noisy and growing with the context, varied tools."""
    stream = _stream()
    AgentLoop(stream, random.Random(seed)).work(actions)
    return Scenario("ordinary work, agent loop", ORDINARY_GOAL, stream.events, AGENT)


def ordinary_tools(seed: int = 0, actions: int = 1000) -> Scenario:
    """The same ordinary work as tool calls only (no model calls seen: native runs)."""
    stream = _stream()
    ToolWorker(stream, random.Random(seed)).work(actions)
    return Scenario("ordinary work, tool calls", ORDINARY_GOAL, stream.events, AGENT)


def coding_session() -> Scenario:
    """A coding session as Claude Code's hooks record it (see ``_session``)."""
    stream = _stream(None)
    _session.record(stream)
    return Scenario("coding session, hooks", Goal(), stream.events, AGENT)


def suite(seed: int = 0) -> list[Scenario]:
    """Every scenario, built from ``seed``."""
    return [
        retry_storm(seed),
        retry_storm(seed, warmup=0),
        storm_in_a_loop(seed),
        error_cascade(seed),
        blind_edits(seed),
        cost_spiral(seed),
        hedging(seed),
        drift(seed),
        failure_creep(seed),
        ordinary(seed),
        ordinary_tools(seed),
        coding_session(),
    ]
