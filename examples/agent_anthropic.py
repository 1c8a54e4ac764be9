"""One agent on Anthropic's Messages API (the official SDK), reading this repository.

Needs ANTHROPIC_API_KEY (and, optionally, SOMA_ANTHROPIC_MODEL); without a key it says so
on stderr and exits with status 1.

python examples/agent_anthropic.py
"""

from __future__ import annotations

import os
import sys

from _live_agent import run

from soma_actor.providers import AnthropicModel

if __name__ == "__main__":
    sys.exit(
        run(lambda: AnthropicModel(os.environ.get("SOMA_ANTHROPIC_MODEL", "claude-sonnet-4-6")), "anthropic")
    )
