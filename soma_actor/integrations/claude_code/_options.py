"""``soma hook``'s command line (parsed by hand: the hook must not import argparse or click)."""

from __future__ import annotations

import os

LOCK_WAIT = 3.0  # seconds a hook waits for the writer lock (Claude Code's limit is init's --timeout)
CONTROL_TIMEOUT = 5.0
SERVE_IDLE = 1800.0


class Options:
    __slots__ = ("config", "control", "db", "lock_wait", "serve", "serve_idle")

    def __init__(self) -> None:
        self.db = os.environ.get("SOMA_DB") or "soma.db"
        self.control: str | None = os.environ.get("SOMA_CONTROL") or None
        self.config: str | None = None
        self.serve = False
        self.serve_idle = SERVE_IDLE
        self.lock_wait = LOCK_WAIT


class UsageError(Exception):
    pass


def parse_options(argv: list[str]) -> Options:
    options = Options()
    args = list(argv)
    while args:
        arg = args.pop(0)
        name, eq, inline = arg.partition("=")
        if name == "--serve" and not eq:
            options.serve = True
            continue
        if name not in ("--db", "--control", "--config", "--serve-idle", "--lock-wait"):
            raise UsageError(f"no such option: {arg}")
        if eq:
            value = inline
        elif args:
            value = args.pop(0)
        else:
            raise UsageError(f"option {name} requires a value")
        if name in ("--serve-idle", "--lock-wait"):
            try:
                seconds = float(value)
            except ValueError:
                raise UsageError(f"{name} must be a number of seconds, got {value!r}") from None
            if not seconds > 0:
                raise UsageError(f"{name} must be positive, got {value!r}")
            setattr(options, name[2:].replace("-", "_"), seconds)
        else:
            setattr(options, name[2:], value)
    options.db = os.path.abspath(options.db)
    return options
