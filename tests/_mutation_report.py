"""``make mutate``'s tally: read ``mutmut results --all true`` on stdin, keep the mutants of
the functions named by the glob patterns given as arguments, print each one the tests did not
detect (to look at, or to kill with a test), then the count per status and the survival rate.

Detected: ``killed`` (a test failed) and ``timeout`` (the mutant made a test hang: it did not
pass either). Survived: ``survived`` and ``no tests`` (no selected test runs the function).
``not checked`` (a run stopped early) counts in neither, and is reported as such.
"""

from __future__ import annotations

import sys
from collections import Counter
from fnmatch import fnmatchcase

DETECTED = frozenset({"killed", "timeout", "caught by type check", "segfault"})


def main(patterns: list[str]) -> None:
    statuses: Counter[str] = Counter()
    for line in sys.stdin:
        name, sep, status = line.strip().rpartition(": ")
        if not sep or not any(fnmatchcase(name, p) for p in patterns):
            continue
        statuses[status] += 1
        if status not in DETECTED and status != "not checked":
            print(f"{status:>12}  {name}")
    for status, count in statuses.most_common():
        print(f"{status}: {count}")
    total = sum(statuses.values()) - statuses["not checked"]
    survived = total - sum(statuses[s] for s in DETECTED)
    print(f"survival: {survived} of {total} mutants checked ({100 * survived / max(total, 1):.1f}%)")


if __name__ == "__main__":
    main(sys.argv[1:])
