"""Ordinary work, as the scenarios' agents do it: seeded, varied, imperfect.

Two kinds of agent, both working on the same small Python project:

* :class:`AgentLoop` — an agent on Soma (an actor, or a script on a wrapped client): a model
  call, then one or two tool calls, and again. Its context grows as tool output is read back
  and is compacted now and then; its model output is short, on-task prose with the occasional
  hedge ("I think", "probably"); it reads, searches, edits what it has read, runs the tests.
* :class:`ToolWorker` — the same work seen as tool calls alone (native runs, or Claude Code's
  hooks, which see no model calls).

Each action fails independently with probability ``fail_rate`` (10% by default: tests that
fail, files that are not there, a search that finds nothing, an overloaded model), with the
error text each tool really gives.
"""

from __future__ import annotations

import random
from typing import Final

from ._stream import EventStream

INTENT: Final = (
    "Fix the failing date parsing in the utils package so that CSV export keeps rows whose dates "
    "carry a timezone offset, and make the test suite pass"
)
SOURCES: Final = (
    "utils/dates.py", "utils/formats.py", "utils/timezones.py", "utils/strings.py", "utils/__init__.py",
    "export/csv.py", "export/rows.py", "export/__init__.py", "cli/main.py", "settings.py",
)  # fmt: skip
TESTS: Final = ("tests/test_dates.py", "tests/test_export.py", "tests/test_formats.py", "tests/test_cli.py")
FILES: Final = SOURCES + TESTS + ("README.md", "docs/export.md", "conftest.py", "pyproject.toml")
PATTERNS: Final = ("parse_date", "tzinfo", "utcoffset", "to_csv", "strptime", "isoformat", "def test_")
FUNCTIONS: Final = ("parse_date", "format_row", "to_csv", "normalize_offset", "read_rows", "iso_date")

_SAYINGS: Final = (
    "Reading {file} to see how dates are parsed before they reach the CSV export.",
    "The failing test in {test} expects the offset to survive parsing; checking {file}.",
    "Searching the utils package for {func} to find every caller.",
    "Running {test} to see the current failure.",
    "{func} drops the timezone offset when it parses the date; fixing it in {file}.",
    "The export rows are built in {file}; {func} is called once per row.",
    "Running the tests again after the change to {file}.",
    "The tests in {test} pass now; checking the rest of the suite.",
    "Looking at the diff of {file} before the next change.",
    "{func} needs to keep the offset for ISO dates; updating {file}.",
    "Checking how {file} formats dates for the CSV writer.",
    "The parser handles naive dates correctly; the offset case is the one that fails.",
)
_HEDGED: Final = (
    "I think {func} is also used by the CLI; reading {file} to be sure.",
    "{func} probably needs a guard for empty strings as well; checking {test}.",
    "The failure seems to come from {func} in {file}.",
    "This is likely the same offset bug in {file}; running {test}.",
)
HEDGED_SHARE: Final = 0.2
"""Share of sentences with a hedge: about one hedge per 60 words, a little under the prior's."""

_TOOL_ERRORS: Final = {
    "file_read": "FileNotFoundError: [Errno 2] No such file or directory: '{file}'",
    "text_grep": "exit status 1: no match for '{pattern}'",
    "list_dir": "NotADirectoryError: '{file}'",
    "file_write": "PermissionError: [Errno 13] Permission denied: '{file}'",
    "pytest": "exit status 1: FAILED {test}::test_offset_rows - AssertionError: 3 rows != 4 rows",
    "git_diff": "exit status 128: fatal: ambiguous argument '{file}'",
    "ruff": "exit status 1: {file}:41:89: E501 Line too long (97 > 88)",
}
_MODEL_ERRORS: Final = ("overloaded_error: Overloaded", "api_error: Internal server error")


class Context:
    """A model's context window over a session: tool output read back makes it grow, and
    the agent compacts it when it gets long. ``scale`` multiplies what a call uses."""

    def __init__(self, rng: random.Random, start: int = 2400, limit: int = 12000) -> None:
        self.rng = rng
        self.tokens = start
        self.start = start
        self.limit = limit
        self.scale = 1.0

    def call(self) -> tuple[int, int]:
        """(input, output) tokens of the next model call."""
        rng = self.rng
        self.tokens += rng.randint(40, 260)
        if self.tokens > self.limit:
            self.tokens = self.start + rng.randint(0, 600)
        return round(self.tokens * self.scale), round(rng.randint(60, 420) * self.scale)


class Project:
    """What the agent is looking at: the files it touched lately come back more often, and it
    writes only files it has just read. ``focus``, when set, is all it looks at."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.recent: list[str] = []
        self.read: list[str] = []  # files read successfully, the latest first
        self.focus: tuple[str, ...] | None = None

    def file(self, choices: tuple[str, ...] = FILES) -> str:
        rng = self.rng
        choices = self.focus or choices
        recent = [f for f in self.recent if f in choices]
        path = rng.choice(recent) if recent and rng.random() < 0.6 else rng.choice(choices)
        if path in self.recent:
            self.recent.remove(path)
        self.recent = [path, *self.recent][:4]
        return path

    def words(self) -> dict[str, str]:
        rng = self.rng
        return {
            "file": self.file(),
            "test": self.file(TESTS),
            "func": rng.choice(FUNCTIONS),
            "pattern": rng.choice(PATTERNS),
        }


def saying(rng: random.Random, project: Project, hedged_share: float = HEDGED_SHARE) -> str:
    """One or two sentences of on-task model output."""
    sentences = []
    for _ in range(rng.choice((1, 2, 2))):
        pool = _HEDGED if rng.random() < hedged_share else _SAYINGS
        sentences.append(rng.choice(pool).format(**project.words()))
    return " ".join(sentences)


def tool_call(rng: random.Random, project: Project) -> tuple[str, dict[str, object], bool]:
    """(tool, arguments, command tool?) of an ordinary call. Writes go to files read lately."""
    roll = rng.random()
    if roll < 0.35:
        return "file_read", {"path": project.file()}, False
    if roll < 0.50:
        where = rng.choice(("utils", "export", "."))
        return "text_grep", {"pattern": rng.choice(PATTERNS), "path": where}, False
    if roll < 0.55:
        return "list_dir", {"path": rng.choice(("utils", "export", "tests", "docs"))}, False
    if roll < 0.70:
        if not project.read:
            return "file_read", {"path": project.file()}, False
        return "file_write", {"path": project.read[0], "content": f"# revision {rng.randrange(1000)}"}, False
    if roll < 0.90:
        target = rng.choice((*TESTS, "tests/"))
        args: dict[str, object] = {"target": target}
        if rng.random() < 0.3:
            args["k"] = rng.choice(FUNCTIONS)
        return "pytest", args, True
    if roll < 0.95:
        return "git_diff", {"path": project.file(SOURCES)}, True
    return "ruff", {"path": rng.choice(("utils", "export", "."))}, True


def ordinary_tool(stream: EventStream, rng: random.Random, project: Project, fail_rate: float) -> None:
    """One ordinary tool call, failing with probability ``fail_rate`` (with the tool's error)."""
    name, args, command = tool_call(rng, project)
    error = _TOOL_ERRORS[name].format(**project.words()) if rng.random() < fail_rate else None
    stream.tool(name, args, error=error, isolation="command" if command else "thread")
    if name == "file_read" and error is None:
        project.read = [str(args["path"]), *project.read][:4]


class ToolWorker:
    """Ordinary work as tool calls only (native runs, or what hooks see)."""

    def __init__(self, stream: EventStream, rng: random.Random, *, fail_rate: float = 0.1) -> None:
        self.stream = stream
        self.rng = rng
        self.fail_rate = fail_rate
        self.project = Project(rng)

    def tool(self) -> None:
        ordinary_tool(self.stream, self.rng, self.project, self.fail_rate)

    def step(self) -> None:
        """One action."""
        self.tool()

    def work(self, actions: int) -> None:
        for _ in range(actions):
            self.step()


class AgentLoop(ToolWorker):
    """An agent on Soma doing ordinary work: model call, one or two tool calls, repeat."""

    def __init__(self, stream: EventStream, rng: random.Random, *, fail_rate: float = 0.1) -> None:
        super().__init__(stream, rng, fail_rate=fail_rate)
        self.context = Context(rng)
        self.hedged_share = HEDGED_SHARE
        self._tools_left = 0  # tool calls left in the current turn

    def model_call(self, text: str | None = None) -> None:
        rng = self.rng
        input_tokens, output_tokens = self.context.call()
        if rng.random() < self.fail_rate:
            self.stream.llm(rng.choice(_MODEL_ERRORS), input_tokens=0, output_tokens=0, failed=True)
            return
        text = text if text is not None else saying(rng, self.project, self.hedged_share)
        self.stream.llm(text, input_tokens=input_tokens, output_tokens=output_tokens)

    def step(self) -> None:
        """One action: the model call that opens a turn, or one of the turn's tool calls."""
        if self._tools_left:
            self._tools_left -= 1
            self.tool()
        else:
            self._tools_left = 1 if self.rng.random() < 0.7 else 2
            self.model_call()
