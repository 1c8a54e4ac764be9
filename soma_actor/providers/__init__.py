"""Model providers behind one protocol (``soma_actor.Model``).

- :class:`ScriptedModel` (and its turns: ``reply``, ``use_tools``, ``message_actor``,
  ``reject``, ``fail``, ``after``, ``delayed``, ``responding``): deterministic, for tests,
  demos and offline development.
- :class:`AnthropicModel` (Messages API) and :class:`OpenAIModel` (Chat Completions, OpenAI or
  any compatible endpoint) on the official SDKs' async clients.

Importing this package does not import the SDKs; building a model does, and without its SDK
it raises :class:`MissingSdk` naming the extra to install (``soma-runtime[anthropic]``,
``soma-runtime[openai]``).
"""

from ._errors import MissingApiKey, MissingSdk, ProviderConfigError
from .anthropic_model import AnthropicModel
from .openai_model import TOOL_ERROR_PREFIX, OpenAIModel
from .scripted import ScriptedModel, after, delayed, fail, message_actor, reject, reply, responding, use_tools

__all__ = [
    "TOOL_ERROR_PREFIX",
    "AnthropicModel",
    "MissingApiKey",
    "MissingSdk",
    "OpenAIModel",
    "ProviderConfigError",
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
