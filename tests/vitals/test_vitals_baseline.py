"""Baselines: the prior and how it weighs, z against the learnt reference, the anchors and
floors, and what is never learnt (issue 21: a sustained anomaly keeps its pressure).

The expected values are computed here from the formulas in ``baseline``'s docstring, written
out independently of the implementation."""

from __future__ import annotations

import math

import pytest

from soma_runtime.vitals import DEFAULT_BASELINES, SIGNALS, VitalsConfig, signal_pressure
from soma_runtime.vitals.baseline import Baseline, BaselineParams
from soma_runtime.vitals.config import DISTRESS_SIGNALS, SCALE_SIGNALS

CONFIG = VitalsConfig()
PARAMS = BaselineParams(CONFIG)
UNCERTAINTY, DRIFT, ERRORS, TOKENS, COST = range(5)
ALPHA = 0.08
ALL = (True,) * 5


def values(**given: float) -> tuple[float, ...]:
    """Five signal values: the priors' means unless given."""
    return tuple(given.get(name, DEFAULT_BASELINES[name][0]) for name in SIGNALS)


def observe(baseline: Baseline, measured: tuple[bool, ...] = ALL, **given: float) -> tuple[float, ...]:
    """The z-scores of one reading."""
    return baseline.observe(values(**given), measured, False, PARAMS)[0]


def test_defaults_are_the_documented_ones() -> None:
    assert dict(DEFAULT_BASELINES) == {
        "uncertainty": (0.2, 0.15),
        "drift": (0.5, 0.25),
        "error_rate": (0.1, 0.1),
        "token_usage": (1000.0, 1000.0),
        "cost": (0.01, 0.02),
    }
    assert (CONFIG.alpha, CONFIG.cold_start, CONFIG.sigma_floor, CONFIG.window) == (0.08, 10, 0.05, 10)
    assert (CONFIG.control_limit, CONFIG.anchor, CONFIG.sigma_max) == (3.0, 1.0, 1.25)
    assert (CONFIG.scale_floor, CONFIG.learn_floor, CONFIG.clip) == (0.25, 0.1, 3.0)
    assert {"token_usage", "cost"} == SCALE_SIGNALS
    assert {"uncertainty", "error_rate"} == DISTRESS_SIGNALS


def test_the_first_reading_of_an_absolute_signal_is_scored_against_the_prior() -> None:
    zs = observe(Baseline(PARAMS), error_rate=0.3, uncertainty=0.5, drift=0.9)
    assert zs[ERRORS] == pytest.approx((0.3 - 0.1) / 0.1)
    assert zs[UNCERTAINTY] == pytest.approx((0.5 - 0.2) / 0.15)
    assert zs[DRIFT] == pytest.approx((0.9 - 0.5) / 0.25)


def test_the_prior_weighs_as_cold_start_readings() -> None:
    """An absolute signal's n-th reading is learnt at a = max(α, 1/(10 + n + 1)): a running
    mean and variance over the prior (as ten readings) and the data, then the EMA."""
    xs = [0.4, 0.45, 0.5, 0.42, 0.48, 0.44] * 10
    baseline = Baseline(PARAMS)
    m, v = 0.5, 0.25**2
    for n, x in enumerate(xs):
        z = observe(baseline, drift=x)[DRIFT]
        assert z == pytest.approx((x - m) / max(math.sqrt(v), 0.05), rel=1e-12)
        a = max(ALPHA, 1 / (10 + n + 1))
        d = x - m
        m, v = m + a * d, (1 - a) * (v + a * d * d)
    assert baseline.mean[DRIFT] == pytest.approx(m) and baseline.var[DRIFT] == pytest.approx(v)


def test_a_scale_signal_takes_its_level_from_its_first_reading() -> None:
    """20k-token prompts are some agents' normal: the first reading is the level (z = 0), the
    prior gives only its relative spread (±100% for tokens), and the floor is a quarter."""
    baseline = Baseline(PARAMS)
    assert observe(baseline, token_usage=20_000.0)[TOKENS] == 0.0
    assert observe(baseline, token_usage=25_000.0)[TOKENS] == pytest.approx(5_000 / 20_000)
    pressures = [
        baseline.observe(values(token_usage=20_000.0 + 900 * (i % 3)), ALL, False, PARAMS)[1][TOKENS]
        for i in range(60)
    ]
    assert max(pressures) < 0.1  # ordinary noise: never close to an alarm
    steady = Baseline(PARAMS)
    for _ in range(60):
        observe(steady, token_usage=2000.0)
    # Perfectly steady: σ is the floor, a quarter of the level.
    assert observe(steady, token_usage=2500.0)[TOKENS] == pytest.approx(500 / (0.25 * 2000), rel=1e-6)


def test_an_agent_that_flails_from_its_first_action_is_never_learnt_as_normal() -> None:
    """Failing every other call from the first one: four prior σ out, and out of control, so
    never learnt — it keeps its pressure for as long as it lasts (it used to be learnt
    within ~40 readings)."""
    baseline = Baseline(PARAMS)
    pressures = [baseline.observe(values(error_rate=0.5), ALL, False, PARAMS)[1][ERRORS] for _ in range(300)]
    assert min(pressures) == max(pressures) == signal_pressure(4.0)
    assert (baseline.mean[ERRORS], baseline.var[ERRORS]) == (0.1, 0.1**2)


def test_out_of_control_values_of_a_distress_signal_are_never_learnt() -> None:
    baseline = Baseline(PARAMS)
    for i in range(80):
        observe(baseline, error_rate=0.1 * (i % 3))  # 0, 0.1, 0.2: ordinary
    reference = (baseline.mean[ERRORS], baseline.var[ERRORS])
    zs = [observe(baseline, error_rate=1.0)[ERRORS] for _ in range(500)]  # a storm
    assert (baseline.mean[ERRORS], baseline.var[ERRORS]) == reference
    assert min(zs) == max(zs) > 6.0  # saturated, from the first reading to the 500th


def test_the_anchors_keep_a_failure_ratio_near_one_saturated_whatever_was_learnt() -> None:
    """A creep — each reading a little worse, most within control — moves the EMA, but the
    reference mean stops at μ₀ + σ₀ and σ at 1.25·σ₀: every call failing stays past 6σ."""
    baseline = Baseline(PARAMS)
    for i in range(400):
        observe(baseline, error_rate=0.1 + i / 1000 + (0.15 if i % 2 else -0.15))
    assert baseline.mean[ERRORS] > 0.3  # the EMA followed the creep
    z = observe(baseline, error_rate=1.0)[ERRORS]
    assert z >= (1.0 - 0.2) / 0.125 and signal_pressure(z) == 1.0
    # Whatever the EMA holds, the reference is bounded:
    baseline.mean[ERRORS], baseline.var[ERRORS] = 0.6, 0.3**2
    assert observe(baseline, error_rate=1.0)[ERRORS] == pytest.approx((1.0 - 0.2) / 0.125)
    baseline.mean[UNCERTAINTY], baseline.var[UNCERTAINTY] = 0.9, 0.5**2
    assert observe(baseline, uncertainty=2.0)[UNCERTAINTY] == pytest.approx((2.0 - 0.35) / 0.1875)


def test_one_failure_in_the_window_is_at_most_one_sigma() -> None:
    """An agent that never failed: its error σ learns toward 0, but a window of ten resolves
    one failure in ten, so that is where σ stops — its first failure is no alarm."""
    baseline = Baseline(PARAMS)
    for _ in range(200):
        observe(baseline, error_rate=0.0, uncertainty=0.0)
    z = observe(baseline, error_rate=0.1, uncertainty=0.1)
    assert z[ERRORS] == pytest.approx(0.1 / 0.1, rel=1e-3) and z[UNCERTAINTY] == pytest.approx(1.0, rel=1e-3)


def test_a_lasting_change_of_scale_is_relevelled_slowly_and_a_spiral_keeps_its_pressure() -> None:
    """Token velocity doubling for good stops alarming after a few dozen actions (the mean
    moves α·0.1·3σ per out-of-control reading, the variance not at all); ×5 stays saturated."""

    def after(factor: float, steps: int) -> list[float]:
        baseline = Baseline(PARAMS)
        for i in range(60):
            observe(baseline, token_usage=2000.0 + 100 * (i % 4))
        return [
            baseline.observe(values(token_usage=factor * (2000.0 + 100 * (i % 4))), ALL, False, PARAMS)[1][
                TOKENS
            ]
            for i in range(steps)
        ]

    doubled = after(2.0, 80)
    assert doubled[0] > 0.5 and max(doubled[-20:]) < 0.5
    spiral = after(5.0, 150)
    assert min(spiral[:100]) == 1.0 and min(spiral) > 0.5


def test_nothing_is_learnt_while_the_agent_is_stuck() -> None:
    baseline = Baseline(PARAMS)
    observe(baseline, token_usage=1000.0, cost=0.01)  # the scale signals' level is set
    before = baseline.to_json()
    for _ in range(20):
        baseline.observe(values(drift=0.6, error_rate=0.2, token_usage=1500.0), ALL, True, PARAMS)
    after = baseline.to_json()
    assert after[1:] == before[1:]  # means and variances untouched (only readings counted)
    assert after[0] == [21] * 5


def test_a_signal_without_a_reading_is_neither_scored_nor_learnt() -> None:
    baseline = Baseline(PARAMS)
    measured = (True, False, True, False, False)
    zs, ps = baseline.observe(values(drift=1.0, token_usage=9e9, cost=5.0), measured, False, PARAMS)
    assert (zs[DRIFT], zs[TOKENS], zs[COST]) == (0.0, 0.0, 0.0) and ps[DRIFT] == ps[TOKENS] == 0.0
    assert baseline.n == [1, 0, 1, 0, 0]


def test_restart_forgets_one_signal() -> None:
    baseline = Baseline(PARAMS)
    for _ in range(30):
        observe(baseline, drift=0.9)
    baseline.restart(DRIFT, PARAMS)
    assert (baseline.n[DRIFT], baseline.mean[DRIFT], baseline.var[DRIFT]) == (0, 0.5, 0.25**2)
    assert baseline.n[ERRORS] == 30


def test_state_round_trip_is_exact() -> None:
    baseline = Baseline(PARAMS)
    for i in range(15):
        observe(baseline, token_usage=1000.0 + 37.5 * i, drift=0.4 + 0.01 * i)
    again = Baseline.from_json(baseline.to_json(), PARAMS)
    probe = values(token_usage=1500.0, drift=0.9)
    assert again.observe(probe, ALL, False, PARAMS) == baseline.observe(probe, ALL, False, PARAMS)
    assert again.to_json() == baseline.to_json()
