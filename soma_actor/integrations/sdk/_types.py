"""Type-level checks of ``wrap``, read by mypy in ``make lint`` and never imported: a wrapped
client keeps its own class for type checkers (``assert_type`` fails the lint if it did not)."""

from __future__ import annotations

from typing import assert_type

import anthropic
import openai

from . import wrap


def _wrapped_clients_keep_their_types() -> None:
    assert_type(wrap(anthropic.Anthropic(), agent_id="a", db="soma.db"), anthropic.Anthropic)
    assert_type(wrap(anthropic.AsyncAnthropic(), agent_id="a", db="soma.db"), anthropic.AsyncAnthropic)
    assert_type(wrap(openai.OpenAI(), agent_id="a", control="soma.sock"), openai.OpenAI)
    assert_type(wrap(openai.AsyncOpenAI(), agent_id="a", control="soma.sock"), openai.AsyncOpenAI)
