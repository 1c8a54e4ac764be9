"""The statistics of ``soma outcomes`` against values worked out independently."""

from __future__ import annotations

import math

import pytest
import scipy.stats

from soma_runtime.vitals.report import (
    cohens_h,
    fisher,
    newcombe,
    outcome_report,
    verdict,
    welch,
    wilson,
)


def wilson_by_hand(k: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


@pytest.mark.parametrize(("k", "n"), [(0, 10), (5, 10), (10, 10), (3, 31), (29, 30), (1, 1)])
def test_wilson_interval(k: int, n: int) -> None:
    low, high = wilson(k, n)
    assert (low, high) == pytest.approx(wilson_by_hand(k, n), abs=1e-12)
    assert wilson(5, 10) == pytest.approx((0.2365931, 0.7634069), abs=1e-6)  # the textbook value


def test_newcombe_difference_interval() -> None:
    # Newcombe (1998), method 10, his example (b): 9/10 vs 3/10 → (0.1705, 0.8090).
    assert newcombe(9, 10, 3, 10) == pytest.approx((0.1705, 0.8090), abs=5e-4)
    low, high = newcombe(15, 30, 15, 30)
    assert low < 0 < high and low == pytest.approx(-high)


def test_fisher_exact_two_sided() -> None:
    # The lady tasting tea: 3 of 4 right each way → p = 34/70.
    assert fisher(3, 4, 1, 4) == pytest.approx(34 / 70)
    # [[1, 9], [11, 3]]: p = 0.002759 (the classic two-sided value).
    assert fisher(1, 10, 11, 14) == pytest.approx(0.0027594, abs=1e-6)
    assert fisher(5, 10, 5, 10) == 1.0


def test_welch_t_test() -> None:
    a, b = [0.1, 0.2, 0.3, 0.4], [0.5, 0.7, 0.6, 0.9, 0.8]
    t, p = welch(a, b)  # type: ignore[misc]
    ma, mb = sum(a) / 4, sum(b) / 5
    va = sum((x - ma) ** 2 for x in a) / 3
    vb = sum((x - mb) ** 2 for x in b) / 4
    assert t == pytest.approx((ma - mb) / math.sqrt(va / 4 + vb / 5))
    # Welch-Satterthwaite degrees of freedom, and the two-sided tail of Student's t there.
    df = (va / 4 + vb / 5) ** 2 / ((va / 4) ** 2 / 3 + (vb / 5) ** 2 / 4)
    assert df == pytest.approx(6.9808, abs=1e-4)  # 0.0125² / (…): worked by hand
    assert p == pytest.approx(2 * scipy.stats.t.sf(abs(t), df))
    assert welch([0.1], b) is None and welch([0.2, 0.2], [0.2, 0.2]) is None


def test_effect_size_and_verdict_gate() -> None:
    assert cohens_h(0.5, 0.5) == 0.0
    assert cohens_h(0.8, 0.3) == pytest.approx(2 * math.asin(math.sqrt(0.8)) - 2 * math.asin(math.sqrt(0.3)))
    assert verdict(29, 40, 0.5, 1e-9) == "collecting"
    assert verdict(30, 30, 0.3, 0.01) == "helps"
    assert verdict(30, 30, -0.3, 0.01) == "harms"
    assert verdict(30, 30, 0.3, 0.05) == "no effect"


def outcome(pattern: str, arm: str | None, recovered: bool | None, horizon: int = 5) -> dict[str, object]:
    return {
        "pattern": pattern,
        "arm": arm,
        "horizon": horizon,
        "censored": recovered is None,
        "recovered": recovered,
        "pressure_change": None if recovered is None else (-0.2 if recovered else 0.1),
    }


def test_report_counts_per_arm_and_leaves_out_censored_tests_and_replays() -> None:
    class Row:
        def __init__(self, payload: dict[str, object], source: str) -> None:
            self.payload, self.source = payload, source

    rows = [Row(outcome("p", "treatment", True), "runtime") for _ in range(6)]
    rows += [Row(outcome("p", "treatment", False), "hook") for _ in range(2)]
    rows += [Row(outcome("p", "control", False), "wrap") for _ in range(5)]
    rows += [Row(outcome("p", "control", True), "runtime"), Row(outcome("p", "control", None), "runtime")]
    rows += [Row(outcome("p", "control", True), "test"), Row(outcome("p", "control", True), "replay")]
    rows += [Row(outcome("p", "treatment", False, horizon=1), "runtime")]
    [report] = outcome_report(rows)
    t, c = report.arms["treatment"], report.arms["control"]
    assert (t.n, t.recovered, c.n, c.recovered, c.censored) == (8, 6, 6, 1, 1)
    assert t.rate == 0.75 and (t.low, t.high) == pytest.approx(wilson(6, 8))
    assert report.difference == pytest.approx(0.75 - 1 / 6)
    assert report.fisher_p == pytest.approx(fisher(6, 8, 1, 6))
    assert report.verdict == "collecting"
    assert t.mean_pressure_change == pytest.approx((6 * -0.2 + 2 * 0.1) / 8)
