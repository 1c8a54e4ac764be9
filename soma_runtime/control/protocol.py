"""The control protocol: versioned JSON lines over a Unix socket.

A request is one JSON object on one line::

    {"v": 1, "id": 7, "op": "cancel_run", "run_id": "run-…"}

``id`` (an int or a string) is echoed in the reply; every other key besides ``v`` and ``op``
is a parameter of the op. A reply is one line too::

    {"v": 1, "id": 7, "ok": true, "result": …}
    {"v": 1, "id": 7, "ok": false, "error": {"code": "not_found", "message": "…"}}

``follow`` first replies ``ok`` (``result``: ``{"from_seq": …}``), then streams one line per
event, ``{"v": 1, "id": 7, "event": {…the envelope as JSON…}}``, until the client closes.

The ops of protocol v1, and what each returns (the views below):

==============  =========================================================  ==================
op              parameters                                                 result
==============  =========================================================  ==================
``hello``       —                                                          ``HelloView``
``sessions``    —                                                          ``[SessionView]``
``runs``        ``recent`` (finished runs listed, default 20)              ``[RunView]``
``tree``        —                                                          ``[ProcessView]``
``cancel_run``  ``run_id``                                                 ``RunResultView``
``start_run``   ``steps`` (``Step.to_json`` objects), ``agent_id`` or      ``StartedRunView``
                ``session_id``, ``timeout``, ``wait``                      (``wait``: result)
``run_result``  ``run_id`` (waits for the run to end)                      ``RunResultView``
``follow``      ``from_seq``, ``types``, ``run_id``, ``session_id``,       a stream of events
                ``agent_id``, ``correlation_id``
``actors``      —  (the actor layer)                                       ``[actor]``
``send_task``   ``actor_id``, ``message``, ``timeout``, ``wait``           ``TaskStartedView``
                                                                           (``wait``: result)
``cancel_task`` ``task_id``                                                the task's result
==============  =========================================================  ==================

New ops and new optional parameters keep the version; a change to what an existing op takes
or returns would be v2.

Requests on one connection are answered in order. A line that is not a valid request gets an
error reply (``id`` null when the line had none to echo) and the connection keeps serving; so
does a line longer than :data:`MAX_REQUEST_BYTES`, whose bytes are discarded unread.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Final, Literal, TypedDict

from anyio import EndOfStream
from anyio.abc import ByteReceiveStream

PROTOCOL_VERSION: Final = 1

BAD_REQUEST: Final = "bad_request"
UNKNOWN_OP: Final = "unknown_op"
NOT_FOUND: Final = "not_found"
VERSION: Final = "version"
INTERNAL: Final = "internal"
ERROR_CODES: Final = frozenset({BAD_REQUEST, UNKNOWN_OP, NOT_FOUND, VERSION, INTERNAL})

MAX_REQUEST_BYTES: Final = 64 * 1024
"""A request line longer than this is refused (requests are small; events flow the other way)."""

MAX_REPLY_BYTES: Final = 64 * 1024 * 1024
"""What a client accepts as one reply line: a large tree or a 1 MiB event fits many times."""

RequestId = int | str | None

_RESERVED: Final = frozenset({"v", "id", "op"})


# --------------------------------------------------------------------------- wire shapes
# What the built-in ops return, as the JSON a client receives (``ControlClient`` returns these).


class LiveRunView(TypedDict):
    run_id: str
    state: str


class SessionView(TypedDict):
    session_id: str
    agent_id: str
    pid: str
    status: Literal["alive", "unresponsive"]
    live_runs: list[LiveRunView]
    finished_runs: int
    destructive_blocked: bool
    pending_guidance: int


class RunView(TypedDict):
    run_id: str
    state: str
    live: bool
    session_id: str | None
    agent_id: str | None
    pid: str | None
    step_id: str | None
    step_index: int | None
    steps: int | None
    tool_call_id: str | None
    error: str | None


class ProcessView(TypedDict):
    pid: str
    name: str | None
    child_id: str | None
    behaviour: str
    module: str
    status: str
    state: str | None
    queue_depth: int
    current_message: str | None
    children: list[ProcessView]


class RunResultView(TypedDict):
    run_id: str
    state: str
    outputs: dict[str, Any]
    error: str | None
    session_id: str | None


class StartedRunView(TypedDict):
    """``start_run`` without ``wait``: where the run was started."""

    run_id: str
    session_id: str
    agent_id: str


class TaskStartedView(TypedDict):
    """``send_task`` without ``wait``: the task the actor took on."""

    task_id: str
    correlation_id: str
    actor_id: str


class HelloView(TypedDict):
    protocol: int
    soma: str
    os_pid: int
    db: str
    control: str
    last_seq: int
    ops: list[str]
    actor_layer: bool


# --------------------------------------------------------------------------- requests


class ProtocolError(Exception):
    """A request the server cannot serve; becomes an error reply with ``code``."""

    def __init__(self, code: str, message: str, request_id: RequestId = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.request_id = request_id


@dataclass(frozen=True, slots=True)
class Request:
    id: int | str
    op: str
    params: dict[str, Any]


def parse_request(line: bytes) -> Request:
    """One request line → :class:`Request`; :class:`ProtocolError` says what was wrong."""
    try:
        data = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ProtocolError(BAD_REQUEST, f"request is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ProtocolError(BAD_REQUEST, f"request must be a JSON object, got {type(data).__name__}")
    rid = data.get("id")
    if isinstance(rid, bool) or not isinstance(rid, int | str):
        raise ProtocolError(BAD_REQUEST, f"request 'id' must be an int or a string, got {rid!r:.80}")
    version = data.get("v")
    if version != PROTOCOL_VERSION:
        message = f"protocol version {version!r:.40} is not spoken here (this runtime: v{PROTOCOL_VERSION})"
        raise ProtocolError(VERSION, message, rid)
    op = data.get("op")
    if not isinstance(op, str) or not op:
        raise ProtocolError(BAD_REQUEST, f"request 'op' must be a non-empty string, got {op!r:.80}", rid)
    params = {k: v for k, v in data.items() if k not in _RESERVED}
    return Request(rid, op, params)


def request_line(request_id: int | str, op: str, params: dict[str, Any]) -> bytes:
    clash = _RESERVED & params.keys()
    if clash:
        raise ValueError(f"parameter names {sorted(clash)} are reserved by the protocol")
    return _line({"v": PROTOCOL_VERSION, "id": request_id, "op": op, **params})


# --------------------------------------------------------------------------- replies


def ok_reply(request_id: RequestId, result: Any) -> bytes:
    """Raises ``TypeError``/``ValueError`` if ``result`` is not JSON (the caller reports it)."""
    return _line({"v": PROTOCOL_VERSION, "id": request_id, "ok": True, "result": result})


def error_reply(request_id: RequestId, code: str, message: str) -> bytes:
    error = {"code": code, "message": message}
    return _line({"v": PROTOCOL_VERSION, "id": request_id, "ok": False, "error": error})


def event_line(request_id: RequestId, event: dict[str, Any]) -> bytes:
    return _line({"v": PROTOCOL_VERSION, "id": request_id, "event": event})


def _line(obj: dict[str, Any]) -> bytes:
    # allow_nan=False: NaN is not JSON, and a client in another language would choke on it.
    return json.dumps(obj, separators=(",", ":"), allow_nan=False).encode() + b"\n"


# --------------------------------------------------------------------------- framing


class LineTooLong(Exception):
    """A line exceeded the reader's limit; its bytes were discarded up to its newline."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"line longer than {limit} bytes (discarded)")
        self.limit = limit


class LineReader:
    """Newline-delimited frames from a byte stream, each at most ``limit`` bytes.

    An over-long line never sits in memory: once the limit is passed its bytes are dropped as
    they arrive, and :meth:`next` raises :class:`LineTooLong` when its newline comes, so the
    reader is positioned on the next line and the connection can go on.
    """

    def __init__(self, stream: ByteReceiveStream, limit: int) -> None:
        self._stream = stream
        self._limit = limit
        self._buffer = bytearray()
        self._eof = False

    async def next(self) -> bytes | None:
        """The next line without its newline; None at the end of the stream."""
        discarding = False
        while True:
            end = self._buffer.find(b"\n")
            if end >= 0:
                line = bytes(self._buffer[:end])
                del self._buffer[: end + 1]
                if discarding or len(line) > self._limit:
                    raise LineTooLong(self._limit)
                return line
            if len(self._buffer) > self._limit:
                discarding = True
                self._buffer.clear()
            if self._eof:
                if discarding:
                    raise LineTooLong(self._limit)
                if not self._buffer:
                    return None
                line = bytes(self._buffer)  # a last line without its newline still counts
                self._buffer.clear()
                return line
            try:
                self._buffer += await self._stream.receive(65536)
            except EndOfStream:
                self._eof = True
