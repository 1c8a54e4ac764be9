"""The built-in tools, and the confinement of the file tools to their root."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import anyio
import pytest

from soma_runtime.tools import builtin
from soma_runtime.tools.builtin import (
    BUILTIN_TOOLS,
    echo,
    fail,
    file_read,
    file_write,
    sleep,
    text_grep,
    text_head,
)
from soma_runtime.tools.errors import (
    PathOutsideRoot,
    ToolArgumentsError,
    ToolFailed,
    ToolOutputTooLarge,
)
from soma_runtime.tools.spec import Effect, Isolation, ToolContext, ToolSpec

pytestmark = pytest.mark.anyio


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    root.mkdir()
    return root


async def call(spec: ToolSpec, root: Path | None = None, **args: Any) -> Any:
    ctx = ToolContext(spec.name, "tc-1", root=root if root is not None else Path.cwd())
    return await spec.invoke(spec.validate_args(args), ctx)


def test_the_builtin_set_and_its_declared_effects() -> None:
    specs = {spec.name: spec for spec in BUILTIN_TOOLS}
    assert list(specs) == ["echo", "sleep", "fail", "file_read", "file_write", "text_grep", "text_head"]
    assert {n for n, s in specs.items() if s.effect is Effect.PURE} == {"echo", "sleep", "fail"}
    assert {n for n, s in specs.items() if s.effect is Effect.READ} == {"file_read", "text_grep", "text_head"}
    assert (file_write.effect, file_write.destructive, file_write.idempotent) == (Effect.STATE, True, True)
    assert [n for n, s in specs.items() if s.destructive] == ["file_write"]
    # File I/O never blocks the event loop.
    assert {s.isolation for s in (file_read, file_write, text_grep, text_head)} == {Isolation.THREAD}
    assert all(spec.description for spec in BUILTIN_TOOLS)


async def test_echo_returns_its_value() -> None:
    assert await call(echo, value={"a": [1, "b", None]}) == {"a": [1, "b", None]}
    with pytest.raises(ToolArgumentsError, match="value: missing required argument"):
        echo.validate_args({})


async def test_sleep_sleeps_and_is_cancelled_at_once() -> None:
    assert await call(sleep, seconds=0) == 0
    with anyio.move_on_after(0.05) as scope:
        await call(sleep, seconds=60)
    assert scope.cancelled_caught
    for bad in (-1, float("inf"), "soon"):
        with pytest.raises(ToolArgumentsError, match="seconds"):
            sleep.validate_args({"seconds": bad})


async def test_fail_fails_with_its_message() -> None:
    with pytest.raises(ToolFailed) as info:
        await call(fail)
    assert str(info.value) == "tool 'fail' failed: failed"
    with pytest.raises(ToolFailed, match=r"^tool 'fail' failed: boom$"):
        await call(fail, message="boom")


async def test_file_write_then_read_round_trips_and_creates_directories(root: Path) -> None:
    assert await call(file_write, root, path="notes/a.txt", content="héllo\n") == {
        "path": "notes/a.txt",
        "bytes": 7,
    }
    assert (root / "notes" / "a.txt").read_text(encoding="utf-8") == "héllo\n"
    assert await call(file_read, root, path="notes/a.txt") == "héllo\n"
    # Writing again replaces the file (idempotent), leaving no temporary files behind.
    await call(file_write, root, path="notes/a.txt", content="second")
    assert await call(file_read, root, path=str(root / "notes" / "a.txt")) == "second"
    assert os.listdir(root / "notes") == ["a.txt"]


async def test_reading_a_missing_file_or_a_directory_fails_clearly(root: Path) -> None:
    with pytest.raises(ToolFailed, match="tool 'file_read' failed: FileNotFoundError"):
        await call(file_read, root, path="missing.txt")
    with pytest.raises(ToolFailed, match="IsADirectoryError"):
        await call(file_read, root, path=".")
    with pytest.raises(ToolArgumentsError, match="path: String should have at least 1 character"):
        file_read.validate_args({"path": ""})


async def test_file_read_refuses_files_over_the_cap(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(builtin, "MAX_FILE_BYTES", 10)
    (root / "big.txt").write_text("x" * 11)
    with pytest.raises(ToolOutputTooLarge, match="more than 10 bytes of file content"):
        await call(file_read, root, path="big.txt")


async def test_text_grep_returns_numbered_matching_lines(root: Path) -> None:
    (root / "log.txt").write_text("start\nerror: disk\nok\nERROR: net\n")
    assert await call(text_grep, root, pattern="(?i)^error", path="log.txt") == [
        {"line": 2, "text": "error: disk"},
        {"line": 4, "text": "ERROR: net"},
    ]
    assert await call(text_grep, root, pattern="absent", path="log.txt") == []


def test_an_invalid_regex_is_refused_before_grep_runs() -> None:
    with pytest.raises(ToolArgumentsError) as info:
        text_grep.validate_args({"pattern": "(unclosed", "path": "log.txt"})
    assert info.value.fields == ("pattern",)
    assert "invalid regular expression: missing ), unterminated subpattern" in str(info.value)


async def test_text_head_returns_the_first_lines(root: Path) -> None:
    (root / "f.txt").write_text("".join(f"line {n}\n" for n in range(1, 21)))
    assert await call(text_head, root, path="f.txt", lines=2) == "line 1\nline 2\n"
    assert (await call(text_head, root, path="f.txt")).count("\n") == 10
    assert await call(text_head, root, path="f.txt", lines=0) == ""
    with pytest.raises(ToolArgumentsError, match="lines: Input should be greater than or equal to 0"):
        text_head.validate_args({"path": "f.txt", "lines": -1})


# --------------------------------------------------------------------------- confinement

FILE_TOOLS: list[tuple[ToolSpec, dict[str, Any]]] = [
    (file_read, {}),
    (file_write, {"content": "x"}),
    (text_grep, {"pattern": "x"}),
    (text_head, {}),
]


@pytest.mark.parametrize(("spec", "extra"), FILE_TOOLS, ids=lambda v: getattr(v, "name", ""))
async def test_file_tools_refuse_paths_escaping_the_root(
    spec: ToolSpec, extra: dict[str, Any], root: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("secret\n")
    (root / "link").symlink_to(outside)  # a symlink inside the root pointing out of it
    (root / "dirlink").symlink_to(tmp_path)
    for path in ("../outside.txt", str(outside), "/etc/passwd", "link", "dirlink/outside.txt", "sub/../../x"):
        with pytest.raises(PathOutsideRoot) as info:
            await call(spec, root, path=path, **extra)
        assert info.value.tool == spec.name
        assert info.value.path == path
        assert f"path {path!r} is outside the tool root" in str(info.value)
    assert outside.read_text() == "secret\n"  # file_write did not get through either


async def test_symlinks_that_stay_inside_the_root_are_fine(root: Path) -> None:
    (root / "real.txt").write_text("inside\n")
    (root / "alias.txt").symlink_to(root / "real.txt")
    assert await call(file_read, root, path="alias.txt") == "inside\n"
    (root / "sub").mkdir()
    assert await call(file_read, root, path="sub/../real.txt") == "inside\n"
