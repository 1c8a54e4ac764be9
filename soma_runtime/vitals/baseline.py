"""Per-agent baselines: what is normal for *this* agent, signal by signal.

Each signal keeps an exponential moving average of its mean and variance (α = 0.08, the
incremental form: d = x − m; m += a·d; v = (1 − a)·(v + a·d²)). A new value is scored against
the baseline *before* it is learnt (a spike must not soften its own z-score):

    z = (x − μ) / max(σ, 0.02)

Cold start: over an agent's first ``cold_start`` (10) actions the baseline blends the
documented prior (config ``baselines``: mean μ₀, std σ₀) with the EMA, with weight w = n/10 on
the EMA after n actions::

    μ = w·m + (1 − w)·μ₀
    σ² = w·v + (1 − w)·σ₀² + w·(1 − w)·(m − μ₀)²

— the variance of the mixture of the two, so an EMA that has moved far from the prior widens
σ instead of sharpening it.

Two kinds of signal, learnt differently:

* ``uncertainty``, ``drift`` and ``error_rate`` have absolute scales, and the prior says what a
  healthy agent looks like. Their EMA *starts at the prior* (m = μ₀, v = σ₀²) and learns
  robustly from the first action (below), so an agent that flails from its very first action
  is flagged instead of being learnt as its own normal.
* ``token_usage`` and ``cost`` depend on the model and the task (a 20k-token prompt is normal
  for some agents): their EMA starts at the first value (m = x₁, v = 0) and learns at the full
  rate α during cold start.

Robust learning (always for the absolute signals, after cold start for the others): a value
is learnt at rate a = α·max(learn_floor, 1 − p), p being its own signal pressure, and its
deviation is clipped to ±clip·max(σ, floor) (Huber-style) before it enters the mean and the
variance. Ordinary values are learnt at α; an alarming one at a tenth of it and as if it
were only three σ away. Without this, one value ten floors away would inflate σ at once and
silence the alarm on the next action: a retry storm would calm its own alarm. With it σ
grows by a few percent per anomalous action at most, so a lasting change is still absorbed —
over tens of actions, not two.
"""

from __future__ import annotations

import math
from typing import Any, Final

from .config import SIGNALS, VitalsConfig
from .pressure import signal_pressure

SCALE_SIGNALS: Final = frozenset({"token_usage", "cost"})
"""Signals whose normal level depends on the agent (see the module docstring)."""

_Floats = tuple[float, ...]
_sqrt = math.sqrt
_exp = math.exp
_N = len(SIGNALS)


class BaselineParams:
    """The config's numbers, unpacked once for the hot path."""

    __slots__ = ("alpha", "clip", "cold_start", "floor", "learn_floor", "prior_mean", "prior_var", "scale")

    def __init__(self, config: VitalsConfig) -> None:
        self.alpha = config.alpha
        self.cold_start = config.cold_start
        self.floor = config.sigma_floor
        self.learn_floor = config.learn_floor
        self.clip = config.clip
        self.prior_mean = tuple(config.baselines[name][0] for name in SIGNALS)
        self.prior_var = tuple(config.baselines[name][1] ** 2 for name in SIGNALS)
        self.scale = tuple(name in SCALE_SIGNALS for name in SIGNALS)


class Baseline:
    """The EMA state of one agent's five signals (all observed together, one count)."""

    __slots__ = ("mean", "n", "var")

    def __init__(self, params: BaselineParams) -> None:
        self.n = 0
        # The absolute signals start at the prior; the scale signals at their first value.
        self.mean = list(params.prior_mean)
        self.var = list(params.prior_var)

    def observe(self, values: _Floats, params: BaselineParams) -> tuple[_Floats, _Floats]:
        """Score ``values`` (one per signal) against the baseline, then learn them.
        Returns (z-scores, signal pressures)."""
        n = self.n
        self.n = n + 1
        if n < params.cold_start:
            return self._cold(values, params, n)
        floor = params.floor
        alpha = params.alpha
        learn_floor = params.learn_floor
        clip = params.clip
        zs = []
        ps = []
        means = []
        variances = []
        for x, m, v in zip(values, self.mean, self.var, strict=True):
            sd = _sqrt(v)
            scale = sd if sd > floor else floor
            z = (x - m) / scale
            # signal_pressure(z), inlined: this runs five times per action.
            p = 1.0 if z > 6.0 else 1.0 / (1.0 + _exp(3.0 - z)) if z > 0.0 else 0.0
            zs.append(z)
            ps.append(p)
            keep = 1.0 - p
            a = alpha * (keep if keep > learn_floor else learn_floor)
            d = x - m
            limit = clip * scale
            if d > limit:
                d = limit
            elif d < -limit:
                d = -limit
            step = a * d
            means.append(m + step)
            variances.append((1.0 - a) * (v + d * step))
        self.mean = means
        self.var = variances
        return tuple(zs), tuple(ps)

    def _cold(self, values: _Floats, params: BaselineParams, n: int) -> tuple[_Floats, _Floats]:
        """Cold start: score against the blend of prior and EMA (module docstring)."""
        mean = self.mean
        var = self.var
        floor = params.floor
        w = n / params.cold_start
        zs = []
        ps = []
        for i, x in enumerate(values):
            m = mean[i]
            v = var[i]
            m0 = params.prior_mean[i]
            spread = m - m0
            mu = w * m + (1.0 - w) * m0
            sd = _sqrt(w * v + (1.0 - w) * params.prior_var[i] + w * (1.0 - w) * spread * spread)
            scale = sd if sd > floor else floor
            z = (x - mu) / scale
            p = signal_pressure(z)
            zs.append(z)
            ps.append(p)
            if params.scale[i]:
                if n == 0:  # the EMA starts at the first value
                    mean[i] = x
                    var[i] = 0.0
                    continue
                a = params.alpha
                d = x - m
            else:  # robust from the start, by how alarming the value was judged
                keep = 1.0 - p
                a = params.alpha * (keep if keep > params.learn_floor else params.learn_floor)
                limit = params.clip * scale
                d = x - m
                if d > limit:
                    d = limit
                elif d < -limit:
                    d = -limit
            step = a * d
            mean[i] = m + step
            var[i] = (1.0 - a) * (v + d * step)
        return tuple(zs), tuple(ps)

    def to_json(self) -> list[Any]:
        return [self.n, list(self.mean), list(self.var)]

    @classmethod
    def from_json(cls, data: list[Any], params: BaselineParams) -> Baseline:
        baseline = cls(params)
        baseline.n = int(data[0])
        baseline.mean = [float(x) for x in data[1]]
        baseline.var = [float(x) for x in data[2]]
        return baseline
