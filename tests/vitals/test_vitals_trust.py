"""The trust graph: validation and the propagation properties of docs/design.md §5."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from soma_runtime.vitals import TrustGraph
from soma_runtime.vitals.trust import LEAK

AGENTS = ["a", "b", "c", "d", "e"]
unit = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)
edges = st.lists(
    st.tuples(st.sampled_from(AGENTS), st.sampled_from(AGENTS), unit).filter(lambda e: e[0] != e[1]),
    max_size=12,
)
pressures = st.fixed_dictionaries({a: unit for a in AGENTS})


def graph(edge_list: list[tuple[str, str, float]]) -> TrustGraph:
    return TrustGraph(edge_list)


@pytest.mark.parametrize("trust", [-0.1, 1.1, math.nan, math.inf, True, "0.5"])
def test_trust_must_be_a_number_in_unit_interval(trust: object) -> None:
    with pytest.raises(ValueError, match="trust"):
        TrustGraph().add_edge("a", "b", trust)  # type: ignore[arg-type]


def test_edges_need_two_distinct_agents() -> None:
    with pytest.raises(ValueError, match="itself"):
        TrustGraph().add_edge("a", "a", 0.5)
    with pytest.raises(ValueError, match="src"):
        TrustGraph().add_edge("", "a", 0.5)


def test_add_replaces_remove_forgets() -> None:
    g = TrustGraph([("a", "b", 0.2)])
    g.add_edge("a", "b", 0.7)
    assert g.edges() == [("a", "b", 0.7)]
    assert len(g) == 1
    g.remove_edge("a", "b")
    assert g.edges() == [] and len(g) == 0
    with pytest.raises(KeyError):
        g.remove_edge("a", "b")


def test_propagate_refuses_bad_pressures() -> None:
    with pytest.raises(ValueError, match="pressure"):
        TrustGraph([("a", "b", 1.0)]).propagate({"a": 1.5})


@given(unit, unit)
def test_a_single_edge_leaks_six_tenths_of_trust(trust: float, p: float) -> None:
    effective = graph([("a", "b", trust)]).propagate({"a": p, "b": 0.0})
    assert effective["b"] == LEAK * (trust * p)
    assert effective["a"] == p


def test_many_edges_average_instead_of_adding() -> None:
    g = graph([("a", "c", 1.0), ("b", "c", 1.0)])
    assert g.propagate({"a": 1.0, "b": 1.0, "c": 0.0})["c"] == pytest.approx(0.6)
    assert g.propagate({"a": 1.0, "b": 0.0, "c": 0.0})["c"] == pytest.approx(0.3)
    # Below a total trust of 1, leaks add up (the divisor is max(1, Σ trust)).
    g = graph([("a", "c", 0.5), ("b", "c", 0.5)])
    assert g.propagate({"a": 1.0, "b": 1.0, "c": 0.0})["c"] == pytest.approx(0.6)


def test_own_pressure_is_kept_when_higher_and_unknown_nodes_count_as_zero() -> None:
    g = graph([("a", "b", 1.0)])
    assert g.propagate({"a": 0.5, "b": 0.9})["b"] == 0.9
    assert g.propagate({"b": 0.4}) == {"b": 0.4, "a": 0.0}


def test_pressure_travels_at_most_three_hops() -> None:
    chain = graph([("a", "b", 1.0), ("b", "c", 1.0), ("c", "d", 1.0), ("d", "e", 1.0)])
    effective = chain.propagate({"a": 1.0})
    assert effective["b"] == pytest.approx(0.6)
    assert effective["c"] == pytest.approx(0.36)
    assert effective["d"] == pytest.approx(0.216)
    assert effective["e"] == 0.0


@settings(max_examples=300)
@given(edges, pressures)
def test_never_above_the_largest_own_pressure(
    edge_list: list[tuple[str, str, float]], own: dict[str, float]
) -> None:
    effective = graph(edge_list).propagate(own)
    top = max(own.values())
    assert all(own[a] <= effective[a] <= top for a in AGENTS)


@settings(max_examples=300)
@given(st.permutations(AGENTS), unit, st.floats(min_value=0.0, max_value=1.0))
def test_cycles_decay(order: list[str], p: float, trust: float) -> None:
    # A ring through all five agents; only the first is under pressure.
    ring = graph([(order[i], order[(i + 1) % len(order)], trust) for i in range(len(order))])
    effective = ring.propagate({a: (p if a == order[0] else 0.0) for a in AGENTS})
    assert effective[order[0]] == p  # what comes back around never amplifies the source
    for hop, agent in enumerate(order[1:], start=1):
        assert effective[agent] <= (LEAK * trust) ** hop * p + 1e-12


@settings(max_examples=300)
@given(edges, pressures, st.integers(min_value=0, max_value=11), unit)
def test_monotone_in_trust_while_leaks_add_up(
    edge_list: list[tuple[str, str, float]], own: dict[str, float], which: int, extra: float
) -> None:
    # Keep each node's total incoming trust within 1 (leaks add, docs/design.md "single edge" regime).
    capped: list[tuple[str, str, float]] = []
    total: dict[str, float] = {}
    for src, dst, t in edge_list:
        t = min(t, 1.0 - total.get(dst, 0.0))
        total[dst] = total.get(dst, 0.0) + t
        capped.append((src, dst, t))
    if not capped:
        return
    src, dst, t = capped[which % len(capped)]
    raised = [
        (s, d, (min(1.0, x + extra * (1.0 - total[dst])) if (s, d) == (src, dst) else x))
        for s, d, x in capped
    ]
    before = graph(capped).propagate(own)
    after = graph(raised).propagate(own)
    assert all(after[a] >= before[a] - 1e-12 for a in AGENTS)


@settings(max_examples=200)
@given(edges, pressures, st.sampled_from(AGENTS), unit)
def test_monotone_in_own_pressures(
    edge_list: list[tuple[str, str, float]], own: dict[str, float], who: str, more: float
) -> None:
    higher = {**own, who: max(own[who], more)}
    before = graph(edge_list).propagate(own)
    after = graph(edge_list).propagate(higher)
    assert all(after[a] >= before[a] for a in AGENTS)


def test_raising_trust_in_a_calm_source_averages_pressure_down() -> None:
    # Past a total trust of 1 the leak is an average: trusting a calm colleague more reassures.
    g = graph([("a", "c", 1.0), ("b", "c", 0.5)])
    before = g.propagate({"a": 1.0, "b": 0.0})["c"]
    g.add_edge("b", "c", 1.0)
    assert g.propagate({"a": 1.0, "b": 0.0})["c"] < before


def test_propagation_is_deterministic_and_order_independent() -> None:
    a = graph([("a", "b", 0.3), ("c", "b", 0.9), ("b", "a", 0.4)])
    b = graph([("b", "a", 0.4), ("a", "b", 0.3), ("c", "b", 0.9)])
    own = {"a": 0.8, "b": 0.1, "c": 0.7}
    assert a.propagate(own) == a.propagate(own)
    for agent, value in a.propagate(own).items():
        assert b.propagate(own)[agent] == pytest.approx(value)
