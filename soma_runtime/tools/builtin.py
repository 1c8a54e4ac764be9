"""The built-in tools: ``echo``, ``sleep``, ``fail`` and confined file/text tools.

File tools work inside ``ctx.root`` only. A path is resolved against the root *after*
following symlinks, so ``..``, an absolute path elsewhere, or a symlink pointing out are all
refused with :class:`~soma_runtime.tools.errors.PathOutsideRoot`. (The check and the use are
two steps: a process that can swap a checked directory for a symlink in between can defeat
it. The root is a guard against an agent's mistakes, not a sandbox against a local attacker.)

File tools are sync and run with ``thread`` isolation, so file I/O never blocks the loop.
``text_grep`` uses Python's ``re``, which cannot be interrupted: a pathological pattern
keeps its (abandoned) thread busy after a timeout.
"""

from __future__ import annotations

import itertools
import os
import re
import uuid
from pathlib import Path
from typing import Annotated, Any, NoReturn

import anyio
from pydantic import AfterValidator, Field

from .errors import PathOutsideRoot, ToolFailed, ToolOutputTooLarge
from .spec import ToolContext, ToolSpec, tool

__all__ = [
    "BUILTIN_TOOLS",
    "MAX_FILE_BYTES",
    "echo",
    "fail",
    "file_read",
    "file_write",
    "sleep",
    "text_grep",
    "text_head",
]

#: Largest file the read/grep tools load: their output goes into events.
MAX_FILE_BYTES = 10 * 1024 * 1024


def _plain_path(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain a NUL byte")
    return value


def _regex(value: str) -> str:
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"invalid regular expression: {exc}") from None
    return value


# Validated in the argument model, so a bad path or pattern never reaches the tool.
PathArg = Annotated[str, Field(min_length=1), AfterValidator(_plain_path)]
Pattern = Annotated[str, AfterValidator(_regex)]


@tool(effect="pure", idempotent=True)
async def echo(value: Any) -> Any:
    """Return ``value`` unchanged."""
    return value


@tool(effect="pure", idempotent=True)
async def sleep(seconds: Annotated[float, Field(ge=0, allow_inf_nan=False)]) -> float:
    """Sleep ``seconds`` (cooperatively: cancelling it stops it at once); returns ``seconds``."""
    await anyio.sleep(seconds)
    return seconds


@tool(effect="pure", idempotent=True)
async def fail(message: str = "failed") -> NoReturn:
    """Fail with ``message`` (a test and demo tool)."""
    raise ToolFailed("fail", message)


@tool(effect="read", idempotent=True)
def file_read(path: PathArg, ctx: ToolContext) -> str:
    """Read a UTF-8 text file under the tool root (invalid bytes are replaced)."""
    _, target = _confine("file_read", ctx.root, path)
    return _read_text("file_read", target)


@tool(effect="state", idempotent=True, destructive=True)
def file_write(path: PathArg, content: str, ctx: ToolContext) -> dict[str, Any]:
    """Write ``content`` (UTF-8) to a file under the tool root, replacing it atomically;
    missing parent directories are created. Returns the relative path and byte count."""
    root, target = _confine("file_write", ctx.root, path)
    target.parent.mkdir(parents=True, exist_ok=True)
    data = content.encode("utf-8")
    # Write beside the target and rename over it: readers see the old file or the new one,
    # never a half-written one, and a retry (idempotent) simply writes it again.
    temporary = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    try:
        temporary.write_bytes(data)
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)
    return {"path": target.relative_to(root).as_posix(), "bytes": len(data)}


@tool(effect="read", idempotent=True)
def text_grep(pattern: Pattern, path: PathArg, ctx: ToolContext) -> list[dict[str, Any]]:
    """Lines of a text file under the tool root matching a regular expression (``re.search``),
    as ``{"line": number, "text": line}`` with 1-based numbers."""
    _, target = _confine("text_grep", ctx.root, path)
    regex = re.compile(pattern)
    lines = _read_text("text_grep", target).splitlines()
    return [{"line": n, "text": line} for n, line in enumerate(lines, start=1) if regex.search(line)]


@tool(effect="read", idempotent=True)
def text_head(path: PathArg, ctx: ToolContext, lines: Annotated[int, Field(ge=0)] = 10) -> str:
    """The first ``lines`` lines of a text file under the tool root."""
    _, target = _confine("text_head", ctx.root, path)
    with target.open(encoding="utf-8", errors="replace", newline="") as handle:
        return "".join(itertools.islice(handle, lines))


def _confine(tool_name: str, root: Path, path: str) -> tuple[Path, Path]:
    """(resolved root, resolved target), or PathOutsideRoot if the target leaves the root."""
    base = root.resolve()
    # resolve() follows every symlink on the way, so where the path *really* points is checked.
    target = (base / path).resolve()
    if not target.is_relative_to(base):
        raise PathOutsideRoot(tool_name, path, str(base))
    return base, target


def _read_text(tool_name: str, target: Path) -> str:
    with target.open("rb") as handle:
        data = handle.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise ToolOutputTooLarge(tool_name, MAX_FILE_BYTES, "file content")
    return data.decode("utf-8", errors="replace")


BUILTIN_TOOLS: list[ToolSpec] = [echo, sleep, fail, file_read, file_write, text_grep, text_head]
