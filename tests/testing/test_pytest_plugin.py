"""The pytest plugin, as its users meet it: test files run by a real pytest (``pytester``),
with the plugin loaded the way it is everywhere — by its ``pytest11`` entry point."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import pytest

from soma_actor.providers import reply, use_tools
from soma_actor.testing import start_scripted_agent
from soma_runtime import Runtime

pytest_plugins = ["pytester"]

# In-process runs share this interpreter's plugin modules; the snapshot plugin keeps a
# session-wide temporary directory in a module global, which an inner session must not touch.
# (Hypothesis's plugin is left out too: it costs an inner session seconds and is not used.)
QUIET = ("-q", "-p", "no:cacheprovider", "-p", "no:textual-snapshot", "-p", "no:hypothesispytest")

FLAKY = """
from soma_actor.providers import reply, use_tools
from soma_actor.testing import start_scripted_agent

async def flaky(rt, name="flaky", failures=8):
    script = [use_tools(("fail", {"message": f"boom {i}"})) for i in range(failures)] + [reply("gave up")]
    agent = await start_scripted_agent(rt, name, script)
    assert await agent.ask("deploy the service") == "gave up"

async def calm(rt, name="calm"):
    agent = await start_scripted_agent(rt, name, [use_tools(("echo", {"value": "hi"})), reply("done")])
    assert await agent.ask("say hi") == "done"
"""


def test_the_plugin_is_registered_by_its_entry_point(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_nothing(): pass")
    result = pytester.runpytest("--trace-config", *QUIET)
    result.stdout.fnmatch_lines(["*soma_runtime/testing/plugin.py*"])
    markers = pytester.runpytest("--markers", *QUIET)
    markers.stdout.fnmatch_lines(
        ["@pytest.mark.soma(max_pressure=None, max_mode=None, agents=None, virtual_time=False)*"]
    )


def test_a_failing_agent_fails_its_test_with_the_trajectory_the_signals_and_the_firings(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(agents=FLAKY)
    pytester.makepyfile(
        test_gate="""
        import pytest
        from agents import calm, flaky

        @pytest.mark.soma(max_pressure=0.3)
        async def test_flaky_stays_calm(soma_runtime):
            await flaky(soma_runtime)

        @pytest.mark.soma(max_pressure=0.5)
        async def test_calm_stays_calm(soma_runtime):
            await calm(soma_runtime)

        @pytest.mark.soma(max_mode="observe", agents=["flaky"])
        async def test_only_the_named_agent_is_checked(soma_runtime):
            await calm(soma_runtime)
            await flaky(soma_runtime)
        """
    )
    result = pytester.runpytest(*QUIET)
    result.assert_outcomes(passed=1, failed=2)
    print(result.stdout.str())
    result.stdout.fnmatch_lines(
        [
            "*_ test_flaky_stays_calm*_",
            "@pytest.mark.soma(max_pressure=0.3): agent 'flaky' did not stay below pressure 0.3: "
            "it reached 0.* (GUIDE)*",
            "",
            "trajectory (* updates; pressure = effective pressure, then each signal's pressure):",
            "    seq  act  pressure  mode     uncert   drift  errors  tokens    cost  after",
            "*tool.failed fail",
            "▶ *guide*",
            "signals that drove the peak (seq *), strongest first:",
            "  error_rate   pressure 0.*",
            "guidance fired (*):",
            "  seq * pressure * guide *Vitals GUIDE*",
        ]
    )
    named = "@pytest.mark.soma(max_mode='observe', agents=['flaky']): agent 'flaky' went above mode OBSERVE: "
    assert named + "it reached GUIDE" in result.stdout.str()
    assert "agent 'calm'" not in result.stdout.str(), "only the named agent is checked"
    # The report is the failure: none of the plugin's or anyio's frames bury it.
    assert (
        "pytest_pyfunc_call" not in result.stdout.str()
        and "_run_tests_and_fixtures" not in result.stdout.str()
    )


def test_the_assertions_read_the_whole_trajectory_and_refuse_unknown_agents(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(agents=FLAKY)
    pytester.makepyfile(
        test_asserts="""
        import pytest
        from soma_runtime.vitals import Mode
        from soma_actor.testing import assert_mode_at_most, assert_pressure_below, VitalsAssertionError
        from agents import flaky

        async def test_bounds(soma_runtime):
            await flaky(soma_runtime)
            await assert_pressure_below(soma_runtime, "flaky", 0.9)
            await assert_mode_at_most(soma_runtime, "flaky", Mode.GUIDE)
            with pytest.raises(VitalsAssertionError, match="reached GUIDE"):
                await assert_mode_at_most(soma_runtime, "flaky", "observe")
            with pytest.raises(VitalsAssertionError, match="did not stay below pressure 0.2"):
                await assert_pressure_below(soma_runtime, "flaky", 0.2)

        async def test_a_typo(soma_runtime):
            await flaky(soma_runtime)
            await assert_pressure_below(soma_runtime, "flakey", 0.5)
        """
    )
    result = pytester.runpytest(*QUIET)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        ["E * no vitals were recorded for agent 'flakey' (agents with vitals: 'flaky')"]
    )


def test_marker_misuse_is_reported_before_the_test_runs(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_misuse="""
        import pytest

        @pytest.mark.soma(max_pressure=0.5)
        async def test_without_the_fixture():
            pass

        @pytest.mark.soma(max_presure=0.5)
        async def test_typo(soma_runtime):
            pass
        """
    )
    result = pytester.runpytest(*QUIET)
    result.stdout.fnmatch_lines(
        [
            "*@pytest.mark.soma(...) checks the agents of the soma_runtime fixture: add soma_runtime*",
            "*@pytest.mark.soma takes keyword arguments*got ?'max_presure'?*",
        ]
    )
    assert result.ret != 0


def test_virtual_time_options_and_other_tests_alongside(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        import pytest
        from soma_runtime import tool

        @tool
        async def shout(text: str) -> str:
            return text.upper()

        @pytest.fixture
        def soma_runtime_options():
            return {"tools": [shout]}
        """
    )
    pytester.makepyfile(
        test_mixed="""
        import anyio
        import pytest
        from soma_runtime import Step
        from soma_runtime.kernel import VirtualClock
        from soma_actor import TaskState
        from soma_actor.providers import after, reply
        from soma_actor.testing import start_scripted_agent

        @pytest.mark.soma(virtual_time=True)
        async def test_a_model_timeout_fires_when_the_test_moves_time(soma_runtime):
            clock = soma_runtime.node.clock
            assert isinstance(clock, VirtualClock)
            never = anyio.Event()
            script = [after(never, reply("late"))]
            agent = await start_scripted_agent(soma_runtime, "slow", script, model_timeout=30.0)
            task = await agent.send("think hard")
            await clock.advance(29.0)
            assert (await agent.task_status(task)).state is TaskState.THINKING
            await clock.advance(1.0)
            assert (await agent.task_result(task)).state is TaskState.TIMEOUT

        async def test_options_reach_the_runtime(soma_runtime):
            session = await soma_runtime.start_session("s")
            run = await session.start_run([Step("s1", "shout", {"text": "hi"})])
            assert (await run.result()).outputs == {"s1": "HI"}

        @pytest.mark.anyio
        async def test_plain_anyio_tests_are_untouched():
            await anyio.sleep(0)

        def test_plain_sync_tests_are_untouched():
            assert True
        """
    )
    result = pytester.runpytest(*QUIET)
    result.assert_outcomes(passed=4)


def record_flaky(path: Path) -> None:
    async def main() -> None:
        async with Runtime.open() as rt:
            script = [use_tools(("fail", {"message": f"boom {i}"})) for i in range(6)] + [reply("gave up")]
            agent = await start_scripted_agent(rt, "flaky", script)
            assert await agent.ask("deploy") == "gave up"
            await rt.vitals.caught_up()
            await rt.events.export_jsonl(path)

    anyio.run(main, backend="asyncio")


def tamper(source: Path, target: Path, delta: float) -> None:
    """A copy of ``source`` whose third recorded pressure point is off by ``delta``."""
    lines = source.read_text().splitlines()
    seen = 0
    for index, line in enumerate(lines):
        event = json.loads(line)
        if event["type"] == "vitals.updated":
            seen += 1
            if seen == 3:
                event["payload"]["pressure"] += delta
                event["payload"]["effective_pressure"] += delta
                lines[index] = json.dumps(event)
                break
    target.write_text("\n".join(lines) + "\n")


def test_replay_session_turns_a_recording_into_a_regression_test(pytester: pytest.Pytester) -> None:
    recorded = pytester.path / "recorded.jsonl"
    record_flaky(recorded)
    tamper(recorded, pytester.path / "drifted.jsonl", 1e-12)
    tamper(recorded, pytester.path / "retuned.jsonl", 0.01)
    pytester.makepyfile(
        test_replay="""
        from soma_actor.testing import replay_session

        def test_bit_identical():
            trajectory = replay_session("recorded.jsonl")
            assert len(trajectory) > 5 and {u.agent_id for u in trajectory} == {"flaky"}

        def test_one_bit_off():
            replay_session("drifted.jsonl")

        def test_within_a_tolerance():
            replay_session("retuned.jsonl", tolerance=0.02)

        def test_outside_a_tolerance():
            replay_session("retuned.jsonl", tolerance=0.001)

        def test_within_bounds():
            replay_session("recorded.jsonl", max_pressure=0.9, max_mode="warn")

        def test_outside_bounds():
            replay_session("recorded.jsonl", max_pressure=0.2)
        """
    )
    result = pytester.runpytest(*QUIET)
    result.assert_outcomes(passed=3, failed=3)
    result.stdout.fnmatch_lines(
        [
            "E *drifted.jsonl: the replayed trajectory differs from the recording: point 2 (agent 'flaky', "
            "after seq *) — effective_pressure: * replayed, * recorded; pressure: * replayed, * recorded",
        ]
    )
    result.stdout.fnmatch_lines(
        ["E *retuned.jsonl: *point 2 *: pressure * replayed, * recorded (tolerance 0.001)"]
    )
    result.stdout.fnmatch_lines(
        ["E *recorded.jsonl (replayed):", "E *agent 'flaky' did not stay below pressure 0.2: it reached *"]
    )


def test_the_readme_example_runs_as_written(pytester: pytest.Pytester) -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("## Testing agent behaviour with pytest", 1)[1]
    example = section.split("```python\n", 1)[1].split("```", 1)[0]
    assert len([line for line in example.splitlines() if line.strip()]) <= 10
    (pytester.path / "tests" / "recordings").mkdir(parents=True)
    record_flaky(pytester.path / "tests" / "recordings" / "research.jsonl")
    pytester.makepyfile(test_readme=example)
    result = pytester.runpytest(*QUIET)
    result.assert_outcomes(passed=2)
