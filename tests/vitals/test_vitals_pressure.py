"""The pressure formulas (docs/design.md §5) with exact values."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from soma_runtime.vitals import Mode, aggregate, signal_pressure

unit = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)


def test_signal_pressure_exact_values() -> None:
    assert signal_pressure(0.0) == 0.0
    assert signal_pressure(-3.0) == 0.0
    assert signal_pressure(1.0) == pytest.approx(0.1192, abs=1e-4)
    assert signal_pressure(1.0) == 1.0 / (1.0 + math.exp(2.0))
    assert signal_pressure(3.0) == 0.5
    assert signal_pressure(6.0) == pytest.approx(0.9526, abs=1e-4)
    assert signal_pressure(6.01) == 1.0
    assert signal_pressure(1e9) == 1.0


def test_signal_pressure_refuses_nan() -> None:
    with pytest.raises(ValueError, match="NaN"):
        signal_pressure(math.nan)


@given(st.floats(min_value=-100, max_value=100), st.floats(min_value=-100, max_value=100))
def test_signal_pressure_is_monotone_and_bounded(a: float, b: float) -> None:
    low, high = sorted((a, b))
    assert 0.0 <= signal_pressure(low) <= signal_pressure(high) <= 1.0


def test_aggregate_exact_values() -> None:
    assert aggregate([1.0, 0.0, 0.0, 0.0, 0.0]) == pytest.approx(0.44)
    assert aggregate([0.0] * 5) == 0.0
    assert aggregate([1.0] * 5) == 1.0
    assert aggregate([0.5] * 5) == pytest.approx(0.5)
    assert aggregate([]) == 0.0


@pytest.mark.parametrize("bad", [-0.1, 1.5, math.nan])
def test_aggregate_refuses_out_of_range(bad: float) -> None:
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        aggregate([0.2, bad])


@given(st.lists(unit, min_size=1, max_size=8))
def test_aggregate_between_mean_and_max(ps: list[float]) -> None:
    p = aggregate(ps)
    assert 0.0 <= p <= 1.0
    assert min(ps) - 1e-12 <= p <= max(ps) + 1e-12


@pytest.mark.parametrize(
    ("p", "mode"),
    [
        (0.0, Mode.OBSERVE),
        (0.2499, Mode.OBSERVE),
        (0.25, Mode.GUIDE),
        (0.4999, Mode.GUIDE),
        (0.5, Mode.WARN),
        (0.7499, Mode.WARN),
        (0.75, Mode.BLOCK),
        (1.0, Mode.BLOCK),
    ],
)
def test_mode_bands_are_inclusive_at_the_bottom(p: float, mode: Mode) -> None:
    assert Mode.for_pressure(p) is mode


@pytest.mark.parametrize("bad", [-0.01, 1.01, math.nan])
def test_mode_refuses_out_of_range(bad: float) -> None:
    with pytest.raises(ValueError, match="pressure"):
        Mode.for_pressure(bad)


def test_mode_rank_orders_modes_and_values_are_payload_text() -> None:
    assert [m.rank for m in (Mode.OBSERVE, Mode.GUIDE, Mode.WARN, Mode.BLOCK)] == [0, 1, 2, 3]
    assert [m.value for m in Mode] == ["observe", "guide", "warn", "block"]
