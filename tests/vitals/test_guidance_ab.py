"""Guidance A/B (docs/design.md §9): arms, outcomes, censoring, determinism, and whether the
report finds an effect that is there — and none where there is none."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from _population_run import run_population
from _vitals_events import Log

from soma_runtime.vitals import VitalsConfig, VitalsEngine
from soma_runtime.vitals.arms import block_order
from soma_runtime.vitals.report import ALPHA, MIN_N, outcome_report
from soma_runtime.vitals.updates import GuidanceFiring, GuidanceOutcome


def test_block_randomization_balances_every_block_and_is_keyed_on_the_firing() -> None:
    _, _, updates = run_population(3, 0.5, 0.5, "bash_error_streak", per_arm=40)
    firings = [u for u in updates if isinstance(u, GuidanceFiring) and u.pattern == "bash_error_streak"]
    arms = [f.arm for f in firings]
    block = VitalsConfig().ab_block
    for start in range(0, len(arms) - len(arms) % block, block):
        assert Counter(arms[start : start + block]) == {"treatment": block // 2, "control": block // 2}
    # At every point the arms differ by at most half a block.
    for end in range(len(arms) + 1):
        seen = Counter(arms[:end])
        assert abs(seen["treatment"] - seen["control"]) <= block // 2
    # A block's order is a function of its first firing's id alone.
    assert arms[:block] == block_order(firings[0].firing_id, block)
    assert len({tuple(block_order(f"gf-{i}", block)) for i in range(40)}) > 1, "blocks are shuffled"


def test_arms_are_per_firing_so_one_session_sees_both() -> None:
    """No intra-session bleed: the arm belongs to the firing, not to the session."""
    log = Log()
    log.start_session("build the release")
    for k in range(60):
        log.tool("run_cmd", {"cmd": f"make step{k}"}, failed=True, error=f"exit {k}", isolation="command")
    updates = VitalsEngine(VitalsConfig(ab=["bash_error_streak"])).observe_many(log.events)
    streak = [u for u in updates if isinstance(u, GuidanceFiring) and u.pattern == "bash_error_streak"]
    assert len(streak) >= 8 and {f.session_id for f in streak} == {"session-1"}
    assert {f.arm for f in streak} == {"treatment", "control"}
    others = [u for u in updates if isinstance(u, GuidanceFiring) and u.pattern != "bash_error_streak"]
    assert others and all(f.arm is None and f.delivered for f in others), "A/B is per pattern"


def test_outcomes_at_one_five_and_ten_actions_and_censored_when_the_agent_stops() -> None:
    log = Log()
    log.start_session("build")
    for k in range(3):
        log.tool("read_file", {"path": f"a{k}.py"})
    log.tool("run_cmd", {"cmd": "make a"}, failed=True, error="exit 2", isolation="command")
    log.tool(
        "run_cmd", {"cmd": "make b"}, failed=True, error="exit 2", isolation="command"
    )  # fires (action 5)
    for k in range(6):
        log.tool("read_file", {"path": f"b{k}.py"})
    log.add("session.stopped", {"reason": "normal"})
    updates = VitalsEngine().observe_many(log.events)
    [firing] = [u for u in updates if isinstance(u, GuidanceFiring)]
    found = [u for u in updates if isinstance(u, GuidanceOutcome) and u.firing_id == firing.firing_id]
    assert [(o.horizon, o.censored) for o in found] == [(1, False), (5, False), (10, True)]
    h1, h5, h10 = found
    assert (h1.action, h5.action) == (firing.action + 1, firing.action + 5)
    assert h1.error is False and h1.pressure_at_firing == firing.pressure
    assert h5.payload()["pressure_change"] == h5.pressure - firing.pressure  # type: ignore[operator]
    assert h5.recovered is (h5.pressure < 0.25)  # type: ignore[operator]
    assert h10.seq == log.events[-1].seq and h10.reason == "session_stopped"
    assert (h10.pressure, h10.error, h10.recovered) == (None, None, None)
    # An agent that goes on in another session censors what it left open there.
    log2 = Log()
    log2.start_session("build")
    log2.tool("run_cmd", {"cmd": "make a"}, failed=True, error="exit 2", isolation="command")
    log2.tool("run_cmd", {"cmd": "make b"}, failed=True, error="exit 2", isolation="command")
    log2.tool("read_file", {"path": "x.py"}, session_id="session-2")
    moved = [u for u in VitalsEngine().observe_many(log2.events) if isinstance(u, GuidanceOutcome)]
    assert [(o.horizon, o.reason) for o in moved] == [
        (1, "session_changed"),
        (5, "session_changed"),
        (10, "session_changed"),
    ]


def test_arms_and_outcomes_replay_bit_identically_and_through_exported_state() -> None:
    _, log, updates = run_population(5, 0.7, 0.3, "error_cascade", per_arm=12)
    again = VitalsEngine(VitalsConfig(ab="*")).observe_many(log)
    assert [json.dumps(u.payload()) for u in again] == [json.dumps(u.payload()) for u in updates]
    # Halfway through, through JSON, into a new engine: the same from there on.
    engine = VitalsEngine(VitalsConfig(ab="*"))
    half = len(log) // 2
    first = engine.observe_many(log[:half])
    resumed = VitalsEngine.from_state(json.loads(json.dumps(engine.state())))
    rest = resumed.observe_many(log[half:])
    assert [u.payload() for u in first + rest] == [u.payload() for u in updates]
    assert any(isinstance(u, GuidanceOutcome) for u in rest)


def test_a_population_that_guidance_helps_comes_out_helps_past_n_30() -> None:
    for seed in range(10):
        outcomes, _, _ = run_population(seed, 0.85, 0.25, "bash_error_streak")
        [report] = outcome_report([o.payload() for o in outcomes])
        assert min(report.arms["treatment"].n, report.arms["control"].n) >= MIN_N
        assert report.verdict == "helps", (seed, report)
        assert report.difference is not None and report.difference > 0


def test_a_population_it_harms_comes_out_harms_and_one_below_n_30_is_collecting() -> None:
    outcomes, _, _ = run_population(1, 0.2, 0.8, "blind_edit")
    [report] = outcome_report([o.payload() for o in outcomes])
    assert report.verdict == "harms"
    few, _, _ = run_population(1, 0.9, 0.1, "blind_edit", per_arm=10)
    [early] = outcome_report([o.payload() for o in few])
    assert early.verdict == "collecting" and early.fisher_p is not None and early.fisher_p < ALPHA


def test_without_ab_the_rate_is_descriptive() -> None:
    outcomes, _, _ = run_population(2, 0.6, 0.6, "error_cascade", ab=())
    [report] = outcome_report([o.payload() for o in outcomes])
    assert report.verdict == "descriptive" and not report.randomized
    assert list(report.arms) == ["unrandomized"] and report.fisher_p is None


SEEDS = 100  # bounded: ~0.1 s of engine time a seed


def test_a_population_with_no_effect_comes_out_no_effect_in_95_percent_of_seeds() -> None:
    verdicts = Counter()
    for seed in range(SEEDS):
        outcomes, _, _ = run_population(1000 + seed, 0.5, 0.5, "bash_error_streak")
        [report] = outcome_report([o.payload() for o in outcomes])
        verdicts[report.verdict] += 1
    assert set(verdicts) <= {"no effect", "helps", "harms"}
    assert verdicts["no effect"] >= 0.95 * SEEDS, verdicts


@pytest.mark.parametrize("horizon", [1, 10])
def test_the_report_judges_any_horizon(horizon: int) -> None:
    outcomes, _, _ = run_population(4, 0.9, 0.2, "bash_error_streak")
    [report] = outcome_report([o.payload() for o in outcomes], horizon=horizon)
    assert report.horizon == horizon and report.arms["treatment"].n >= MIN_N
