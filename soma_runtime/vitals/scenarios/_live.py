"""The retry storm through a real runtime: real runs, real tools, a real failing command.

:func:`record_storm` drives a ``Runtime`` (passed in: this package sits below it) through
the storm of issue 21 — a ``CommandTool`` running ``sh -c '...; exit 2'`` that fails the same
way 120 times, after some ordinary work on a small project written under the runtime's root
— then makes the command succeed 10 times, and returns the recorded log as a
:class:`Scenario`. The monitor judged it live; ``replay`` of the log gives the same numbers.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Final

from ...execution.steps import Step
from ...tools.spec import CommandTool
from ._measure import Scenario
from ._suite import RECOVERY, STORM_FAILURES, STORM_GOAL, STORM_TOOL
from ._work import INTENT, SOURCES

AGENT: Final = "installer"
INDEX_UP: Final = ".index-up"
"""While this file is missing under the root, the storm's command fails."""

STORM_COMMAND: Final = CommandTool(
    STORM_TOOL,
    [
        "sh",
        "-c",
        f"test -e {INDEX_UP} && exit 0; echo 'error: could not resolve host: packages.internal' >&2; exit 2",
    ],
    effect="state",
    description="Install the project's dependencies.",
)
RUN_TESTS: Final = CommandTool("run_tests", ["sh", "-c", "exit 0", "run_tests", "{target}"], effect="read")
TOOLS: Final = (STORM_COMMAND, RUN_TESTS)
"""The tools the runtime needs besides the built-ins."""


def _ordinary_step(rng: random.Random, i: int) -> Step:
    """A real, varied call on the project; one in ten reads a file that is not there."""
    path = rng.choice(SOURCES)
    if rng.random() < 0.1:
        return Step(f"w{i}", "file_read", {"path": path.replace(".py", "_old.py")})
    roll = rng.random()
    if roll < 0.4:
        return Step(f"w{i}", "file_read", {"path": path})
    if roll < 0.6:
        return Step(f"w{i}", "text_head", {"path": path, "lines": rng.randint(5, 40)})
    if roll < 0.8:
        return Step(f"w{i}", "text_grep", {"pattern": rng.choice(("def ", "offset", "import")), "path": path})
    return Step(f"w{i}", "run_tests", {"target": rng.choice(("tests/", "tests/test_dates.py"))})


async def record_storm(
    rt: Any,
    root: Path,
    *,
    seed: int = 0,
    warmup: int = 40,
    during: Callable[[Any], Awaitable[None]] | None = None,
) -> Scenario:
    """Ordinary work, the storm, the recovery — each call a run of its own on ``rt``, whose
    tools include :data:`TOOLS` and whose root is ``root``. ``during(session)`` is awaited
    once the storm's failures are all in, before the recovery (a test tries a destructive tool
    there)."""
    for path in SOURCES:
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(f'"""{path}."""\nimport datetime\n\n\ndef offset(value):\n    return value\n')
    (root / INDEX_UP).unlink(missing_ok=True)
    session = await rt.start_session(AGENT, intent=INTENT)
    rng = random.Random(seed)
    for i in range(warmup):
        await (await session.start_run([_ordinary_step(rng, i)])).result()
    for _ in range(STORM_FAILURES):
        await (await session.start_run([Step("install", STORM_TOOL)])).result()
    if during is not None:
        await during(session)
    (root / INDEX_UP).touch()
    for _ in range(RECOVERY):
        await (await session.start_run([Step("install", STORM_TOOL)])).result()
    await rt.vitals.caught_up()
    events = await rt.events.query()
    return Scenario(
        "retry storm, live runtime", STORM_GOAL, events, AGENT, warmup + 1, warmup + STORM_FAILURES
    )
