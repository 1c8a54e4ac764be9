"""Property: any JSON-ish arguments are either refused with a typed error before anything is
written, or journalled and read back exactly as they went in (docs/design.md §5c).

One runtime (on a file, through SQLite) serves every example through an anyio blocking
portal; each example starts a run of the built-in ``echo`` over a generated value —
nesting well past the limit, every unicode code point (lone surrogates and NUL included),
big integers, non-finite floats, sizes around the payload cap — and checks the run's
result, ``run.accepted``'s plan, ``step.succeeded``'s output and ``run.completed``'s
outputs against the value (as redaction leaves it: keys are drawn from names that are not
credentials, so only the pattern nets could apply).
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from soma_runtime import InvalidRun, RunState, Runtime, Step
from soma_runtime.store import redact
from soma_runtime.store._limits import MAX_VALUE_DEPTH
from soma_runtime.store._redaction import is_sensitive_key

keys = st.text(st.characters(codec=None, exclude_categories=()), max_size=8).filter(
    lambda k: not is_sensitive_key(k)
)
texts = st.text(st.characters(codec=None, exclude_categories=()), max_size=40)
leaves = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()  # NaN and the infinities included: JSON has neither
    | texts
    # Sizes around the payload cap (1 MiB of JSON), the same value repeated in events.
    | st.integers(min_value=0, max_value=1_300_000).map(lambda n: "x" * n)
)
trees = st.recursive(
    leaves,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
    max_leaves=12,
)


def wrapped(value: Any, depth: int) -> Any:
    for level in range(depth):
        value = [value] if level % 2 else {"k": value}
    return value


values = st.one_of(
    trees,
    # Nesting around the limit (deeper ones too: once refused, always refused).
    st.builds(wrapped, trees, st.integers(min_value=MAX_VALUE_DEPTH - 4, max_value=MAX_VALUE_DEPTH + 40)),
)


Served = tuple[BlockingPortal, Runtime, contextvars.Context]


@asynccontextmanager
async def _open(db: Path) -> AsyncIterator[tuple[Runtime, contextvars.Context]]:
    async with Runtime.open(db, vitals=False) as rt:
        # The kernel node is found through a context variable: every example runs in it.
        yield rt, contextvars.copy_context()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    db: Path = tmp_path_factory.mktemp("roundtrip") / "soma.db"
    with (
        start_blocking_portal(backend="asyncio") as portal,
        portal.wrap_async_context_manager(_open(db)) as (rt, context),
    ):
        yield portal, rt, context


async def roundtrip(rt: Runtime, value: Any) -> None:
    session = await rt.start_session("prop")
    try:
        before = await rt.events.last_seq()
        try:
            run = await session.start_run([Step("s1", "echo", {"value": value})])
        except InvalidRun as refused:
            assert refused.step_id in (None, "s1")
            assert await rt.events.last_seq() == before, "a refused run wrote something"
            return
        result = await run.result()
        assert result.state is RunState.COMPLETED, result.error
        assert result.outputs["s1"] == value
        stored = redact(value)
        events = {e.type: e for e in await rt.events.query(run_id=run.run_id)}
        assert events["run.accepted"].payload["steps"][0]["args"] == {"value": stored}
        assert events["step.succeeded"].payload["output"] == stored
        assert events["run.completed"].payload["outputs"] == {"s1": stored}
    finally:
        await session.stop()


@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(value=values)
def test_args_are_refused_with_a_typed_error_or_read_back_identically(served: Served, value: Any) -> None:
    portal, rt, context = served

    async def in_node() -> None:
        await asyncio.get_running_loop().create_task(roundtrip(rt, value), context=context.copy())

    portal.call(in_node)
