"""The control API: a local Unix socket through which other processes see, steer and give work
to a live runtime (``Runtime.open(control=PATH)``, ``soma serve``).

Protocol (``protocol``): versioned JSON lines. Ops: ``hello``, ``sessions``, ``runs``,
``tree``, ``cancel_run``, ``start_run``, ``run_result``, ``follow``, and ``actors`` /
``send_task`` / ``cancel_task`` from the actor layer (``Runtime.add_control_op``).
``ControlClient`` is the Python side.

Names are imported on first use (``soma_runtime._lazy``): a command that only reports a
``ControlError`` must not load the server and the runtime behind it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

_EXPORTS = {
    "ControlClient": ".client",
    "ControlClientError": ".errors",
    "ControlError": ".errors",
    "ControlSocketError": ".errors",
    "NoRuntimeListening": ".errors",
    "ControlOps": ".ops",
    "Handler": ".ops",
    "PROTOCOL_VERSION": ".protocol",
    "CONTROL_NAME": ".server",
    "ControlServer": ".server",
}

__all__ = [
    "CONTROL_NAME",
    "PROTOCOL_VERSION",
    "ControlClient",
    "ControlClientError",
    "ControlError",
    "ControlOps",
    "ControlServer",
    "ControlSocketError",
    "Handler",
    "NoRuntimeListening",
]
assert set(__all__) == set(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:
    from .client import ControlClient
    from .errors import ControlClientError, ControlError, ControlSocketError, NoRuntimeListening
    from .ops import ControlOps, Handler
    from .protocol import PROTOCOL_VERSION
    from .server import CONTROL_NAME, ControlServer
