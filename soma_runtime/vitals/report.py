"""Does guidance help? The statistics of ``soma outcomes``, per pattern and arm.

Input: the ``guidance.outcome`` events of a log (``followup``). Rows recorded by a test or a
replay (``Event.source``) are left out: they are not agents working in earnest. Each pattern
is judged at one horizon (``horizon``, default 5 actions after the firing: 1 is before the
agent could have acted on the guidance, 10 dilutes it with whatever came next); censored
outcomes are counted, never used as observations.

Per arm: n, recoveries, the recovery rate with its Wilson 95% interval (good at small n and
near 0 or 1, where the normal interval is not), and the mean pressure change since the firing.

Between the arms — only for a randomized pattern (``VitalsConfig.ab``), where the arms
differ by the guidance alone:

* the difference of recovery rates (treatment − control) with Newcombe's hybrid-score 95%
  interval (method 10: built from the two Wilson intervals);
* **Fisher's exact test**, two-sided, on the 2×2 table of recovered / not by arm. Exact, so
  its false-positive rate never exceeds α at the sample sizes a pattern reaches (tens of
  firings), where a two-proportion z-test's normal approximation can exceed it; this is the
  test the verdict rests on;
* Welch's t-test, two-sided, on the pressure change (the arms' variances need not be equal);
  reported beside, as supporting evidence;
* the effect size: Cohen's h = 2·asin√p_t − 2·asin√p_c (0.2 small, 0.5 medium, 0.8 large).

The verdict waits for ``MIN_N`` (30) observations in each arm (``collecting``); then
``helps`` or ``harms`` when Fisher's p < α = 0.05 (by the sign of the difference), else
``no effect``. A pattern that is not randomized gets ``descriptive``: its recovery rate is
what followed its firings, which says nothing about what the guidance caused.

Distributions come from scipy.stats (``pip install soma-runtime[stats]``).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Final

ALPHA: Final = 0.05
MIN_N: Final = 30
HORIZON: Final = 5
EXCLUDED_SOURCES: Final = frozenset({"test", "replay"})
VERDICTS: Final = ("collecting", "helps", "no effect", "harms", "descriptive")


class StatsUnavailable(ImportError):
    """scipy is not installed (the ``stats`` extra)."""

    def __init__(self) -> None:
        super().__init__("soma outcomes needs scipy: pip install 'soma-runtime[stats]'")


def _stats() -> Any:
    try:
        import scipy.stats  # type: ignore[import-untyped]
    except ImportError as exc:
        raise StatsUnavailable() from exc
    return scipy.stats


@dataclass(frozen=True)
class ArmStats:
    """One arm of one pattern at the report's horizon."""

    arm: str
    n: int
    """Outcomes observed (censored ones not included)."""
    recovered: int
    censored: int
    rate: float | None
    """Recovery rate (descriptive); None without observations."""
    low: float | None
    high: float | None
    """Wilson 95% interval of the rate."""
    mean_pressure_change: float | None


@dataclass(frozen=True)
class PatternReport:
    pattern: str
    horizon: int
    randomized: bool
    arms: dict[str, ArmStats]
    verdict: str
    difference: float | None = None
    """Recovery rate of treatment minus control."""
    difference_low: float | None = None
    difference_high: float | None = None
    fisher_p: float | None = None
    welch_t: float | None = None
    welch_p: float | None = None
    cohens_h: float | None = None
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def wilson(k: int, n: int) -> tuple[float, float]:
    """Wilson score 95% interval of k successes in n (n ≥ 1)."""
    ci = _stats().binomtest(k, n).proportion_ci(confidence_level=1 - ALPHA, method="wilson")
    return float(ci.low), float(ci.high)


def newcombe(k1: int, n1: int, k2: int, n2: int) -> tuple[float, float]:
    """Newcombe's hybrid-score 95% interval of p1 − p2 (from the two Wilson intervals)."""
    p1, p2 = k1 / n1, k2 / n2
    l1, u1 = wilson(k1, n1)
    l2, u2 = wilson(k2, n2)
    d = p1 - p2
    return d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2), d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)


def fisher(k1: int, n1: int, k2: int, n2: int) -> float:
    """Two-sided p of Fisher's exact test on recovered / not by arm."""
    result = _stats().fisher_exact([[k1, n1 - k1], [k2, n2 - k2]], alternative="two-sided")
    return float(result.pvalue)


def welch(a: list[float], b: list[float]) -> tuple[float, float] | None:
    """(t, two-sided p) of Welch's t-test, or None when it is undefined (n < 2, no variance)."""
    if len(a) < 2 or len(b) < 2 or (len(set(a)) == 1 and len(set(b)) == 1):
        return None
    with warnings.catch_warnings():  # near-constant samples: scipy warns, and answers NaN or not
        warnings.simplefilter("ignore", RuntimeWarning)
        result = _stats().ttest_ind(a, b, equal_var=False)
    t, p = float(result.statistic), float(result.pvalue)
    return None if math.isnan(t) or math.isnan(p) else (t, p)


def cohens_h(p1: float, p2: float) -> float:
    return 2 * math.asin(math.sqrt(p1)) - 2 * math.asin(math.sqrt(p2))


def verdict(n_treatment: int, n_control: int, difference: float, p: float) -> str:
    if n_treatment < MIN_N or n_control < MIN_N:
        return "collecting"
    if p < ALPHA:
        return "helps" if difference > 0 else "harms"
    return "no effect"


class _Arm:
    __slots__ = ("censored", "changes", "recovered")

    def __init__(self) -> None:
        self.recovered: list[bool] = []
        self.changes: list[float] = []
        self.censored = 0


def outcome_report(
    outcomes: Iterable[Any], *, horizon: int = HORIZON, pattern: str | None = None
) -> list[PatternReport]:
    """The report of ``outcomes`` (``guidance.outcome`` events: anything with ``payload`` and
    ``source``, or bare payload mappings), per pattern in name order."""
    table: dict[str, dict[str, _Arm]] = {}
    for item in outcomes:
        payload: Mapping[str, Any] = item if isinstance(item, Mapping) else item.payload
        if not isinstance(item, Mapping) and getattr(item, "source", "runtime") in EXCLUDED_SOURCES:
            continue
        name = payload.get("pattern")
        if payload.get("horizon") != horizon or not isinstance(name, str) or pattern not in (None, name):
            continue
        arm = table.setdefault(name, {}).setdefault(payload.get("arm") or "unrandomized", _Arm())
        if payload.get("censored"):
            arm.censored += 1
            continue
        arm.recovered.append(bool(payload.get("recovered")))
        change = payload.get("pressure_change")
        if isinstance(change, int | float):
            arm.changes.append(float(change))
    return [_judge(name, arms, horizon) for name, arms in sorted(table.items())]


def _arm_stats(name: str, arm: _Arm) -> ArmStats:
    n, k = len(arm.recovered), sum(arm.recovered)
    low, high = wilson(k, n) if n else (None, None)
    mean = sum(arm.changes) / len(arm.changes) if arm.changes else None
    return ArmStats(name, n, k, arm.censored, k / n if n else None, low, high, mean)


def _judge(name: str, arms: dict[str, _Arm], horizon: int) -> PatternReport:
    order = {"treatment": 0, "control": 1}
    stats = {
        arm: _arm_stats(arm, data) for arm, data in sorted(arms.items(), key=lambda a: order.get(a[0], 2))
    }
    t, c = stats.get("treatment"), stats.get("control")
    if t is None and c is None:
        return PatternReport(
            name, horizon, False, stats, "descriptive",
            notes=["not randomized: the recovery rate is descriptive, not an effect of the guidance"],
        )  # fmt: skip
    empty = ArmStats("", 0, 0, 0, None, None, None, None)
    t, c = t or empty, c or empty
    if t.n == 0 or c.n == 0:
        return PatternReport(
            name, horizon, True, stats, "collecting", notes=["an arm has no observations yet"]
        )
    difference = t.recovered / t.n - c.recovered / c.n
    low, high = newcombe(t.recovered, t.n, c.recovered, c.n)
    p = fisher(t.recovered, t.n, c.recovered, c.n)
    tested = welch(arms["treatment"].changes, arms["control"].changes)
    return PatternReport(
        name,
        horizon,
        True,
        stats,
        verdict(t.n, c.n, difference, p),
        difference,
        low,
        high,
        p,
        tested[0] if tested else None,
        tested[1] if tested else None,
        cohens_h(t.recovered / t.n, c.recovered / c.n),
    )
