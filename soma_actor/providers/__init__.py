"""Model providers. ``ScriptedModel`` needs nothing; the SDK-backed providers import their
SDK only when constructed."""

from .scripted import ScriptedModel, after, delayed, fail, message_actor, reject, reply, responding, use_tools

__all__ = [
    "ScriptedModel",
    "after",
    "delayed",
    "fail",
    "message_actor",
    "reject",
    "reply",
    "responding",
    "use_tools",
]
