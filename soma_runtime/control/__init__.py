"""The control API: a local Unix socket through which other processes see and steer a live
runtime (``Runtime.open(control=PATH)``, ``soma serve``).

Protocol (``protocol``): versioned JSON lines. Ops: ``hello``, ``sessions``, ``runs``,
``tree``, ``cancel_run``, ``follow``, and ``actors`` / ``cancel_task`` from the actor layer
(``Runtime.add_control_op``). ``ControlClient`` is the Python side.
"""

from .client import ControlClient
from .errors import ControlClientError, ControlError, ControlSocketError, NoRuntimeListening
from .ops import ControlOps, Handler
from .protocol import PROTOCOL_VERSION
from .server import CONTROL_NAME, ControlServer

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
