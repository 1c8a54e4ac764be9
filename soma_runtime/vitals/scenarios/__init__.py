"""The vitals scenario suite: how well the engine detects distress, and how rarely it alarms.

Seeded synthetic event streams, shaped like what Soma records, of ordinary work and of the
distress the vitals exist to catch — a retry storm, an error cascade, blind edits, a cost
spiral, hedging, drift from the intent, failures creeping up — each with a :class:`Goal`.
:func:`measure` runs one through an engine and reports detection delays (actions to GUIDE /
WARN / BLOCK), the peak, the hold and the recovery, and false alarms per 1,000 normal
actions. ``make bench`` prints the table; ``tests/vitals`` asserts every goal.

    from soma_runtime.vitals import Mode, VitalsConfig, VitalsEngine
    from soma_runtime.vitals.scenarios import measure, suite

    for scenario in suite(seed=1):  # your config against the suite
        result = measure(scenario, VitalsEngine(VitalsConfig(control_limit=3.5)))
        print(scenario.name, result.to_mode(Mode.WARN), result.per_1000, result.failures())
"""

from ._live import record_storm
from ._measure import Goal, Result, Scenario, measure
from ._suite import (
    blind_edits,
    coding_session,
    cost_spiral,
    drift,
    error_cascade,
    failure_creep,
    hedging,
    ordinary,
    ordinary_tools,
    retry_storm,
    storm_in_a_loop,
    suite,
)

__all__ = [
    "Goal",
    "Result",
    "Scenario",
    "blind_edits",
    "coding_session",
    "cost_spiral",
    "drift",
    "error_cascade",
    "failure_creep",
    "hedging",
    "measure",
    "ordinary",
    "ordinary_tools",
    "record_storm",
    "retry_storm",
    "storm_in_a_loop",
    "suite",
]
