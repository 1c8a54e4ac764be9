"""Helpers for the control API tests: a raw line client, to send what ControlClient never would."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio

from soma_runtime.control._unix import UnixStream, connect_unix
from soma_runtime.control.protocol import LineReader


class RawClient:
    def __init__(self, stream: UnixStream) -> None:
        self.stream = stream
        self.reader = LineReader(stream, 1 << 24)

    async def send(self, data: bytes) -> None:
        await self.stream.send(data)

    async def reply(self) -> dict[str, Any]:
        with anyio.fail_after(5):
            line = await self.reader.next()
        assert line is not None, "the server closed the connection"
        reply: dict[str, Any] = json.loads(line)
        return reply

    async def ask(self, line: bytes | dict[str, Any]) -> dict[str, Any]:
        data = json.dumps(line).encode() if isinstance(line, dict) else line
        await self.send(data + b"\n")
        return await self.reply()


@asynccontextmanager
async def raw_client(path: Path) -> AsyncIterator[RawClient]:
    async with await connect_unix(path) as stream:
        yield RawClient(stream)
