"""gen_server callbacks for the triotp peer (triotp's gen_server takes a module of them).

The state is a :class:`Hooks`: how the benchmark learns that a server has started, that a
handler is blocked, and when that handler's cleanup ran.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import trio
from triotp import gen_server


def _nothing() -> None:
    pass


@dataclass
class Hooks:
    started: Callable[[], None] = _nothing
    entered: Callable[[], None] = _nothing
    cleaned: Callable[[], None] = _nothing


async def init(hooks: Hooks) -> Hooks:
    hooks.started()
    return hooks


async def handle_call(message: Any, _caller: Any, hooks: Hooks) -> tuple[Any, Hooks]:
    return gen_server.Reply(payload=message), hooks


async def handle_cast(message: Any, hooks: Hooks) -> tuple[Any, Hooks]:
    if message == "stop":
        return gen_server.Stop(), hooks
    if message == "block":
        hooks.entered()
        try:
            await trio.sleep_forever()
        finally:
            hooks.cleaned()
    return gen_server.NoReply(), hooks
