"""Soma's pytest plugin (registered by the ``pytest11`` entry point when Soma is installed).

    @pytest.mark.soma(max_pressure=0.5)              # checked when the test body returns
    async def test_research_agent_stays_calm(soma_runtime):
        agent = await start_scripted_agent(soma_runtime, "research", [...])
        await agent.ask("find the OTP docs")
        await assert_mode_at_most(soma_runtime, "research", Mode.GUIDE)

- ``soma_runtime``: a ``Runtime`` on an in-memory store, opened for the test and closed after
  it. Tests that use it run on anyio's asyncio backend (the fixture depends on
  ``anyio_backend``, which is what makes anyio run a test; no ``@pytest.mark.anyio`` needed).
  ``@pytest.mark.soma(virtual_time=True)`` opens it on a ``VirtualClock`` (timeouts fire when
  the test says ``await soma_runtime.node.clock.advance(s)``); the ``soma_runtime_options``
  fixture (override it) passes more ``Runtime.open`` arguments (``tools=``, ``vitals=``…).
- ``@pytest.mark.soma(max_pressure=…, max_mode=…, agents=[…])``: after the test body, every
  agent of ``soma_runtime`` (or those named) is checked; a failure is the test's failure,
  with the trajectory, the signals that drove it and the firings.

Importing this module imports nothing of Soma: pytest loads it in every session of every
project that has Soma installed, so the runtime is imported only by a test that uses it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Generator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from ..runtime import Runtime

MARKER = "soma"
FIXTURE = "soma_runtime"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(max_pressure=None, max_mode=None, agents=None, virtual_time=False): "
        "check the vitals of the agents of the soma_runtime fixture when the test body returns "
        "(pressure strictly below max_pressure, mode at most max_mode); virtual_time opens the "
        "runtime on a VirtualClock.",
    )


@pytest.fixture
def soma_runtime_options() -> dict[str, Any]:
    """Extra ``Runtime.open`` keyword arguments for ``soma_runtime`` (override to add tools)."""
    return {}


@pytest.fixture
async def soma_runtime(
    anyio_backend: Any, request: pytest.FixtureRequest, soma_runtime_options: dict[str, Any]
) -> AsyncIterator[Runtime]:
    """A ``Runtime`` on an in-memory store for this test (see the module docstring)."""
    name = anyio_backend if isinstance(anyio_backend, str) else anyio_backend[0]
    if name != "asyncio":
        pytest.skip(f"Soma runs on anyio's asyncio backend, not {name!r}")
    from ..kernel import VirtualClock
    from ..runtime import Runtime

    options = dict(soma_runtime_options)
    marker = request.node.get_closest_marker(MARKER)
    if marker is not None and marker.kwargs.get("virtual_time") and "clock" not in options:
        options["clock"] = VirtualClock()
    options.setdefault("db", ":memory:")
    options.setdefault("source", "test")  # a test's events stay out of ``soma outcomes``
    async with Runtime.open(**options) as rt:
        yield rt


def pytest_runtest_setup(item: pytest.Item) -> None:
    marker = item.get_closest_marker(MARKER)
    if marker is None:
        return
    _bounds(marker)  # a typo in the marker is reported before the test runs
    if FIXTURE not in getattr(item, "fixturenames", ()):
        pytest.fail(
            f"@pytest.mark.{MARKER}(...) checks the agents of the {FIXTURE} fixture: "
            f"add {FIXTURE} to the test's arguments",
            pytrace=False,
        )


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> Generator[None, object, object]:
    """With the marker, the test body is followed — inside the test's event loop, while the
    runtime is still open — by the vitals check, so a violation fails the test itself."""
    marker = pyfuncitem.get_closest_marker(MARKER)
    original = pyfuncitem.obj
    if marker is None or FIXTURE not in pyfuncitem.funcargs or not _is_coroutine(original):
        return (yield)
    bounds = _bounds(marker)
    if not bounds.keys() & {"max_pressure", "max_mode", "agents"}:
        return (yield)  # virtual_time alone: nothing to check
    runtime: Runtime = pyfuncitem.funcargs[FIXTURE]  # type: ignore[assignment]

    async def body_then_vitals(**kwargs: Any) -> None:
        __tracebackhide__ = True
        from .assertions import VitalsAssertionError, check_agents

        await original(**kwargs)
        try:
            await check_agents(runtime, **bounds)
        except VitalsAssertionError as failure:
            report = str(failure)
        else:
            return
        # The report is the whole story; the frames of this hook and of anyio's runner
        # would only bury it (and outside the except block, no "during handling" chain).
        pytest.fail(f"@pytest.mark.{MARKER}{_shown(marker)}: {report}", pytrace=False)

    pyfuncitem.obj = body_then_vitals
    try:
        return (yield)
    finally:
        pyfuncitem.obj = original


def _bounds(marker: pytest.Mark) -> dict[str, Any]:
    """The marker's check arguments (``virtual_time`` is the fixture's); a clear usage error
    for anything else."""
    known = {"max_pressure", "max_mode", "agents", "effective", "virtual_time"}
    unknown = set(marker.kwargs) - known
    if marker.args or unknown:
        raise pytest.UsageError(
            f"@pytest.mark.{MARKER} takes keyword arguments {sorted(known)}; got "
            f"{[*map(repr, marker.args), *sorted(unknown)]}"
        )
    pressure = marker.kwargs.get("max_pressure")
    if pressure is not None and not (isinstance(pressure, int | float) and 0.0 < pressure <= 1.0):
        raise pytest.UsageError(f"@pytest.mark.{MARKER}: max_pressure must be in (0, 1], got {pressure!r}")
    return {k: v for k, v in marker.kwargs.items() if k != "virtual_time"}


def _shown(marker: pytest.Mark) -> str:
    return "(" + ", ".join(f"{k}={v!r}" for k, v in marker.kwargs.items()) + ")"


def _is_coroutine(function: object) -> bool:
    import inspect

    return inspect.iscoroutinefunction(function)
