"""Ids are strings with a kind prefix (``sess-…``, ``run-…``, ``tc-…``): readable in logs and
events, and unique enough (64 random bits) to merge logs from many runtimes."""

from __future__ import annotations

import secrets


def new_id(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(8)}"
