"""A coding session as Claude Code's hooks record it: tool calls only, Claude Code's tool
names and arguments, the user's prompt as the intent.

The session is scripted after the shape of a typical one (not taken from a real recording):
the agent explores the project, reproduces a failing test, fixes it — the first try at each
fix fails about half the time, the second works —, runs the whole suite, fixes what lint and
the type checker find, renames a function across the project, adds a test and a doc line,
and wraps up: 117 tool calls, 11 of them failing — test runs, an ``Edit`` whose
``old_string`` was not found, a command that was not installed.
"""

from __future__ import annotations

from typing import Any, Final

from ._stream import EventStream

PROMPT: Final = (
    "The CSV export drops rows whose date has a timezone offset. Fix parse_date in utils/dates.py, "
    "make tests/test_export.py pass, and keep lint and mypy clean."
)

_FAILED_TESTS: Final = "Exit code 1\nFAILED tests/test_export.py::test_offset_rows - AssertionError: 3 != 4"
_FAILED_SUITE: Final = "Exit code 1\nFAILED tests/test_dates.py::test_naive_dates - TypeError: can't compare"
_NOT_FOUND: Final = "String to replace not found in file."

Step = tuple[str, dict[str, Any], str | None]
"""(tool, tool_input, error or None) of one call."""


def _read(path: str) -> Step:
    return ("Read", {"file_path": path}, None)


def _edit(path: str, old: str, new: str, error: str | None = None) -> Step:
    return ("Edit", {"file_path": path, "old_string": old, "new_string": new}, error)


def _bash(command: str, error: str | None = None) -> Step:
    return ("Bash", {"command": command, "description": command.split()[0]}, error)


def _grep(pattern: str, path: str = ".") -> Step:
    return ("Grep", {"pattern": pattern, "path": path, "output_mode": "content"}, None)


_TEST_EXPORT: Final = "python -m pytest tests/test_export.py -q"
_SUITE: Final = "python -m pytest -q"


def _explore() -> list[Step]:
    return [
        ("TodoWrite", {"todos": ["reproduce", "fix parse_date", "run suite", "lint", "test", "docs"]}, None),
        ("Glob", {"pattern": "**/*.py"}, None),
        _read("README.md"),
        _grep("parse_date"),
        _read("utils/dates.py"),
        _read("export/csv.py"),
        _grep("def test_", "tests/test_export.py"),
        _read("tests/test_export.py"),
        _grep("tzinfo", "utils"),
        _read("utils/formats.py"),
        _bash("git log --oneline -5"),
        _bash(_TEST_EXPORT, _FAILED_TESTS),
        _read("tests/conftest.py"),
        _read("export/rows.py"),
        _grep("utcoffset"),
        _read("utils/timezones.py"),
    ]


def _fix(path: str, test: str, tries: int, tag: str) -> list[Step]:
    """Edit, run the test; ``tries`` edits until it passes (each failed run is read back)."""
    steps: list[Step] = []
    for attempt in range(tries):
        last = attempt == tries - 1
        steps.append(_edit(path, f"old {tag} {attempt}", f"new {tag} {attempt}"))
        steps.append(_bash(test, None if last else _FAILED_TESTS))
        if not last:
            steps.append(_read(path))
    return steps


def _rename(old: str, new: str) -> list[Step]:
    """A rename across the project: find every use, edit each file, run what covers it."""
    files = ("utils/dates.py", "utils/formats.py", "export/csv.py", "export/rows.py", "cli/main.py")
    tests = ("tests/test_dates.py", "tests/test_export.py", "tests/test_formats.py", "tests/test_cli.py")
    steps: list[Step] = [_grep(old), ("TodoWrite", {"todos": [f"rename {old}"]}, None)]
    for path in files:
        steps += [_read(path), _edit(path, f"def {old}(" if path == files[0] else old, new)]
    steps.append(_bash(_SUITE, "Exit code 1\nE   ImportError: cannot import name 'parse_date' from 'utils'"))
    steps += [_read("utils/__init__.py"), _edit("utils/__init__.py", old, new)]
    for path in tests:
        steps += [_grep(old, path), _read(path), _edit(path, old, new)]
    steps += [_bash(_SUITE), _grep(old), _read("docs/export.md"), _edit("docs/export.md", old, new)]
    return steps


def steps() -> list[Step]:
    """The whole session, in order."""
    session: list[Step] = _explore()
    session += _fix("utils/dates.py", _TEST_EXPORT, 2, "offset")
    session += [
        _bash(_SUITE, _FAILED_SUITE),
        _read("tests/test_dates.py"),
        _grep("naive", "utils/dates.py"),
        _edit("utils/dates.py", "if value.tzinfo", "if value.tzinfo is not None", _NOT_FOUND),
        _read("utils/dates.py"),
        _edit("utils/dates.py", "if dt.tzinfo", "if dt.tzinfo is not None"),
        _bash(_SUITE),
        ("TodoWrite", {"todos": ["lint", "test", "docs"]}, None),
        _bash("ruff check .", "Exit code 1\nutils/dates.py:41:89: E501 Line too long (97 > 88)"),
        _read("utils/dates.py"),
        _edit("utils/dates.py", "long line", "wrapped line"),
        _bash("ruff check ."),
        _bash("mypy utils", "Exit code 1\nutils/dates.py:12: error: Missing return statement"),
        _edit("utils/dates.py", "    if not value:", "    if not value:\n        return None"),
        _bash("mypy utils"),
        _bash("pyright utils", "Exit code 127\nbash: pyright: command not found"),
        _read("tests/test_export.py"),
        _grep("def test_offset", "tests"),
        _edit("tests/test_export.py", "def test_offset_rows", "def test_offset_rows_keep_order"),
        ("Write", {"file_path": "tests/data/offsets.csv", "content": "date,amount\n"}, None),
    ]
    session += _fix("tests/test_export.py", _TEST_EXPORT, 1, "fixture")
    session += [_grep("to_csv", "export"), _read("export/csv.py"), _read("export/rows.py")]
    session += _fix("export/csv.py", _TEST_EXPORT, 2, "rows")
    session += [
        _read("utils/formats.py"),
        _edit("utils/formats.py", "ISO", "ISO_WITH_OFFSET"),
        _bash("python -m pytest tests/test_formats.py -q"),
        _grep("ISO", "cli"),
        _read("cli/main.py"),
        _edit("cli/main.py", "formats.ISO", "formats.ISO_WITH_OFFSET"),
        _bash("python -m pytest tests/test_cli.py -q", "Exit code 1\nFAILED tests/test_cli.py::test_export"),
        _read("tests/test_cli.py"),
        _edit("tests/test_cli.py", "+00:00", "+02:00"),
        _bash("python -m pytest tests/test_cli.py -q"),
    ]
    for module in ("dates", "formats", "timezones"):
        session += [
            _read(f"utils/{module}.py"),
            _grep(f"from utils.{module}", "."),
            _edit(f"utils/{module}.py", f'"""{module}."""', f'"""{module}: offsets are kept."""'),
        ]
    session += _fix("utils/timezones.py", "python -m pytest tests/test_dates.py -q", 2, "tz")
    session += _rename("parse_date", "parse_timestamp")
    session += [
        _read("docs/export.md"),
        _edit("docs/export.md", "## Dates", "## Dates\n\nOffsets are kept."),
        _bash(_SUITE),
        _bash("ruff check ."),
        _bash("mypy utils export"),
        _bash("git status --short"),
        _bash("git diff --stat"),
        _read("CHANGELOG.md"),
        _edit("CHANGELOG.md", "## Unreleased", "## Unreleased\n\n- CSV export keeps offsets."),
        _bash("git diff CHANGELOG.md"),
        ("TodoWrite", {"todos": []}, None),
    ]
    return session


def record(stream: EventStream) -> None:
    """The session's prompt (its intent) and its tool calls, as hook events."""
    stream.add("actor.task.started", {"prompt": PROMPT})
    for tool, tool_input, error in steps():
        stream.tool(tool, tool_input, error=error, isolation=None)
