"""Baselines: the cold-start blend with the documented priors, z against the EMA afterwards,
the z floor, and robust learning (a sustained anomaly is not learnt away in a few actions).

The expected values are computed here from the formulas in ``baseline``'s docstring, written
out independently of the implementation."""

from __future__ import annotations

import math

import pytest

from soma_runtime.vitals import DEFAULT_BASELINES, SIGNALS, VitalsConfig, signal_pressure
from soma_runtime.vitals.baseline import SCALE_SIGNALS, Baseline, BaselineParams

CONFIG = VitalsConfig()
PARAMS = BaselineParams(CONFIG)
TOKENS = SIGNALS.index("token_usage")
ERRORS = SIGNALS.index("error_rate")
ALPHA = 0.08


def values(**given: float) -> tuple[float, ...]:
    """Five signal values: the priors' means unless given."""
    return tuple(given.get(name, DEFAULT_BASELINES[name][0]) for name in SIGNALS)


def test_defaults_are_the_documented_ones() -> None:
    assert dict(DEFAULT_BASELINES) == {
        "uncertainty": (0.2, 0.15),
        "drift": (0.5, 0.25),
        "error_rate": (0.1, 0.05),
        "token_usage": (1000.0, 1000.0),
        "cost": (0.01, 0.02),
    }
    assert (CONFIG.alpha, CONFIG.cold_start, CONFIG.sigma_floor) == (0.08, 10, 0.02)
    assert (CONFIG.learn_floor, CONFIG.clip, CONFIG.window) == (0.1, 3.0, 10)
    assert {"token_usage", "cost"} == SCALE_SIGNALS


def test_first_action_is_scored_against_the_priors_alone() -> None:
    baseline = Baseline(PARAMS)
    zs, ps = baseline.observe(values(token_usage=4000.0, error_rate=0.3, cost=0.001), PARAMS)
    assert zs[TOKENS] == (4000.0 - 1000.0) / 1000.0
    assert zs[ERRORS] == pytest.approx((0.3 - 0.1) / 0.05)
    assert zs[SIGNALS.index("cost")] == pytest.approx((0.001 - 0.01) / 0.02)
    assert zs[SIGNALS.index("uncertainty")] == 0.0
    assert ps == tuple(signal_pressure(z) for z in zs)


def test_cold_start_blends_toward_the_prior_with_weight_n_over_10() -> None:
    """A scale signal: the EMA starts at the first value and learns at α; the score after n
    actions uses μ = w·m + (1−w)·μ₀ and the mixture variance, w = n/10."""
    xs = [3000.0, 3400.0, 2600.0, 3100.0, 2900.0, 3300.0]
    baseline = Baseline(PARAMS)
    m = v = 0.0
    mu0, sd0 = DEFAULT_BASELINES["token_usage"]
    for n, x in enumerate(xs):
        w = n / 10
        mu = w * m + (1 - w) * mu0
        sd = math.sqrt(w * v + (1 - w) * sd0**2 + w * (1 - w) * (m - mu0) ** 2)
        zs, _ = baseline.observe(values(token_usage=x), PARAMS)
        assert zs[TOKENS] == pytest.approx((x - mu) / max(sd, 0.02), rel=1e-12)
        if n == 0:
            m, v = x, 0.0
        else:
            d = x - m
            m, v = m + ALPHA * d, (1 - ALPHA) * (v + ALPHA * d * d)


def test_after_cold_start_z_is_against_the_ema_alone() -> None:
    baseline = Baseline(PARAMS)
    for _ in range(10):
        baseline.observe(values(token_usage=2000.0), PARAMS)
    # A steady signal: the EMA is exactly the value and its variance 0, so σ is the floor.
    assert baseline.mean[TOKENS] == 2000.0 and baseline.var[TOKENS] == 0.0
    zs, _ = baseline.observe(values(token_usage=2000.05), PARAMS)
    assert zs[TOKENS] == pytest.approx(0.05 / 0.02)


def test_an_agent_unlike_the_prior_is_uncertain_not_alarming_for_scale_signals() -> None:
    """20k-token prompts are some agents' normal: the mixture widens σ while it is learnt."""
    baseline = Baseline(PARAMS)
    pressures = [
        baseline.observe(values(token_usage=20_000.0 + 50 * (i % 3)), PARAMS)[1][TOKENS] for i in range(30)
    ]
    assert pressures[0] == 1.0  # nothing known yet but the prior: 19 standard deviations out
    assert max(pressures[3:]) < 0.3  # ordinary noise from then on (z < 2)


def test_absolute_signals_start_at_the_prior_so_flailing_from_the_start_is_flagged() -> None:
    """Failing every other action from the first one: eight prior standard deviations out.
    Saturated through cold start, alarming for twice as long, learnt only after that."""
    baseline = Baseline(PARAMS)
    pressures = [baseline.observe(values(error_rate=0.5), PARAMS)[1][ERRORS] for _ in range(40)]
    assert min(pressures[:10]) == 1.0
    assert min(pressures[:20]) > 0.5
    assert pressures[-1] < 0.25


def test_robust_learning_keeps_a_sustained_anomaly_alarming() -> None:
    """After a steady start, a jump is learnt slowly: α·max(0.1, 1 − p) and deviations clipped
    at 3σ. A plain EMA (α, no clip) would have calmed down after a couple of actions."""
    robust = Baseline(PARAMS)
    for _ in range(40):
        robust.observe(values(error_rate=0.0), PARAMS)
    zs = [robust.observe(values(error_rate=0.5), PARAMS)[0][ERRORS] for _ in range(25)]
    assert min(zs) > 6.0

    m, v = 0.0, 0.0  # the same jump against a plain EMA
    plain = []
    for _ in range(3):
        plain.append((0.5 - m) / max(math.sqrt(v), 0.02))
        d = 0.5 - m
        m, v = m + ALPHA * d, (1 - ALPHA) * (v + ALPHA * d * d)
    assert plain[-1] < 3.0


def test_a_lasting_change_is_absorbed_eventually() -> None:
    baseline = Baseline(PARAMS)
    for i in range(40):
        baseline.observe(values(token_usage=2000.0 + 100 * (i % 4)), PARAMS)
    pressures = [
        baseline.observe(values(token_usage=4000.0 + 200 * (i % 4)), PARAMS)[1][TOKENS] for i in range(150)
    ]
    assert pressures[0] == 1.0
    assert max(pressures[-20:]) < 0.25


def test_state_round_trip_is_exact() -> None:
    baseline = Baseline(PARAMS)
    for i in range(15):
        baseline.observe(values(token_usage=1000.0 + 37.5 * i, drift=0.4 + 0.01 * i), PARAMS)
    again = Baseline.from_json(baseline.to_json(), PARAMS)
    probe = values(token_usage=1500.0, drift=0.9)
    assert again.observe(probe, PARAMS) == baseline.observe(probe, PARAMS)



def test_a_steady_agent_that_changes_level_is_absorbed_not_frozen() -> None:
    """A perfectly steady signal has σ = 0: its deviations are learnt up to clip·floor, not
    clip·σ = 0 — which would freeze the baseline, so the new level would alarm for ever."""
    baseline = Baseline(PARAMS)
    for _ in range(60):
        baseline.observe(values(token_usage=2000.0), PARAMS)
    assert baseline.var[TOKENS] == 0.0
    pressures = [baseline.observe(values(token_usage=2000.2), PARAMS)[1][TOKENS] for _ in range(120)]
    assert pressures[0] == 1.0  # ten floors away
    assert baseline.mean[TOKENS] > 2000.1, "the baseline never moved toward the new level"
    assert max(pressures[-20:]) < 0.25


def test_a_learning_step_is_clipped_at_clip_times_the_floored_sigma() -> None:
    """One step after cold start, computed here from the docstring's formulas: σ under the
    floor (a quiet absolute signal), an alarming value, learnt at α·max(0.1, 1 − p) with its
    deviation clipped at 3·max(σ, 0.02)."""
    baseline = Baseline(PARAMS)
    for _ in range(60):
        baseline.observe(values(error_rate=0.0), PARAMS)
    m, v = baseline.mean[ERRORS], baseline.var[ERRORS]
    assert 0.0 < math.sqrt(v) < 0.02
    x = 0.3
    scale = max(math.sqrt(v), 0.02)
    z = (x - m) / scale
    a = ALPHA * max(0.1, 1 - signal_pressure(z))
    d = max(-3.0 * scale, min(3.0 * scale, x - m))
    zs, _ = baseline.observe(values(error_rate=x), PARAMS)
    assert zs[ERRORS] == pytest.approx(z, rel=1e-12)
    assert baseline.mean[ERRORS] == pytest.approx(m + a * d, rel=1e-12)
    assert baseline.var[ERRORS] == pytest.approx((1 - a) * (v + d * a * d), rel=1e-12)


def test_a_cold_start_step_is_clipped_at_clip_times_the_floored_sigma() -> None:
    """During cold start too: a prior narrower than the floor (σ₀ = 0.005) scores and clips
    against the floor. First action, w = 0: μ = μ₀, σ = σ₀."""
    config = VitalsConfig(baselines={**DEFAULT_BASELINES, "error_rate": (0.1, 0.005)})
    params = BaselineParams(config)
    baseline = Baseline(params)
    x, m0 = 0.3, 0.1
    zs, ps = baseline.observe(values(error_rate=x), params)
    z = (x - m0) / 0.02
    assert zs[ERRORS] == pytest.approx(z) and ps[ERRORS] == 1.0
    a, d = ALPHA * 0.1, 3.0 * 0.02  # alarming: learnt at a tenth of α, as if 3 floors away
    assert baseline.mean[ERRORS] == pytest.approx(m0 + a * d, rel=1e-12)
    assert baseline.var[ERRORS] == pytest.approx((1 - a) * (0.005**2 + d * a * d), rel=1e-12)


def _steady(signal: int, level: float, actions: int = 40) -> list[object]:
    """A baseline's state after ``actions`` identical actions (σ = 0 for a scale signal)."""
    baseline = Baseline(PARAMS)
    for _ in range(actions):
        baseline.observe(values(**{SIGNALS[signal]: level}), PARAMS)
    return baseline.to_json()


@pytest.mark.parametrize(
    ("z", "pressure"), [(-1.0, 0.0), (0.0, 0.0), (0.5, 1 / (1 + math.exp(2.5))), (6.5, 1.0)]
)
def test_pressure_of_a_value_scored_after_cold_start_follows_the_formula(z: float, pressure: float) -> None:
    """σ_clamp(z): 0 at or below 0, 1/(1+e^(3−z)) up to 6, 1 above — here on the hot path,
    which inlines it; σ = 0 so the floor scales: x = 2000 + z·0.02."""
    baseline = Baseline.from_json(_steady(TOKENS, 2000.0), PARAMS)
    zs, ps = baseline.observe(values(token_usage=2000.0 + z * 0.02), PARAMS)
    assert zs[TOKENS] == pytest.approx(z, abs=1e-6)
    assert ps[TOKENS] == pytest.approx(pressure, abs=1e-6)
    assert ps[TOKENS] == signal_pressure(zs[TOKENS])


def test_the_first_action_after_cold_start_is_learnt_robustly() -> None:
    """Action 11 is scored and learnt by the EMA alone: a tenth of α, deviation clipped at
    3·floor — not at the full α of a scale signal's cold start."""
    baseline = Baseline.from_json(_steady(TOKENS, 2000.0, actions=10), PARAMS)
    baseline.observe(values(token_usage=2500.0), PARAMS)
    assert baseline.mean[TOKENS] == pytest.approx(2000.0 + ALPHA * 0.1 * 3 * 0.02, rel=1e-12)


def test_a_fall_is_clipped_downwards() -> None:
    """A fall is not alarming (p = 0): learnt at the full α, its deviation clipped at −3·floor."""
    baseline = Baseline.from_json(_steady(TOKENS, 2000.0), PARAMS)
    baseline.observe(values(token_usage=500.0), PARAMS)
    assert baseline.mean[TOKENS] == pytest.approx(2000.0 - ALPHA * 3 * 0.02, rel=1e-12)


@pytest.mark.parametrize("x", [0.25, -2.0])
def test_cold_start_learning_of_an_absolute_signal_follows_the_formula(x: float) -> None:
    """Second action of ``uncertainty`` (prior 0.2 ± 0.15): an ordinary value is learnt at
    α·max(0.1, 1 − p), a far fall (below the prior) is clipped at 3σ of the blend."""
    index = SIGNALS.index("uncertainty")
    baseline = Baseline(PARAMS)
    baseline.observe(values(), PARAMS)  # first action at the prior's mean: nothing moves
    m, v = baseline.mean[index], baseline.var[index]
    mu0, sd0 = DEFAULT_BASELINES["uncertainty"]
    assert (m, v) == pytest.approx((mu0, sd0**2 * (1 - ALPHA)))
    w = 0.1
    mu = w * m + (1 - w) * mu0
    sd = math.sqrt(w * v + (1 - w) * sd0**2 + w * (1 - w) * (m - mu0) ** 2)
    z = (x - mu) / max(sd, 0.02)
    a = ALPHA * max(0.1, 1 - signal_pressure(z))
    d = max(-3 * max(sd, 0.02), min(3 * max(sd, 0.02), x - m))
    baseline.observe(values(uncertainty=x), PARAMS)
    assert baseline.mean[index] == pytest.approx(m + a * d, rel=1e-12)
    assert baseline.var[index] == pytest.approx((1 - a) * (v + d * a * d), rel=1e-12)
