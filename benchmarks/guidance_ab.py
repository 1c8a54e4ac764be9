"""How well ``soma outcomes`` judges: power and false-positive rate on simulated populations.

    python -m benchmarks.guidance_ab [SEEDS]

Each seed is a population (``vitals.scenarios._population``) run through a fresh engine with
A/B on until each arm of ``bash_error_streak`` has 30 outcomes at h = 5 — the point where a
verdict is first given — and judged as ``soma outcomes`` judges it. Power is the share of
seeds that say ``helps`` for a population the guidance helps; the false-positive rate the
share that say ``helps`` or ``harms`` for one where it does nothing. Not part of ``make
bench`` (it measures a statistic, not a speed); the suite's tests bound the same figures on
fewer seeds.
"""

from __future__ import annotations

import sys
from collections import Counter

from soma_runtime.vitals import VitalsConfig, VitalsEngine
from soma_runtime.vitals.report import outcome_report
from soma_runtime.vitals.scenarios._population import Population, as_events
from soma_runtime.vitals.updates import GuidanceFiring, GuidanceOutcome

EFFECTS = ((0.85, 0.25), (0.70, 0.40), (0.60, 0.40), (0.50, 0.50))


def verdict(seed: int, p_treated: float, p_untreated: float, per_arm: int = 30) -> str:
    engine = VitalsEngine(VitalsConfig(ab=["bash_error_streak"]))
    population = Population(seed, p_treated, p_untreated)
    outcomes: list[GuidanceOutcome] = []
    counts: Counter[str | None] = Counter()
    seq, episode = 1, 0
    while min(counts["treatment"], counts["control"]) < per_arm:
        agent, lead = population.lead(episode, "bash_error_streak")
        episode += 1
        delivered = True
        for event in as_events(lead, seq):
            for u in engine.observe(event):
                if isinstance(u, GuidanceFiring) and u.pattern == "bash_error_streak":
                    delivered = u.delivered
        seq += len(lead)
        _, follow = population.follow(agent, delivered)
        for event in as_events(follow, seq):
            for u in engine.observe(event):
                if isinstance(u, GuidanceOutcome) and u.pattern == "bash_error_streak":
                    outcomes.append(u)
                    if u.horizon == 5 and not u.censored:
                        counts[u.arm] += 1
        seq += len(follow)
    [report] = outcome_report([o.payload() for o in outcomes])
    return report.verdict


def main(seeds: int) -> None:
    header = f"{'recovery treated/untreated':<28}{'helps':>8}{'no effect':>11}{'harms':>8}"
    print(f"{header}   ({seeds} seeds, n = 30 per arm)")
    for p_treated, p_untreated in EFFECTS:
        found = Counter(verdict(10_000 + s, p_treated, p_untreated) for s in range(seeds))
        print(
            f"{p_treated:.2f} / {p_untreated:.2f}{'':<16}"
            f"{found['helps'] / seeds:>8.3f}{found['no effect'] / seeds:>11.3f}{found['harms'] / seeds:>8.3f}"
        )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 400)
