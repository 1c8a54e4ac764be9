"""Per-agent baselines: what is normal for *this* agent, signal by signal — and never its distress.

Scoring
-------
Each signal keeps an exponential moving average of its mean and variance (α = 0.08, the
incremental form: d = x − m; m += a·d; v = (1 − a)·(v + a·d²)). A new value is scored against
the reference *before* it is learnt (a spike must not soften its own z-score):

    z = (x − μ) / max(σ, floor)

μ and σ are the EMA's, held to what the signal is (anchors, below). Cold start: the EMA
starts at the documented prior (config ``baselines``) and the prior weighs as ``cold_start``
(10) readings — the n-th reading is learnt at a = max(α, 1/(10 + n + 1)), a running mean and
variance blended with the prior until the EMA's own weight takes over. A signal without a
reading (``measured`` False: see ``signals``) is neither scored nor learnt.

Learning: the agent's normal, never its distress
-----------------------------------------------
The baseline used to learn everything it saw — anomalies slowly, at a tenth of the rate and
clipped to 3σ, but each of them still widened σ by a few percent. A retry storm became the
agent's normal within ~40 actions and the agent read as healthy for the rest of it (issue
21). Now, as a control chart freezes its reference while the process is out of control:

* **A value at z ≥ control_limit (3) — where its pressure reaches 0.5, the monitor judging
  it more likely an anomaly than not — is scored and never learnt** by the distress signals,
  and learnt only as a slow re-levelling by the others (below). Everything below the limit
  is learnt: it is what the agent's normal looks like, tails included; learning only the
  middle of it biases σ low, and ordinary work then alarms more (the scenario suite's 1,000
  actions of ordinary work, 20 seeds: GUIDE+ on 0.8% of actions with the limit at 3, 2.3% at
  2.5, 6.7% and WARN at 2 — ``VitalsConfig(control_limit=...)``).
* **Nothing is learnt while the agent is stuck** (the engine says so: a failed call repeated
  as is is in its window). A retry storm is distress by its shape, not by how far its
  readings are from the reference yet: its first failures are within control, and learning
  them would move the reference toward the storm before it crossed the limit.

The anchors make "never normal" hold whatever was learnt below the limit:

* ``uncertainty`` and ``error_rate`` — the *distress* signals — are absolute: a failure ratio
  near 1, or an agent going round in circles, is never normal, whatever the agent did before.
  Their reference mean is capped at μ₀ + ``anchor``·σ₀ (a creeping failure rate, each step
  within control, is learnt up to there and no further), and σ is held within
  [1/window, ``sigma_max``·σ₀]: a window of ten resolves one failure (or one repeat) in ten,
  so that is one σ at the least — an agent that never failed does not alarm at its first
  failure — and a noisy agent cannot widen its tolerance until a storm fits in it. So every
  call failing stands at z ≥ (1 − 0.2)/0.125 = 6.4 and a retry storm's uncertainty (2.0) at
  z ≥ 8.8: both saturated, for as long as they last.
* ``drift`` is absolute too (1 − cosine, in [0, 1]), but how much an agent's work shares with
  its intent depends on its tools and the intent's words: its mean is learnt freely, and it
  starts afresh with each new intent (``restart``). σ ≥ ``sigma_floor``.
* ``token_usage`` and ``cost`` — the *scale* signals — depend on the model and the task (a
  20k-token prompt is normal for some agents): their level is the agent's own. The first
  reading sets it (scored z = 0: any level is some agent's normal), with σ from the prior's
  *relative* spread (σ₀/μ₀ of the first reading); σ is at least ``scale_floor``·μ (velocity
  moving by a quarter means nothing yet).

Drift and the scale signals re-level: an out-of-control value moves their mean by
α·``learn_floor``·control_limit·σ (never their variance). A context that grows as a session
goes on is followed in control; a lasting jump past the limit — reading bigger files, a new
phase of the work — stops alarming after a while (a doubling of token velocity after ~20
actions) instead of forever, while a ×5 cost spiral keeps its pressure for ~170 actions.

What was tried and left out (on the scenario suite): a CUSUM per signal, freezing and
restoring the reference once S = Σ(z − k) passed h, raised ordinary work's GUIDE+ share
several-fold (to 3-30% for k = 0.5-1, h = 5-20): the signals are windowed, so one ordinary
cluster of failures stays in ten readings in a row and adds up like a real shift; run on one
reading per window (independent samples) it changed nothing measurable. Holding readings on
probation for a window before learning them (dropping them if the signal then went out of
control) kept a slow drift off the intent from being absorbed on its way up, but raised
ordinary work's GUIDE+ share to ~7%: the reference then lags the agent's own slow wandering.
A persistence term that raises the pressure of a sustained moderate deviation was left out
for the same reason: on windowed signals, ordinary clusters would climb into alarms.
Persistence here is the frozen reference: sustained distress keeps its pressure. What this
costs: a moderate shift that ramps in over a window (drift off the intent, on an agent
whose drift is noisy) can be learnt before it crosses the limit — the drift scenario meets
its goal on about half of its seeds.
"""

from __future__ import annotations

import math
from typing import Any, Final

from .config import DISTRESS_SIGNALS, SCALE_SIGNALS, SIGNALS, VitalsConfig

_Floats = tuple[float, ...]
_sqrt = math.sqrt
_exp = math.exp
_N: Final = len(SIGNALS)
_INF: Final = math.inf


class BaselineParams:
    """The config's numbers, unpacked once per signal for the hot path."""

    __slots__ = (
        "alpha",
        "clip",
        "cold_start",
        "floor",
        "limit",
        "mean_cap",
        "prior_mean",
        "prior_var",
        "relative",
        "relevel",
        "rows",
        "scale",
        "sd_max",
        "sd_min",
    )

    def __init__(self, config: VitalsConfig) -> None:
        self.alpha = config.alpha
        self.cold_start = config.cold_start
        self.clip = config.clip
        self.limit = config.control_limit
        prior = [config.baselines[name] for name in SIGNALS]
        scale = [name in SCALE_SIGNALS for name in SIGNALS]
        distress = [name in DISTRESS_SIGNALS for name in SIGNALS]
        self.scale = tuple(scale)
        self.prior_mean = tuple(mean for mean, _ in prior)
        # For a scale signal, the prior's relative spread (σ₀/μ₀)², times its first reading².
        self.prior_var = tuple(
            (std / mean) ** 2 if s else std * std for (mean, std), s in zip(prior, scale, strict=True)
        )
        self.mean_cap = tuple(
            mean + config.anchor * std if d else _INF for (mean, std), d in zip(prior, distress, strict=True)
        )
        resolution = max(1.0 / config.window, config.sigma_floor)
        self.sd_min = tuple(
            resolution if d else 0.0 if s else config.sigma_floor
            for d, s in zip(distress, scale, strict=True)
        )
        self.sd_max = tuple(
            config.sigma_max * std if d else _INF for (_, std), d in zip(prior, distress, strict=True)
        )
        self.relative = tuple(config.scale_floor if s else 0.0 for s in scale)  # σ ≥ relative·|μ|
        self.floor = tuple(1e-12 if s else 0.0 for s in scale)  # and never 0
        # How far (in σ) an out-of-control value moves the mean: 0 for the distress signals.
        relevel = config.alpha * config.learn_floor * config.control_limit
        self.relevel = tuple(0.0 if d else relevel for d in distress)
        # The same, one row per signal: the hot loop unpacks a row instead of indexing seven
        # tuples.
        self.rows = tuple(
            zip(
                self.scale,
                self.mean_cap,
                self.sd_min,
                self.sd_max,
                self.relative,
                self.floor,
                self.relevel,
                strict=True,
            )
        )


class Baseline:
    """The reference of one agent's five signals: per signal, its EMA (mean, variance) and
    the number of readings it has scored."""

    __slots__ = ("mean", "n", "var")

    def __init__(self, params: BaselineParams) -> None:
        self.n = [0] * _N
        # The absolute signals start at the prior; a scale signal at its first reading.
        self.mean = list(params.prior_mean)
        self.var = list(params.prior_var)

    def restart(self, i: int, params: BaselineParams) -> None:
        """Forget signal ``i``: its next reading is a first one (drift, for a new intent)."""
        self.n[i] = 0
        self.mean[i] = params.prior_mean[i]
        self.var[i] = params.prior_var[i]

    def observe(
        self, values: _Floats, measured: tuple[bool, ...], stuck: bool, params: BaselineParams
    ) -> tuple[_Floats, _Floats]:
        """Score ``values`` (one per signal) against the reference, then learn what is in
        control (module docstring) — nothing while the agent is ``stuck``. Returns (z-scores,
        signal pressures); a signal without a reading scores 0."""
        zs = [0.0] * _N
        ps = [0.0] * _N
        means = self.mean
        variances = self.var
        counts = self.n
        alpha = params.alpha
        prior_weight = params.cold_start + 1
        limit = params.limit
        clip = params.clip
        for i, (scale, cap, sd_min, sd_max, relative, floor, relevel) in enumerate(params.rows):
            if not measured[i]:
                continue
            x = values[i]
            n = counts[i]
            counts[i] = n + 1
            if n == 0 and scale:
                # The first reading sets the level and, through the prior's relative spread,
                # σ: there is nothing to compare it with yet.
                means[i] = x
                variances[i] = params.prior_var[i] * x * x
                continue
            m = means[i]
            v = variances[i]
            mu = m if m < cap else cap
            sd = _sqrt(v)
            if sd > sd_max:
                sd = sd_max
            if sd < sd_min:
                sd = sd_min
            if relative:
                bound = relative * (mu if mu > 0.0 else -mu)
                if sd < bound:
                    sd = bound
                if sd < floor:
                    sd = floor
            z = (x - mu) / sd
            zs[i] = z
            # signal_pressure(z), inlined: this runs five times per action.
            ps[i] = 1.0 if z > 6.0 else 1.0 / (1.0 + _exp(3.0 - z)) if z > 0.0 else 0.0
            if stuck:
                continue
            if z >= limit:  # out of control: not learnt (module docstring)
                means[i] = m + relevel * sd
                continue
            a = 1.0 / (prior_weight + n)  # the prior weighs as cold_start readings
            if a < alpha:
                a = alpha
            d = x - m
            bound = clip * sd
            if d > bound:
                d = bound
            elif d < -bound:
                d = -bound
            step = a * d
            means[i] = m + step
            variances[i] = (1.0 - a) * (v + d * step)
        return tuple(zs), tuple(ps)

    def to_json(self) -> list[Any]:
        return [list(self.n), list(self.mean), list(self.var)]

    @classmethod
    def from_json(cls, data: list[Any], params: BaselineParams) -> Baseline:
        baseline = cls(params)
        baseline.n = [int(n) for n in data[0]]
        baseline.mean = [float(x) for x in data[1]]
        baseline.var = [float(x) for x in data[2]]
        return baseline
