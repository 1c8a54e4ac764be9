"""Drive a synthetic population (``vitals.scenarios._population``) through a fresh engine."""

from __future__ import annotations

from typing import Any

from soma_runtime.store.events import Event
from soma_runtime.vitals import VitalsConfig, VitalsEngine
from soma_runtime.vitals.scenarios._population import Population, as_events
from soma_runtime.vitals.updates import GuidanceFiring, GuidanceOutcome


def run_population(
    seed: int, p_treated: float, p_untreated: float, trigger: str, *, per_arm: int = 30, ab: Any = "*"
) -> tuple[list[GuidanceOutcome], list[Event], list[Any]]:
    """Episodes until each arm of ``trigger`` has ``per_arm`` outcomes at h = 5 (or, without
    A/B, 2·per_arm episodes): (its outcomes, the whole log, every update)."""
    engine = VitalsEngine(VitalsConfig(ab=ab))
    population = Population(seed, p_treated, p_untreated)
    log: list[Event] = []
    updates: list[Any] = []
    counts = {"treatment": 0, "control": 0, None: 0}
    outcomes: list[GuidanceOutcome] = []
    episode = 0
    while min(counts["treatment"], counts["control"]) < per_arm and counts[None] < 2 * per_arm:
        agent, lead = population.lead(episode, trigger)
        episode += 1
        firing: GuidanceFiring | None = None
        for event in as_events(lead, len(log) + 1):
            log.append(event)
            for update in engine.observe(event):
                updates.append(update)
                if isinstance(update, GuidanceFiring) and update.pattern == trigger:
                    firing = update
        assert firing is not None, f"episode {episode} did not fire {trigger}"
        _, follow = population.follow(agent, firing.delivered)
        for event in as_events(follow, len(log) + 1):
            log.append(event)
            for update in engine.observe(event):
                updates.append(update)
                if isinstance(update, GuidanceOutcome) and update.pattern == trigger:
                    outcomes.append(update)
                    if update.horizon == 5:
                        counts[update.arm] += 1
    return outcomes, log, updates
