"""Model providers on the official SDKs: :class:`AnthropicModel` (Messages API) and
:class:`OpenAIModel` (Chat Completions, OpenAI or any compatible endpoint).

Importing this package does not import the SDKs; building a model does, and without its SDK
it raises :class:`MissingSdk` naming the extra to install (``soma[anthropic]``,
``soma[openai]``).
"""

from ._errors import MissingApiKey, MissingSdk, ProviderConfigError
from .anthropic_model import AnthropicModel
from .openai_model import TOOL_ERROR_PREFIX, OpenAIModel

__all__ = [
    "TOOL_ERROR_PREFIX",
    "AnthropicModel",
    "MissingApiKey",
    "MissingSdk",
    "OpenAIModel",
    "ProviderConfigError",
]
