"""``soma demo`` — the main job (``make run``): scripted agents doing realistic work on a real
runtime, on a SQLite file.

Five agents, each on a deterministic ScriptedModel (no network, no key), through every
outcome a user should see once: a research chain that succeeds, a tool that fails, a tool
that hangs and times out, a task cancelled while its tool runs, a delegation between two
agents (linking them in the vitals' trust graph), and a retry storm that walks one agent up
to BLOCK, where its destructive tool is refused. Progress is printed as tasks end; the demo
closes with a summary table read back from the event store and the commands to look closer.

Then: does guidance help? Every pattern's firings are randomized (treatment delivered,
control held back), and three populations of simulated agents whose recovery the guidance
helps, harms or leaves alone show each verdict ``soma outcomes`` can give (``_demo_ab``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Final

import anyio
import click
from rich.console import Console
from rich.table import Table

from soma_runtime import CommandTool, Runtime, tool
from soma_runtime.store import StoreLocked, StoreOpenError, WriterLock
from soma_runtime.store._backend import is_postgres
from soma_runtime.store.sqlite import read_labels
from soma_runtime.vitals import Mode, VitalsConfig
from soma_runtime.vitals.report import PatternReport
from soma_runtime.vitals.updates import AgentVitals

from ..budget import Budget
from ..handle import Actor
from ..model import ModelRequest, ModelResponse, Usage
from ..policy import Policy
from ..providers.scripted import ScriptedModel, Turn, delayed, message_actor, reply, responding, use_tools
from ..supervisor import start_actor
from ..task import TaskResult, TaskState
from . import _demo_ab
from ._common import DEFAULT_DB, CliError, run

THINK = 0.02  # seconds of scripted "thinking" per model turn: enough to watch, quick to run
STORM = 5  # retries: BLOCK comes at the third (~0.79) and climbs (~0.95 at the wipe): nothing the
# agent does while it is stuck retrying is learnt as its normal, so it holds while the storm lasts


@tool(effect="read", idempotent=True, timeout=5.0)
async def search(query: str, limit: int = 3) -> list[str]:
    """Search the team's notes (a deterministic stand-in)."""
    return [f"{query}: finding {i}" for i in range(1, limit + 1)]


@tool(effect="pure")
def summarise(findings: list[str]) -> str:
    """Summarise findings in one line."""
    return f"{len(findings)} findings; first: {findings[0]}"


@tool(timeout=0.3)
async def partner_api(endpoint: str) -> str:
    """Call the partner's API (which never answers, in this demo)."""
    await anyio.sleep_forever()
    return endpoint


@tool(destructive=True)
async def wipe_cache(path: str) -> str:
    """Delete a build cache (destructive: refused under BLOCK)."""
    return f"wiped {path}"


# A real external command that fails the way a broken package index does. It is ``sh``, not
# ``sys.executable``: the failure's text feeds the vitals' drift signal, and a path that
# depends on where Soma is installed would make the storm's pressure differ between machines.
pip_install = CommandTool(
    "pip_install",
    ["sh", "-c", "echo 'ConnectionError: could not reach the package index' >&2; exit 1"],
    description="Install a package.",
)

TOOLS = [search, summarise, partner_api, wipe_cache, pip_install]

HEDGING = [
    "The install failed again. Maybe the package mirror is flaky; let me try again.",
    "Hmm, still failing. Perhaps it is a transient network issue, I'm not sure. Trying again.",
    "It probably just needs another attempt. I think the mirror might be down, sorry.",
]


@dataclass
class Outcome:
    agent: str
    what: str
    result: TaskResult


def _think(turn: ModelResponse) -> Turn:
    return delayed(THINK, turn)


def _last_tool_result(request: ModelRequest) -> str:
    return request.messages[-1].content


def researcher_script() -> list[Turn]:
    return [
        _think(use_tools(("search", {"query": "otp supervisors", "limit": 3}))),
        _think(
            use_tools(
                ("summarise", {"findings": ["restart strategies", "intensity and period", "escalation"]})
            )
        ),
        responding(lambda r: reply(f"Supervisors, in short: {_last_tool_result(r)}")),
        # Its second task comes from the lead (a delegation).
        _think(use_tools(("search", {"query": "gen_statem timeouts", "limit": 2}))),
        responding(lambda r: reply(f"On gen_statem timeouts: {_last_tool_result(r)}")),
    ]


def ops_script() -> list[Turn]:
    return [
        _think(use_tools(("fail", {"message": "disk quota exceeded on /var/builds"}))),
        responding(lambda r: reply(f"The cleanup failed ({_last_tool_result(r)}); paging the owner.")),
        _think(use_tools(("partner_api", {"endpoint": "/v1/orders"}))),
        responding(lambda r: reply(f"The partner API did not answer: {_last_tool_result(r)}")),
        _think(use_tools(("sleep", {"seconds": 30}))),  # cancelled while it sleeps
    ]


def lead_script() -> list[Turn]:
    return [
        _think(message_actor("researcher", "What should I know about gen_statem timeouts?")),
        responding(lambda r: reply(f"Briefing ready. {_last_tool_result(r)}")),
    ]


WIPE = "I'm not sure what else to try. Maybe the cache is corrupt; let me just wipe it."


def _storm_turn(i: int, turn: ModelResponse) -> ModelResponse:
    """Turn ``i`` of the storm: its context grows by 500 tokens a retry."""
    usage = Usage(input_tokens=1800 + 500 * (i + 1), output_tokens=60)
    return ModelResponse(turn.text, turn.tool_uses, turn.stop_reason, usage)


def installer_script(caught_up: Callable[[], Awaitable[int]]) -> list[Turn]:
    turns: list[Turn] = [
        _think(use_tools(("echo", {"value": f"step {i} of the release checklist"}), text=f"Doing step {i}."))
        for i in range(1, 31)
    ]
    for i in range(STORM):  # the storm: the same failing command, hedging more each time
        turns.append(_think(_storm_turn(i, use_tools(("pip_install", {}), text=HEDGING[i % len(HEDGING)]))))
    # The wipe is proposed in the same voice (hedging, a long context): the monitor sees this
    # model turn before or after the refusal check, and BLOCK must hold either way.
    wipe = _storm_turn(STORM, use_tools(("wipe_cache", {"path": "build/"}), text=WIPE))

    async def then_wipe(_request: ModelRequest) -> ModelResponse:
        await caught_up()  # the monitor has judged the storm: the agent is in BLOCK by now
        return wipe

    turns.append(then_wipe)
    turns.append(
        responding(lambda r: reply(f"Refused, so I stopped: {_last_tool_result(r).split('): ')[-1]}"))
    )
    return turns


class Demo:
    """The demo's progress log: each task's outcome as it ends, then the summary."""

    def __init__(self, out: Console, rt: Runtime) -> None:
        self.out = out
        self.rt = rt
        self.outcomes: list[Outcome] = []

    async def task(self, actor: Actor, what: str, message: str) -> TaskResult:
        result = await actor.task_result(await actor.send(message, timeout=60.0))
        self.record(actor, what, result)
        return result

    def record(self, actor: Actor, what: str, result: TaskResult) -> None:
        outcome = Outcome(actor.actor_id, what, result)
        self.outcomes.append(outcome)
        mark = {"completed": "[green]✓[/green]", "cancelled": "[yellow]■[/yellow]"}.get(
            result.state.value, "[red]✗[/red]"
        )
        detail = result.reply if result.reply is not None else result.error
        line = f"{mark} {outcome.agent:<10} {what:<20} {result.state.value:<9} "
        self.out.print(line + _short(detail, max(20, self.out.width - 44)), no_wrap=True, overflow="ellipsis")

    async def ops_work(self, ops: Actor) -> None:
        await self.task(ops, "failing tool", "Clean up the build disk.")
        await self.task(ops, "tool timeout", "Pull today's orders from the partner API.")
        sleeper = await ops.send("Wait for the nightly window, then report.")
        correlation = (await ops.task_status(sleeper)).correlation_id
        # Wait until its sleep tool is running, then cancel the task mid-run.
        await anext(self.rt.events.subscribe(correlation_id=correlation, type="tool.started"))
        self.record(ops, "cancellation", await ops.cancel(sleeper))


async def run_demo(db: str = "soma.db", console: Console | None = None) -> int:
    """Run the demo on ``db``; 0 when every outcome was the one it shows off."""
    out = console or Console(highlight=False)
    await _replace_previous(db)
    async with Runtime.open(db=db, tools=TOOLS, vitals=VitalsConfig(ab="*")) as rt:
        await rt.events.set_metadata(*CREATED_BY)
        demo = Demo(out, rt)
        out.print(f"[bold]soma demo[/bold] — a runtime on [cyan]{db}[/cyan], four scripted agents\n")
        roomy = Budget(max_model_calls=60, max_steps=60)
        researcher = await start_actor(
            rt, "researcher", ScriptedModel(researcher_script()), Policy(["search", "summarise"]), roomy
        )
        ops = await start_actor(
            rt, "ops", ScriptedModel(ops_script()), Policy(["fail", "partner_api", "sleep"]), roomy
        )
        lead = await start_actor(rt, "lead", ScriptedModel(lead_script()), Policy([], ["researcher"]), roomy)
        installer = await start_actor(
            rt,
            "installer",
            ScriptedModel(installer_script(rt.vitals.caught_up)),
            Policy(["echo", "pip_install", "wipe_cache"]),
            roomy,
            intent="ship the release: run the checklist and install its dependencies",
        )
        await demo.task(researcher, "research chain", "Summarise what we know about OTP supervisors.")
        async with anyio.create_task_group() as tg:
            tg.start_soon(
                demo.task, lead, "delegation", "Brief me on gen_statem timeouts (ask the researcher)."
            )
            tg.start_soon(demo.ops_work, ops)
            tg.start_soon(demo.task, installer, "retry storm → BLOCK", "Ship the release.")
        await rt.vitals.caught_up()
        vitals = await rt.vitals.snapshot()
        peaks: dict[str, tuple[float, str]] = {}
        for update in await rt.events.query(type="vitals.updated"):
            agent, p = update.agent_id or "", update.payload
            if p["pressure"] > peaks.get(agent, (-1.0, ""))[0]:
                peaks[agent] = (p["pressure"], p["mode"])
        blocked = await rt.events.query(type="tool.blocked")
        timeouts = await rt.events.query(type="run.timeout")
        runs = await rt.events.query(type="run.started")
        ends = await rt.events.query(type=["run.completed", "run.failed", "run.timeout", "run.cancelled"])
        run_states = {e.run_id or "": e.type.removeprefix("run.") for e in ends}
        for refused in blocked:
            run_states[refused.run_id or ""] = "blocked"
        _summary(out, demo.outcomes, run_states, vitals, peaks, db, runs[-1].run_id if runs else None)
        out.print("\n[bold]does guidance help?[/bold] simulated agents, A/B-tested guidance …")
        reports = await _demo_ab.run_populations(rt)
        _outcomes_summary(out, reports, db)
        # Every outcome is the one the demo shows off: tasks completed or (one) cancelled, a
        # run timed out, the storm's destructive tool was refused, and every verdict came out.
        expected = {TaskState.COMPLETED, TaskState.CANCELLED}
        ok = all(o.result.state in expected for o in demo.outcomes) and bool(blocked) and bool(timeouts)
        return 0 if ok and _demo_ab.as_expected(reports) else 1


def _summary(
    out: Console,
    outcomes: list[Outcome],
    run_states: Mapping[str, str],
    vitals: Mapping[str, AgentVitals],
    peaks: Mapping[str, tuple[float, str]],
    db: str,
    run_id: str | None,
) -> None:
    table = Table(title="outcomes", title_justify="left")
    for column in ("agent", "work", "task", "its runs", "calls", "tokens"):
        # Fits 80 columns: only the list of run outcomes wraps.
        table.add_column(
            column, no_wrap=column != "its runs", justify="right" if column == "tokens" else "left"
        )
    for o in outcomes:
        r = o.result
        states = Counter(run_states.get(run_id, "?") for run_id in r.runs)
        runs = "\n".join(f"{n} {state}" for state, n in sorted(states.items())) or "none"
        table.add_row(o.agent, o.what, r.state.value, runs, str(r.usage.model_calls), str(r.usage.tokens))
    out.print()
    out.print(table)
    agents = Table(title="vitals", title_justify="left")
    for column in ("agent", "mode now", "pressure", "effective", "peak", "actions"):
        agents.add_column(column)
    for agent, v in sorted(vitals.items()):
        peak, peak_mode = peaks.get(agent, (0.0, "observe"))
        agents.add_row(
            agent,
            _styled(v.mode),
            f"{v.pressure:.2f}",
            f"{v.effective_pressure:.2f}",
            f"{peak:.2f} {_styled(Mode(peak_mode))}",
            str(v.actions),
        )
    out.print(agents)
    out.print("\nlook closer:")
    for command in (
        f"soma status --db {db}",
        f"soma dashboard --db {db}",
        f"soma trace {run_id or 'RUN_ID'} --db {db}",
        f"soma replay --db {db}",
        f"soma export --db {db} > events.jsonl",
    ):
        out.print(f"  {command}")


def _outcomes_summary(out: Console, reports: list[PatternReport], db: str) -> None:
    table = Table(title="does guidance help? (recovered 5 actions after a firing)", title_justify="left")
    for column in ("pattern", "verdict", "n T/C", "treated", "control", "Fisher p"):
        table.add_column(column, no_wrap=True)
    for r in reports:
        t, c = r.arms.get("treatment") or r.arms.get("unrandomized"), r.arms.get("control")
        table.add_row(
            r.pattern,
            r.verdict,
            f"{t.n if t else 0}/{c.n if c else '-'}",
            f"{t.rate:.2f}" if t is not None and t.rate is not None else "-",
            f"{c.rate:.2f}" if c is not None and c.rate is not None else "-",
            f"{r.fisher_p:.2g}" if r.fisher_p is not None else "-",
        )
    out.print(table)
    out.print(
        "bash_error_streak, error_cascade and blind_edit: simulated agents whose recovery the "
        "guidance helps, harms and leaves alone; the other patterns fired along the way "
        "(a verdict needs 30 firings per arm)."
    )
    out.print("\nwhere to look (rates with Wilson intervals, Fisher's and Welch's tests):")
    for command in (
        f"soma outcomes --db {db}",
        f"soma lessons --db {db}",
        f"soma dashboard --db {db}     (tab 4: outcomes)",
        f"soma export --db {db} --type 'guidance.*,tool.blocked,lesson.*'",
    ):
        out.print(f"  {command}")


def _styled(mode: Mode) -> str:
    style = {Mode.BLOCK: "red", Mode.WARN: "yellow", Mode.GUIDE: "cyan"}.get(mode)
    return f"[{style}]{mode.value}[/{style}]" if style else mode.value


def _short(text: str | None, width: int = 64) -> str:
    flat = " ".join((text or "").split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


@click.command(short_help="The demo: scripted agents through every outcome, on a real runtime.")
@click.option(
    "--db",
    default=DEFAULT_DB,
    show_default=True,
    metavar="PATH",
    help="Where to record it (a database an earlier demo made there is replaced; anything else is refused).",
)
def demo(db: str) -> int:
    """Run four scripted agents (no network, no key) through a research chain, a failing
    tool, a timeout, a cancellation, a delegation and a retry storm that walks one agent
    into BLOCK; print progress, then a summary read back from the event store. Then: does
    guidance help? Every pattern is A/B-tested, and simulated agents whose recovery the
    guidance helps, harms or leaves alone show each verdict of `soma outcomes`.

    \b
    Examples:
      soma demo
      soma demo --db /tmp/demo.db && soma status --db /tmp/demo.db
    """
    return run(run_demo, db)


CREATED_BY: Final = ("created_by", "soma demo")
"""The label the demo puts on its database: the one kind of database it replaces."""


async def _replace_previous(db: str) -> None:
    """A demo starts from an empty log (its agents' vitals would otherwise carry over). It
    replaces only a database an earlier demo created and no runtime has open — never another
    Soma database, never another file — and says why otherwise, leaving it untouched. A
    server's database (a ``postgresql://`` URL) it never empties: it must hold no events."""
    if is_postgres(db):
        await _check_empty(db)
        return
    path = anyio.Path(db)
    if not await path.exists():
        return
    try:
        # Held while the files go, so no runtime can open them meanwhile.
        lock = await anyio.to_thread.run_sync(WriterLock.acquire, str(path))
    except StoreLocked as exc:
        holder = f" (pid {exc.pid})" if exc.pid is not None else ""
        raise CliError(
            f"{db} is in use by a running Soma runtime{holder}; not replacing it (choose another --db)"
        ) from None
    try:
        labels = await _labels(db)
        if labels is None:
            raise CliError(f"{db} exists and is not a Soma database; not replacing it (choose another --db)")
        if labels.get(CREATED_BY[0]) != CREATED_BY[1]:
            raise CliError(
                f"{db} is a Soma database the demo did not create; not replacing it "
                "(choose another --db, or delete it yourself)"
            )
        for suffix in ("", "-wal", "-shm"):
            await anyio.Path(f"{path}{suffix}").unlink(missing_ok=True)
    finally:
        lock.release()


async def _check_empty(url: str) -> None:
    from soma_runtime import open_event_log

    try:
        async with open_event_log(url, readonly=True) as log:
            held = await log.last_seq()
    except StoreOpenError as exc:
        if "empty" in exc.problem:
            return  # a new database: the runtime creates its tables
        raise
    if held:
        raise CliError(f"{url} holds {held} events; the demo runs on an empty database (create a new one)")


async def _labels(db: str) -> dict[str, str] | None:
    """The database's labels, read without touching the file; None if it is not a Soma
    database at all. One from before labels existed has none."""
    try:
        return await anyio.to_thread.run_sync(read_labels, db)
    except StoreOpenError:
        return None
