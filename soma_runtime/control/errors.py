"""Typed errors of the control API, on both sides of the socket.

The server side raises :class:`ControlSocketError` when it cannot take its socket path (a
live runtime already listens there, or something that is not a socket is in the way). The
client side raises :class:`NoRuntimeListening` when nothing answers at the path, and
:class:`ControlError` when the runtime answered with an error reply; its ``code`` is one of
``protocol.ERROR_CODES``.
"""

from __future__ import annotations

import os


class ControlClientError(Exception):
    """Base class of what :class:`~soma_runtime.control.ControlClient` raises."""


class NoRuntimeListening(ControlClientError):
    """Nothing answers on the control socket ``path`` (missing, refused, or gone mid-request)."""

    def __init__(self, path: str | os.PathLike[str], problem: str) -> None:
        self.path = os.fspath(path)
        self.problem = problem
        super().__init__(f"no Soma runtime is listening on {self.path}: {problem}")


class ControlError(ControlClientError):
    """The runtime answered a request with an error reply."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        self.message = message
        super().__init__(f"{code}: {message}")


class ControlSocketError(OSError):
    """The control server cannot serve on ``path``; ``problem`` says why.

    Raised when ``Runtime.open(control=…)`` starts: another runtime is live on the path, the
    path is something other than a socket, or it is too long for a Unix socket.
    """

    def __init__(self, path: str | os.PathLike[str], problem: str) -> None:
        self.path = os.fspath(path)
        self.problem = problem
        super().__init__(f"cannot serve the control API on {self.path}: {problem}")
