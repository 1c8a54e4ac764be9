"""A ``soma serve --config`` subprocess for the tests that drive a runtime from outside."""

from __future__ import annotations

import json
import signal
import textwrap
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
from _cli import SOMA, clean_env
from anyio.abc import Process
from anyio.streams.buffered import BufferedByteReceiveStream

TOOLS_MODULE = '''
from soma_runtime import tool


@tool(effect="pure")
def shout(text: str) -> str:
    """Upper-case the text."""
    return text.upper()


def whisper(text: str) -> str:
    return text.lower()
'''

CONFIG = """
db = "served.db"
control = "served.sock"
tools = ["served_tools", "served_tools:whisper"]

[agents.greeter]
provider = "scripted"
script = [
  { use_tools = [{ tool = "shout", args = { text = "hi" } }] },
  { reply = "said HI" },
]
repeat = true

[agents.greeter.policy]
tools = ["shout"]

[agents.greeter.budget]
max_model_calls = 4

[agents.ponder]
provider = "scripted"
script = [{ reply = "finally", delay = 120 }]
repeat = true
"""


@dataclass
class Served:
    """A runtime served from ``dir`` (its config, db and socket are there)."""

    dir: Path
    db: Path
    sock: Path
    proc: Process
    serving: dict[str, Any]

    async def soma(self, *args: str, stdin: bytes | None = None) -> tuple[int, str, str]:
        command = [*SOMA, *args]
        done = await anyio.run_process(command, input=stdin, check=False, env=clean_env(), cwd=self.dir)
        return done.returncode, done.stdout.decode(), done.stderr.decode()


def write_project(dir: Path, config: str = CONFIG) -> Path:
    (dir / "served_tools.py").write_text(textwrap.dedent(TOOLS_MODULE))
    path = dir / "soma.toml"
    path.write_text(textwrap.dedent(config))
    return path


@asynccontextmanager
async def served(dir: Path, config: str = CONFIG) -> AsyncIterator[Served]:
    """``soma serve --config soma.toml`` in ``dir`` until the block ends (then SIGTERM, and
    a clean exit is asserted)."""
    write_project(dir, config)
    command = [*SOMA, "--log-json", "serve", "--config", "soma.toml"]
    async with await anyio.open_process(command, env=clean_env(), cwd=dir) as proc:
        assert proc.stderr is not None
        stderr = BufferedByteReceiveStream(proc.stderr)
        record: dict[str, Any] = {}
        with anyio.fail_after(30):
            while record.get("event") != "serving":
                record = json.loads(await stderr.receive_until(b"\n", 1 << 16))
        try:
            yield Served(dir, dir / "served.db", dir / "served.sock", proc, record)
        finally:
            proc.send_signal(signal.SIGTERM)
            with anyio.fail_after(30):
                assert await proc.wait() == 0
