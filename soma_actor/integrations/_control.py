"""A runtime's control socket, asked from a plain blocking socket.

``soma hook`` asks a running ``soma serve`` to record for it, and must not pay for anyio (or
``ControlClient``'s event envelopes) to do so: one Unix socket, one JSON line out, one back
(protocol v1, ``soma_runtime.control.protocol``). A wrapped SDK client with ``control=`` asks
the same way, from whatever thread it runs in.
"""

from __future__ import annotations

import json

# The C module, not ``socket``: the wrapper imports ``selectors`` and friends, which cost a
# hook more than the request it sends (a plain connect/send/recv needs none of them).
from _socket import AF_UNIX, SOCK_STREAM, socket

from ._ledger import Draft, Facts, Outcome

TYPE_CHECKING = False  # not typing's: see _ledger

if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

PROTOCOL_VERSION = 1
MAX_REPLY = 16 * 1024 * 1024


class Unreachable(Exception):
    """No runtime answered on the socket (none there, a stale file, a timeout)."""


class Refused(Exception):
    """The runtime answered with an error (``code`` as in the control protocol)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def request(path: str, op: str, params: dict[str, Any], *, timeout: float) -> Any:
    """Send one request and return its result."""
    try:
        sock = socket(AF_UNIX, SOCK_STREAM)
        try:
            sock.settimeout(timeout)
            sock.connect(path)
            line = {"v": PROTOCOL_VERSION, "id": 1, "op": op, **params}
            sock.sendall(json.dumps(line, separators=(",", ":"), allow_nan=False).encode() + b"\n")
            reply = _read_line(sock)
        finally:
            sock.close()
    except (OSError, ValueError) as exc:  # timeouts are OSErrors; ValueError: a path too long
        raise Unreachable(f"{path}: {exc}") from None
    try:
        data = json.loads(reply)
    except ValueError:
        raise Unreachable(f"{path}: a reply that is not JSON: {reply[:80]!r}") from None
    if not isinstance(data, dict) or data.get("v") != PROTOCOL_VERSION:
        raise Unreachable(f"{path}: not a Soma control socket of protocol v{PROTOCOL_VERSION}")
    if data.get("ok") is True:
        return data.get("result")
    error = data.get("error")
    if not isinstance(error, dict):
        error = {}
    raise Refused(str(error.get("code", "internal")), str(error.get("message", "")))


def _read_line(sock: socket) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            raise OSError("the runtime closed the connection")
        end = chunk.find(b"\n")
        if end >= 0:
            chunks.append(chunk[:end])
            return b"".join(chunks)
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_REPLY:
            raise OSError("a reply longer than the client accepts")


class ControlLedger:
    """A :class:`~soma_actor.integrations._ledger.Ledger` served by a runtime (``served``)."""

    def __init__(self, path: str, *, timeout: float = 10.0) -> None:
        self.path = path
        self.timeout = timeout

    def facts(self, agent_id: str, sessions: Sequence[str], task_agent: str | None) -> Facts:
        params = {"agent_id": agent_id, "sessions": list(sessions), "task_agent": task_agent}
        return Facts.from_json(request(self.path, "vitals_facts", params, timeout=self.timeout))

    def exchange(self, drafts: Sequence[Draft], agent_id: str, channel: str | None) -> Outcome:
        params = {"events": [d.to_json() for d in drafts], "agent_id": agent_id, "channel": channel}
        return Outcome.from_json(request(self.path, "vitals_exchange", params, timeout=self.timeout))
