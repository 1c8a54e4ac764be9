"""The ``soma`` command."""

import sys

from soma_runtime import __version__


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args in (["--version"], ["-V"]):
        print(f"soma {__version__}")
        return 0
    print("usage: soma --version", file=sys.stderr)
    return 2
