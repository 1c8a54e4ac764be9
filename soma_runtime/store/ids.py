"""Ids are strings with a kind prefix (``sess-…``, ``run-…``, ``tc-…``): readable in logs and
events, and unique across runtimes so that logs can be merged.

Each id is 64 random bits drawn once per OS process, plus a counter. Drawing fresh random
bits per id cost ~30 us here (``os.urandom`` on a VM), a fifth of a whole run step; the
counter keeps ids unique within the process, the random prefix across processes. A forked
child draws its own prefix (``os.register_at_fork``) so it cannot repeat its parent's ids.
"""

from __future__ import annotations

import itertools
import os
import secrets


def _reseed() -> None:
    global _prefix, _counter
    _prefix = secrets.token_hex(6)
    _counter = itertools.count(1)


_prefix = ""
_counter = itertools.count(1)
_reseed()
os.register_at_fork(after_in_child=_reseed)


def new_id(prefix: str) -> str:
    return f"{prefix}-{_prefix}{next(_counter):x}"
