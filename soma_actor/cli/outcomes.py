"""``soma outcomes`` (does guidance help?) and ``soma lessons`` (errors that got fixed).

Both read the database read-only, beside a runtime that may be writing it. The statistics are
``soma_runtime.vitals.report``'s; here they are only laid out.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import click

from ._common import EXIT_OK, CliError, db_option, open_db, run

if TYPE_CHECKING:
    from soma_runtime.store.events import Event
    from soma_runtime.vitals.report import PatternReport


async def _events(db: str, types: list[str], agent: str | None = None) -> list[Event]:
    async with open_db(db) as log:
        return await log.query(type=types, agent_id=agent)


@click.command(short_help="Does guidance help? Outcomes per pattern and arm.")
@db_option
@click.option("--pattern", "pattern", default=None, metavar="NAME", help="Only this pattern.")
@click.option(
    "--horizon",
    type=click.Choice(["1", "5", "10"]),
    default="5",
    show_default=True,
    help="Actions after the firing at which recovery is judged.",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON document instead of the table.")
def outcomes(db: str, pattern: str | None, horizon: str, as_json: bool) -> int:
    """Per guidance pattern and A/B arm: how many firings were followed up (n), how many
    agents recovered (pressure back below GUIDE), the recovery rate with its Wilson 95%
    interval, the difference between the arms with its interval, Fisher's exact test
    (two-sided, α = 0.05), Welch's t-test on the pressure change, Cohen's h, and a verdict:
    collecting (under 30 per arm), helps, no effect, harms — or descriptive, for a pattern
    that is not randomized (turn A/B on with VitalsConfig(ab=[...])). Events recorded by tests
    and replays are left out.

    \b
    Examples:
      soma outcomes
      soma outcomes --pattern bash_error_streak --horizon 10
      soma outcomes --json | jq '.patterns[] | {pattern, verdict}'
    """
    from soma_runtime.vitals.report import ALPHA, EXCLUDED_SOURCES, MIN_N, StatsUnavailable, outcome_report

    events = run(_events, db, ["guidance.outcome"])
    try:
        reports = outcome_report(events, horizon=int(horizon), pattern=pattern)
    except StatsUnavailable as exc:
        raise CliError(str(exc)) from None
    if as_json:
        document = {
            "db": db,
            "horizon": int(horizon),
            "alpha": ALPHA,
            "min_n": MIN_N,
            "excluded_sources": sorted(EXCLUDED_SOURCES),
            "patterns": [r.to_json() for r in reports],
        }
        click.echo(json.dumps(document, indent=2))
        return EXIT_OK
    click.echo(
        f"guidance outcomes in {db} at h = {horizon} (events from tests and replays left out; "
        f"verdicts need {MIN_N} per arm, α = {ALPHA})"
    )
    if not reports:
        click.echo("no guidance outcomes recorded yet" + (f" for pattern {pattern!r}" if pattern else ""))
    for report in reports:
        click.echo("")
        click.echo(render(report))
    return EXIT_OK


def _rate(low: float | None, rate: float | None, high: float | None) -> str:
    if rate is None or low is None or high is None:
        return "-"
    return f"{rate:.2f} [{low:.2f}, {high:.2f}]"


def render(report: PatternReport) -> str:
    """One pattern's block of the table."""
    label = "recovery (Wilson 95%)" if report.randomized else "descriptive recovery rate"
    lines = [f"{report.pattern}  → {report.verdict.upper()}"]
    lines.append(f"  {'arm':<13}{'n':>5}{'recovered':>11}{'censored':>10}  {label:<24}{'Δ pressure':>11}")
    for arm in report.arms.values():
        change = "-" if arm.mean_pressure_change is None else f"{arm.mean_pressure_change:+.3f}"
        lines.append(
            f"  {arm.arm:<13}{arm.n:>5}{arm.recovered:>11}{arm.censored:>10}  "
            f"{_rate(arm.low, arm.rate, arm.high):<24}{change:>11}"
        )
    if report.difference is not None:
        interval = f"[{report.difference_low:+.2f}, {report.difference_high:+.2f}]"
        parts = [
            f"difference {report.difference:+.2f} {interval}",
            f"Fisher exact p = {report.fisher_p:.4g}",
        ]
        if report.welch_p is not None:
            parts.append(f"Welch (Δ pressure) t = {report.welch_t:.2f}, p = {report.welch_p:.4g}")
        parts.append(f"Cohen's h = {report.cohens_h:+.2f}")
        lines.append("  " + "  ".join(parts))
    lines += [f"  note: {note}" for note in report.notes]
    return "\n".join(lines)


@click.command(short_help="Lessons: errors that got fixed, and how often they came back.")
@db_option
@click.option("--agent", "agent", default=None, metavar="ID", help="Only this agent's lessons.")
@click.option("--json", "as_json", is_flag=True, help="JSON lines instead of the list.")
def lessons(db: str, agent: str | None, as_json: bool) -> int:
    """Each lesson the vitals recorded: a tool that failed at least twice and then worked,
    the error, and what the call that worked did differently — and how many times a similar
    error brought it back as guidance.

    \b
    Examples:
      soma lessons
      soma lessons --agent claude-2b6f0c1e-…
    """
    events = run(_events, db, ["lesson.recorded", "lesson.recalled"], agent)
    recalls: dict[str, int] = {}
    for event in events:
        if event.type == "lesson.recalled":
            key = str(event.payload.get("lesson_id"))
            recalls[key] = recalls.get(key, 0) + 1
    recorded = [e for e in events if e.type == "lesson.recorded"]
    if agent is not None:
        # Recalls by other agents count too: a lesson is shared.
        for event in run(_events, db, ["lesson.recalled"]):
            if event.agent_id != agent:
                key = str(event.payload.get("lesson_id"))
                recalls[key] = recalls.get(key, 0) + 1
    if as_json:
        for event in recorded:
            row: dict[str, Any] = {**event.payload, "seq": event.seq, "source": event.source}
            row["recalled"] = recalls.get(str(event.payload.get("lesson_id")), 0)
            click.echo(json.dumps(row))
        return EXIT_OK
    if not recorded:
        click.echo(f"no lessons in {db}" + (f" for agent {agent}" if agent else ""))
        return EXIT_OK
    for event in recorded:
        p = event.payload
        error = " ".join(str(p.get("error", "")).split())
        error = error if len(error) <= 100 else error[:99] + "…"
        times = recalls.get(str(p.get("lesson_id")), 0)
        click.echo(f"{p.get('lesson_id')}  agent {event.agent_id}  tool {p.get('tool')}  recalled {times}×")
        click.echo(f"  error: {error}")
        click.echo(f"  fix:   {json.dumps(p.get('fix'), ensure_ascii=False)}")
    return EXIT_OK
