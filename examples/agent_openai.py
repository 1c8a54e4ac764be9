"""One agent on OpenAI's Chat Completions API (the official SDK), reading this repository.
Any OpenAI-compatible endpoint works: set OPENAI_BASE_URL.

Needs OPENAI_API_KEY (and, optionally, SOMA_OPENAI_MODEL); without a key it says so on
stderr and exits with status 1.

python examples/agent_openai.py
"""

from __future__ import annotations

import os
import sys

from _live_agent import run

from soma_actor.providers import OpenAIModel

if __name__ == "__main__":
    sys.exit(run(lambda: OpenAIModel(os.environ.get("SOMA_OPENAI_MODEL", "gpt-4.1-mini")), "openai"))
