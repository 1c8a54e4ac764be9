"""A retry storm from synthetic events: an agent working on its task gets stuck re-running a
failing command with the same arguments, hedging more and more while its context grows with
each error it reads back. Its vitals walk OBSERVE → GUIDE → WARN → BLOCK, stay in BLOCK while
the storm lasts, and come back to OBSERVE once it recovers (it compacts its context and goes
back to passing work)."""

from __future__ import annotations

from itertools import pairwise

from _vitals_events import INTENT, Log, firings, healthy_cycles, pressures

from soma_runtime.vitals import Mode, PressureUpdate, Update, VitalsEngine

HEDGING = [
    "The install failed again. Maybe the package mirror is flaky; let me try again.",
    "Hmm, still failing. Perhaps it is a transient network issue, I'm not sure. Trying again.",
    "It probably just needs another attempt. I think the mirror might be down, sorry.",
]
ERROR = "ConnectionError: could not reach the package index (connection refused)"
STORM = 12  # retries


def scenario() -> tuple[list[Update], Log, int, int]:
    """(updates, log, seq where the storm starts, seq where recovery starts)."""
    log = Log()
    log.start_session(INTENT)
    healthy_cycles(log, 30)
    storm_from = len(log.events) + 1
    for i in range(STORM):
        log.llm(HEDGING[i % len(HEDGING)], input_tokens=1800 + 500 * (i + 1), output_tokens=60)
        log.command("pip_install", {"package": "parserlib"}, failed=True, error=ERROR)
    recovery_from = len(log.events) + 1
    healthy_cycles(log, 20, start=3)
    return VitalsEngine().observe_many(log.events), log, storm_from, recovery_from


def modes(updates: list[PressureUpdate], start: Mode = Mode.OBSERVE) -> list[Mode]:
    """The modes visited, in order, each once per visit."""
    walk = [start]
    for u in updates:
        if u.mode is not walk[-1]:
            walk.append(u.mode)
    return walk


def test_a_retry_storm_walks_observe_guide_warn_block_and_back() -> None:
    updates, _, storm_from, recovery_from = scenario()
    trajectory = pressures(updates)
    before = [u for u in trajectory if u.seq < storm_from]
    storm = [u for u in trajectory if storm_from <= u.seq < recovery_from]
    after = [u for u in trajectory if u.seq >= recovery_from]

    assert {u.mode for u in before} == {Mode.OBSERVE}  # healthy work raises nothing
    walk = modes(storm)
    assert walk[:4] == [Mode.OBSERVE, Mode.GUIDE, Mode.WARN, Mode.BLOCK], walk
    first_block = next(i for i, u in enumerate(storm) if u.mode is Mode.BLOCK)
    assert first_block <= 8  # within four retries
    assert all(u.mode is Mode.BLOCK for u in storm[first_block:])  # and it holds while it lasts

    back = modes(after, start=Mode.BLOCK)
    assert back[0] is Mode.BLOCK and back[-1] is Mode.OBSERVE, back
    assert all(a.rank > b.rank for a, b in pairwise(back))  # only downwards
    # error_rate is over the last ten *calls*: in a model-call/tool-call loop the storm's
    # failures leave it after ~20 actions, the window of the other signals after ten.
    settled = next(i for i, u in enumerate(after) if u.mode is Mode.OBSERVE)
    assert settled <= 16 and all(u.mode is Mode.OBSERVE for u in after[settled:])


def test_the_storm_fires_its_patterns_and_each_escalation_is_announced() -> None:
    updates, _, storm_from, recovery_from = scenario()
    during = [f for f in firings(updates) if storm_from <= f.seq < recovery_from]
    patterns = {f.pattern for f in during}
    assert {"bash_retry", "bash_error_streak", "pressure"} <= patterns
    escalations = [f for f in during if f.pattern == "pressure"]
    assert [(f.mode, f.severity) for f in escalations] == [(Mode.GUIDE, 1), (Mode.WARN, 2), (Mode.BLOCK, 3)]
    assert "Destructive tools are refused" in escalations[-1].message
    retries = [f.action for f in during if f.pattern == "bash_retry"]
    assert all(b - a > 5 for a, b in pairwise(retries))  # the cooldown
    assert not [f for f in firings(updates) if f.seq < storm_from]


def test_an_agent_that_flails_from_its_first_action_is_flagged_and_stays_flagged() -> None:
    """No healthy history to compare with: the documented priors are the reference, and
    what the agent does while stuck is never learnt as its normal. (One hedged sentence is not
    flagged at once any more: hedge density is read over at least 50 words.)"""
    log = Log()
    log.start_session(INTENT)
    for i in range(30):
        log.llm(HEDGING[i % len(HEDGING)], input_tokens=1800 + 500 * i)
        log.command("pip_install", {"package": "parserlib"}, failed=True, error=ERROR)
    trajectory = pressures(VitalsEngine().observe_many(log.events))
    first_warn = next(i for i, u in enumerate(trajectory) if u.mode is Mode.WARN)
    assert first_warn < 6
    assert all(u.mode.rank >= Mode.WARN.rank for u in trajectory[first_warn:])


def test_ordinary_failures_do_not_escalate() -> None:
    """Test runs that fail now and then are part of the job: never beyond GUIDE."""
    log = Log()
    log.start_session(INTENT)
    for i in range(60):
        text = "Running the parser tests to check the tokenizer fix."
        log.llm(text if i % 2 else "Reading the parser module.", input_tokens=1800 + 40 * (i % 7))
        log.command("pytest", {"run": i}, failed=i % 4 == 1, error="1 failed, 40 passed")
    trajectory = pressures(VitalsEngine().observe_many(log.events))
    assert max(u.mode.rank for u in trajectory) <= Mode.GUIDE.rank
    assert sum(u.mode is Mode.OBSERVE for u in trajectory) / len(trajectory) > 0.8
