"""The engine's tunables and their documented defaults.

Everything that shapes the numbers lives in one frozen :class:`VitalsConfig`, so a replay
with the same config over the same events gives the same trajectory, and the config travels
with the engine's exported state.

Baseline defaults (cold start)
------------------------------
The priors describe a *healthy* agent in a tool-using loop (a model call, then a tool call,
and so on). Each weighs as ``cold_start`` readings of its signal (see ``baseline``). For the
absolute signals (uncertainty, drift, error_rate) the prior is where learning starts, so an
agent that flails from its first action is flagged; for the scale signals (token_usage,
cost) only its relative spread σ₀/μ₀ is used — their level is the agent's own:

===============  ======  =====  ====================================================
signal           mean    std    why
===============  ======  =====  ====================================================
``uncertainty``  0.2     0.15   a hedge every ~50 words of model text, no repeats
``drift``        0.5     0.25   tool calls (names, argument values) share few words
                                with an intent written in prose: on-task work
                                measures 0.35 to 0.7, and an agent's first tool call
                                alone may share none (1.0)
``error_rate``   0.1     0.1    one failed call in ten is ordinary, and a window of
                                ten calls resolves one in ten; every call failing is
                                nine standard deviations out
``token_usage``  1000    1000   ±100% around the agent's own first reading
``cost``         0.01    0.02   ±200% around the agent's own first reading
===============  ======  =====  ====================================================

Anchors and floors (``anchor``, ``sigma_max``, ``sigma_floor``, ``scale_floor``) bound what
a baseline can learn; ``control_limit`` says what it never learns. Their defaults were set
on the scenario suite (``soma_runtime.vitals.scenarios``, ``make bench``): a retry storm
reaches BLOCK within ten failures and holds it as long as it lasts, a ×5 cost spiral WARN
within ten actions, while 1,000 actions of ordinary work (10% of them failing, noisy tokens,
varied tools) stand at GUIDE on ~1% of actions and never at WARN. BLOCK needs broad distress
— an aggregate ≥ 0.75 — among the signals that have a reading: the equivalent of 3.2
saturated signals of five, or of 1.9 of the three an agent whose model calls Soma does not
see has (a retry storm saturates two).

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
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import Any, Final

SIGNALS: Final = ("uncertainty", "drift", "error_rate", "token_usage", "cost")
"""The five signals, in the order every tuple of per-signal values uses."""
PATTERNS: Final = (
    "bash_retry",
    "bash_error_streak",
    "budget",
    "blind_edit",
    "cost_spiral",
    "error_cascade",
    "pressure",
    "lesson",
)
"""The guidance patterns (``patterns``, ``lessons``): the names ``VitalsConfig.ab`` takes."""
SCALE_SIGNALS: Final = frozenset({"token_usage", "cost"})
"""Signals whose normal level depends on the agent and its model (see ``baseline``)."""
DISTRESS_SIGNALS: Final = frozenset({"uncertainty", "error_rate"})
"""Signals whose high values are distress whatever the agent's history (see ``baseline``)."""


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
        "error_rate": (0.1, 0.1),
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
    """The prior weighs as this many readings of a signal (see ``baseline``)."""
    sigma_floor: float = 0.05
    """z = (x − μ) / max(σ, floor) for the unitless signals (uncertainty, drift, error_rate):
    a perfectly steady signal does not turn noise into alarms. The scale signals have their
    own, relative floor (``scale_floor``)."""
    control_limit: float = 3.0
    """A value this many σ or more above its reference (signal pressure ≥ 0.5) is out of
    control: the distress signals never learn it, the others only re-level toward it (see
    ``baseline``)."""
    anchor: float = 1.0
    """The distress signals' (uncertainty, error_rate) reference mean never goes above the
    prior's μ₀ + anchor·σ₀: an agent may be a little worse than the documented healthy one,
    never much."""
    sigma_max: float = 1.25
    """The distress signals' σ never goes above sigma_max·σ₀ (nor below 1/window: one failure
    or one repeat in the window is at most one σ). With ``anchor`` it keeps every call
    failing past six σ (saturated) whatever the agent's history: (1 − 0.2) / 0.125 = 6.4."""
    scale_floor: float = 0.25
    """σ of the scale signals (token_usage, cost) is at least this share of their reference:
    velocity moving by a quarter means nothing yet."""
    learn_floor: float = 0.1
    """drift, token_usage and cost learn an out-of-control value at α·learn_floor, as if it
    were only control_limit σ away, into their mean only: a lasting change of level is
    re-levelled slowly (for token velocity ~0.6% a step: a doubling stops alarming after ~20
    actions, ×5 after ~170). The distress signals never learn one."""
    clip: float = 3.0
    """A learnt deviation counts as at most clip·σ (a drop far below the reference moves it
    by three σ at most)."""
    window: int = 10
    """Actions in the sliding window of ``uncertainty``, ``drift``, ``token_usage`` and
    ``cost``; calls in that of ``error_rate`` (see ``signals``)."""
    hedge_weight: float = 10.0
    """``uncertainty`` = hedge_weight · hedges per word + (repeats + stuck calls) per action
    of the window: a hedge every tenth word weighs as much as every call being a repeat."""
    baselines: Mapping[str, tuple[float, float]] = field(default_factory=lambda: DEFAULT_BASELINES)
    """Per signal (mean, std) of the cold-start prior."""
    prices: Mapping[str, ModelPrice] = field(default_factory=lambda: DEFAULT_PRICES)
    ab: Collection[str] = ()
    """The patterns whose firings are randomized (``"*"``: all of them): each firing is
    assigned treatment (delivered) or control (recorded, not delivered), so ``soma outcomes``
    can say whether that pattern's guidance helps. Off by default: every firing is delivered."""
    ab_block: int = 4
    """Block size of the randomization (even): of every ``ab_block`` consecutive firings of a
    pattern, half are treatment and half control, in an order seeded by the block's first
    firing id (see ``arms``)."""
    lesson_similarity: float = 0.5
    """A failed call's error brings a lesson back when the character-trigram Jaccard
    similarity of the two errors is at least this (``lessons``)."""
    max_lessons_per_agent: int = 20
    """Lessons kept per agent (the oldest go first)."""
    max_lessons: int = 500
    """Lessons kept in all (the oldest go first)."""

    def __post_init__(self) -> None:
        def number(name: str, value: Any, low: float, high: float) -> None:
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise ValueError(f"VitalsConfig.{name} must be a finite number, got {value!r}")
            if not low <= value <= high:
                raise ValueError(f"VitalsConfig.{name} must be in [{low}, {high}], got {value!r}")

        number("alpha", self.alpha, 1e-9, 1.0)
        number("sigma_floor", self.sigma_floor, 1e-12, math.inf)
        number("control_limit", self.control_limit, 0.0, math.inf)
        number("anchor", self.anchor, 0.0, math.inf)
        number("sigma_max", self.sigma_max, 1e-9, math.inf)
        number("scale_floor", self.scale_floor, 1e-9, math.inf)
        number("learn_floor", self.learn_floor, 0.0, 1.0)
        number("clip", self.clip, 1e-9, math.inf)
        number("hedge_weight", self.hedge_weight, 0.0, math.inf)
        number("lesson_similarity", self.lesson_similarity, 0.0, 1.0)
        ab = (self.ab,) if isinstance(self.ab, str) else self.ab
        if not all(isinstance(name, str) for name in ab):
            raise ValueError(f"VitalsConfig.ab must be pattern names, got {self.ab!r}")
        unknown = sorted(set(ab) - {*PATTERNS, "*"})
        if unknown:
            raise ValueError(
                f"VitalsConfig.ab: unknown pattern(s) {unknown}; known: {', '.join(PATTERNS)} or '*'"
            )
        object.__setattr__(self, "ab", PATTERNS if "*" in ab else tuple(p for p in PATTERNS if p in ab))
        if (
            isinstance(self.ab_block, bool)
            or not isinstance(self.ab_block, int)
            or self.ab_block < 2
            or self.ab_block % 2
        ):
            raise ValueError(f"VitalsConfig.ab_block must be an even int >= 2, got {self.ab_block!r}")
        for name in ("cold_start", "window", "max_lessons_per_agent", "max_lessons"):
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
            # A scale signal's prior is read as a relative spread σ₀/μ₀ (see ``baseline``).
            low = 1e-12 if name in SCALE_SIGNALS else -math.inf
            number(f"baselines[{name!r}] mean", mean, low, math.inf)
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
            "control_limit": self.control_limit,
            "anchor": self.anchor,
            "sigma_max": self.sigma_max,
            "scale_floor": self.scale_floor,
            "learn_floor": self.learn_floor,
            "clip": self.clip,
            "window": self.window,
            "hedge_weight": self.hedge_weight,
            "ab": list(self.ab),
            "ab_block": self.ab_block,
            "lesson_similarity": self.lesson_similarity,
            "max_lessons_per_agent": self.max_lessons_per_agent,
            "max_lessons": self.max_lessons,
            "baselines": {name: list(v) for name, v in self.baselines.items()},
            "prices": {
                model: [p.input, p.output, p.cache_read, p.cache_write] for model, p in self.prices.items()
            },
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> VitalsConfig:
        """The config of :meth:`to_json`: KeyError for a missing key, ValueError for one this
        version does not know. The fields added with the learning rule of state version 2
        (``ADDED_IN_2``) may be missing — a config saved before keeps its own numbers and
        takes their defaults."""
        unknown = sorted(set(data) - {f.name for f in fields(cls)})
        if unknown:
            raise ValueError(f"unknown field(s) {', '.join(map(repr, unknown))}")
        values = {name: data[name] for name in _REQUIRED}
        values.update({name: data[name] for name in (*ADDED_IN_2, *ADDED_IN_3) if name in data})
        return cls(
            **values,
            baselines={name: (v[0], v[1]) for name, v in data["baselines"].items()},
            prices={model: ModelPrice(*v) for model, v in data["prices"].items()},
        )


_REQUIRED: Final = ("alpha", "cold_start", "sigma_floor", "learn_floor", "clip", "window", "hedge_weight")
ADDED_IN_2: Final = ("control_limit", "anchor", "sigma_max", "scale_floor")
ADDED_IN_3: Final = ("ab", "ab_block", "lesson_similarity", "max_lessons_per_agent", "max_lessons")
"""Fields of state version 3 (issue 18: A/B and lessons); a config saved before takes their defaults."""
