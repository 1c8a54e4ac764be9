"""The demo's last act: does guidance help? A/B-tested guidance on simulated populations.

The demo's runtime randomizes every pattern's firings (``VitalsConfig(ab="*")``). Three
seeded populations of simulated agents (``vitals.scenarios._population``) run into trouble
that fires one pattern each and then recover — or not — with a chance that depends on whether
the firing was delivered: for ``bash_error_streak`` the guidance helps, for
``error_cascade`` it harms, for ``blind_edit`` it changes nothing. Their actions go through
the runtime's store like any agent's, so the real monitor assigns the arms and records the
outcomes, and ``soma outcomes`` judges them; the demo's scripted agents add patterns with
too few firings to judge yet (``collecting``).

Each act is three batches, not a round trip per agent: every episode's lead (the monitor
assigns the arms in order), the firings read back once, every episode's follow-up.
"""

from __future__ import annotations

from typing import Final

from soma_runtime import Runtime
from soma_runtime.store.events import EventDraft
from soma_runtime.vitals.report import PatternReport, outcome_report
from soma_runtime.vitals.scenarios._population import Draft, Population

POPULATIONS: Final = (
    # (pattern, chance of recovering with the guidance, without it, episodes)
    ("bash_error_streak", 0.85, 0.25, 64),
    ("error_cascade", 0.25, 0.80, 64),
    ("blind_edit", 0.55, 0.55, 64),
)
EXPECTED: Final = {"bash_error_streak": "helps", "error_cascade": "harms", "blind_edit": "no effect"}
SEED: Final = 18


def _drafts(drafts: list[Draft]) -> list[EventDraft]:
    return [EventDraft(kind, payload, **ids) for kind, payload, ids in drafts]


async def run_populations(rt: Runtime) -> list[PatternReport]:
    """Play every population on ``rt`` (whose vitals randomize every pattern); the report."""
    for number, (pattern, p_treated, p_untreated, episodes) in enumerate(POPULATIONS):
        population = Population(SEED + number, p_treated, p_untreated, prefix="sim")
        leads = [population.lead(episode, pattern) for episode in range(episodes)]
        await rt.events.append_many(_drafts([d for _, lead in leads for d in lead]))
        await rt.vitals.caught_up()
        arms = {
            e.agent_id: bool(e.payload.get("delivered", True))
            for e in await rt.events.query(type="guidance.fired")
            if e.payload.get("pattern") == pattern
        }
        follows: list[Draft] = []
        for agent, _ in leads:
            follows += population.follow(agent, arms.get(agent, True))[1]
        await rt.events.append_many(_drafts(follows))
    await rt.vitals.caught_up()
    return outcome_report(await rt.events.query(type="guidance.outcome"))


def as_expected(reports: list[PatternReport]) -> bool:
    """Every verdict the act shows off came out: helps, harms, no effect, and collecting."""
    verdicts = {r.pattern: r.verdict for r in reports}
    shown = all(verdicts.get(pattern) == verdict for pattern, verdict in EXPECTED.items())
    return shown and "collecting" in verdicts.values()
