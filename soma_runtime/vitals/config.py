"""The engine's tunables and their documented defaults.

Everything that shapes the numbers lives in one frozen :class:`VitalsConfig`, so a replay
with the same config over the same events gives the same trajectory, and the config travels
with the engine's exported state.

Baseline defaults (cold start)
------------------------------
The priors describe a *healthy* agent in a tool-using loop (a model call, then a tool call,
and so on). An agent's first ``cold_start`` actions are scored against them blended with what
was observed (see ``baseline``). For the absolute signals (uncertainty, drift, error_rate) the
prior is also where learning starts, so an agent that flails from its first action is flagged;
for the scale signals (token_usage, cost) it only tempers the first few z-scores:

===============  ======  =====  ====================================================
signal           mean    std    why
===============  ======  =====  ====================================================
``uncertainty``  0.2     0.15   a hedge every ~50 words of model text, no repeats
``drift``        0.5     0.25   tool calls (names, JSON arguments) share few n-grams
                                with an intent written in prose: on-task work
                                measures 0.35 to 0.6, and an agent's first tool call
                                alone may share none (1.0)
``error_rate``   0.1     0.05   one failure in ten actions is ordinary; one in two
                                is eight standard deviations out
``token_usage``  1000    1000   a ~2,000-token model call every other action
``cost``         0.01    0.02   dollars per action
===============  ======  =====  ====================================================

Note the z floor (0.02) is in each signal's own unit: for ``cost`` it means that moves below
two cents per action are noise, so cost weighs in on expensive loops, not cheap ones.

Learning (``learn_floor`` 0.1, ``clip`` 3) was tuned on synthetic logs (``tests/vitals``): a
retry storm after some healthy work, its context growing a few hundred tokens per retry,
walks OBSERVE → GUIDE → WARN → BLOCK within ~5 actions, holds BLOCK for ~25 actions before
its signals start to be learnt, and is back in OBSERVE ~5 actions after the agent recovers; a
coding agent whose test runs fail a quarter to half of the time spends ~4% of its actions
above OBSERVE; a lasting doubling of token use is absorbed in ~50 actions. BLOCK needs broad
distress — aggregate ≥ 0.75 takes the equivalent of 3.2 saturated signals of five.

Prices
------
``DEFAULT_PRICES``: list prices in USD per million tokens, by model-name prefix (the longest
matching prefix wins, so dated snapshots like ``claude-3-5-sonnet-20241022`` find their
family). They are used only when an ``llm.*`` event reports no ``cost_usd`` of its own; a
reported cost is what was charged and always wins. Prices change: pass your own table
(``VitalsConfig(prices={**DEFAULT_PRICES, "my-model": ModelPrice(1.0, 2.0)})``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final

SIGNALS: Final = ("uncertainty", "drift", "error_rate", "token_usage", "cost")
"""The five signals, in the order every tuple of per-signal values uses."""


@dataclass(frozen=True, slots=True)
class ModelPrice:
    """USD per million tokens, by kind of token."""

    input: float
    output: float
    cache_read: float = 0.0
    cache_write: float = 0.0

    def __post_init__(self) -> None:
        for name in ("input", "output", "cache_read", "cache_write"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise ValueError(f"ModelPrice.{name} must be a finite number, got {value!r}")
            if value < 0:
                raise ValueError(f"ModelPrice.{name} must be >= 0, got {value!r}")

    def cost(self, input_tokens: int, output_tokens: int, cache_read: int, cache_write: int) -> float:
        """Dollars for one call with these token counts; ``cache_read`` and ``cache_write`` are
        parts of ``input_tokens`` (see ``payloads.TokenUsage``), charged at their own rates."""
        uncached = max(0, input_tokens - cache_read - cache_write)
        return (
            uncached * self.input
            + output_tokens * self.output
            + cache_read * self.cache_read
            + cache_write * self.cache_write
        ) / 1_000_000


DEFAULT_PRICES: Final[Mapping[str, ModelPrice]] = MappingProxyType(
    {
        # Anthropic: input, output, cache read, cache write (5-minute). A newer model of a
        # family priced differently needs its own, longer prefix: ``claude-opus-4-5`` must not
        # fall back to ``claude-opus-4``.
        "claude-opus-4-5": ModelPrice(5.0, 25.0, 0.5, 6.25),
        "claude-opus-4": ModelPrice(15.0, 75.0, 1.5, 18.75),
        "claude-sonnet-4": ModelPrice(3.0, 15.0, 0.3, 3.75),
        "claude-haiku-4-5": ModelPrice(1.0, 5.0, 0.1, 1.25),
        "claude-3-opus": ModelPrice(15.0, 75.0, 1.5, 18.75),
        "claude-3-7-sonnet": ModelPrice(3.0, 15.0, 0.3, 3.75),
        "claude-3-5-sonnet": ModelPrice(3.0, 15.0, 0.3, 3.75),
        "claude-3-5-haiku": ModelPrice(0.8, 4.0, 0.08, 1.0),
        "claude-3-haiku": ModelPrice(0.25, 1.25, 0.03, 0.3),
        # OpenAI: input, output, cached input (OpenAI charges nothing to write its cache).
        "gpt-5": ModelPrice(1.25, 10.0, 0.125),
        "gpt-5-mini": ModelPrice(0.25, 2.0, 0.025),
        "gpt-5-nano": ModelPrice(0.05, 0.4, 0.005),
        "gpt-5-pro": ModelPrice(15.0, 120.0),
        "gpt-4o": ModelPrice(2.5, 10.0, 1.25),
        "gpt-4o-mini": ModelPrice(0.15, 0.6, 0.075),
        "gpt-4.1": ModelPrice(2.0, 8.0, 0.5),
        "gpt-4.1-mini": ModelPrice(0.4, 1.6, 0.1),
        "gpt-4.1-nano": ModelPrice(0.1, 0.4, 0.025),
        "o3": ModelPrice(2.0, 8.0, 0.5),
        "o3-mini": ModelPrice(1.1, 4.4, 0.55),
        "o3-pro": ModelPrice(20.0, 80.0),
        "o4-mini": ModelPrice(1.1, 4.4, 0.275),
    }
)


def price_for(model: str | None, prices: Mapping[str, ModelPrice] = DEFAULT_PRICES) -> ModelPrice | None:
    """The price of ``model``: an exact entry, else the longest prefix entry, else None.

    The vitals and the model providers share it, so a call's recorded cost and the cost the
    vitals would compute from its usage agree."""
    if not model:
        return None
    exact = prices.get(model)
    if exact is not None:
        return exact
    best = ""
    for prefix in prices:
        if len(prefix) > len(best) and model.startswith(prefix):
            best = prefix
    return prices[best] if best else None


DEFAULT_BASELINES: Final[Mapping[str, tuple[float, float]]] = MappingProxyType(
    {
        "uncertainty": (0.2, 0.15),
        "drift": (0.5, 0.25),
        "error_rate": (0.1, 0.05),
        "token_usage": (1000.0, 1000.0),
        "cost": (0.01, 0.02),
    }
)


@dataclass(frozen=True)
class VitalsConfig:
    """How the engine scores actions. The defaults are the documented ones (module docstring)."""

    alpha: float = 0.08
    """EMA weight of a new observation in a baseline's mean and variance."""
    cold_start: int = 10
    """Actions over which a baseline blends from the defaults to what it observed (weight n/10)."""
    sigma_floor: float = 0.02
    """z = (x − μ) / max(σ, floor): a perfectly steady signal does not turn noise into alarms."""
    learn_floor: float = 0.1
    """After cold start a baseline learns an observation at rate α·max(learn_floor, 1 − p),
    p being that observation's signal pressure: an anomaly is learnt at a quarter of the rate
    (a retry storm must not calm its own alarm), an ordinary value at the full rate."""
    clip: float = 3.0
    """After cold start a deviation is learnt as at most clip·max(σ, floor) (see ``baseline``)."""
    window: int = 10
    """Actions in the sliding window of ``error_rate``, ``uncertainty``, ``drift``,
    ``token_usage`` and ``cost``."""
    hedge_weight: float = 10.0
    """``uncertainty`` = hedge_weight · hedges per word + share of repeated calls: a hedge
    every tenth word weighs as much as every call being a repeat."""
    baselines: Mapping[str, tuple[float, float]] = field(default_factory=lambda: DEFAULT_BASELINES)
    """Per signal (mean, std) of the cold-start prior."""
    prices: Mapping[str, ModelPrice] = field(default_factory=lambda: DEFAULT_PRICES)

    def __post_init__(self) -> None:
        def number(name: str, value: Any, low: float, high: float) -> None:
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise ValueError(f"VitalsConfig.{name} must be a finite number, got {value!r}")
            if not low <= value <= high:
                raise ValueError(f"VitalsConfig.{name} must be in [{low}, {high}], got {value!r}")

        number("alpha", self.alpha, 1e-9, 1.0)
        number("sigma_floor", self.sigma_floor, 1e-12, math.inf)
        number("learn_floor", self.learn_floor, 0.0, 1.0)
        number("clip", self.clip, 1e-9, math.inf)
        number("hedge_weight", self.hedge_weight, 0.0, math.inf)
        for name in ("cold_start", "window"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"VitalsConfig.{name} must be a positive int, got {value!r}")
        if set(self.baselines) != set(SIGNALS):
            raise ValueError(
                f"VitalsConfig.baselines must give exactly {SIGNALS}, got {sorted(self.baselines)}"
            )
        baselines: dict[str, tuple[float, float]] = {}
        for name in SIGNALS:
            mean, std = self.baselines[name]
            number(f"baselines[{name!r}] mean", mean, -math.inf, math.inf)
            number(f"baselines[{name!r}] std", std, 0.0, math.inf)
            baselines[name] = (float(mean), float(std))
        for model, price in self.prices.items():
            if not isinstance(model, str) or not isinstance(price, ModelPrice):
                raise ValueError(
                    f"VitalsConfig.prices maps model names to ModelPrice, got {model!r}: {price!r}"
                )
        # Frozen copies: a caller mutating its dict afterwards must not change a running engine.
        object.__setattr__(self, "baselines", MappingProxyType(baselines))
        object.__setattr__(self, "prices", MappingProxyType(dict(self.prices)))

    def price_for(self, model: str | None) -> ModelPrice | None:
        """The price of ``model`` in this config's table (see :func:`price_for`)."""
        return price_for(model, self.prices)

    def to_json(self) -> dict[str, Any]:
        return {
            "alpha": self.alpha,
            "cold_start": self.cold_start,
            "sigma_floor": self.sigma_floor,
            "learn_floor": self.learn_floor,
            "clip": self.clip,
            "window": self.window,
            "hedge_weight": self.hedge_weight,
            "baselines": {name: list(v) for name, v in self.baselines.items()},
            "prices": {
                model: [p.input, p.output, p.cache_read, p.cache_write] for model, p in self.prices.items()
            },
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> VitalsConfig:
        return cls(
            alpha=data["alpha"],
            cold_start=data["cold_start"],
            sigma_floor=data["sigma_floor"],
            learn_floor=data["learn_floor"],
            clip=data["clip"],
            window=data["window"],
            hedge_weight=data["hedge_weight"],
            baselines={name: (v[0], v[1]) for name, v in data["baselines"].items()},
            prices={model: ModelPrice(*v) for model, v in data["prices"].items()},
        )
