"""``soma serve``: run a runtime, serving its control API, until SIGINT or SIGTERM.

With ``--config soma.toml`` (see ``config``) the runtime gets the file's tools, agents,
vitals settings and secrets; options given on the command line (or in ``SOMA_DB`` /
``SOMA_CONTROL``) override the file's. Everything that can be checked before the runtime
starts is — the file, the tools' imports, each agent's provider and key — so a mistake is
one line and leaves nothing behind: a database this command created for a runtime that then
failed to start is removed again.
"""

from __future__ import annotations

import gc
import os
import signal
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from soma_runtime.store._backend import is_postgres

from . import _logging
from ._common import EXIT_OK, CliError, run

if TYPE_CHECKING:
    from ..model import Model
    from .config import AgentSpec, ServeConfig


@click.command(short_help="Run a runtime until SIGINT or SIGTERM.")
@click.option(
    "--config",
    "config_file",
    metavar="FILE.toml",
    help="Tools, agents, vitals, secrets and paths of the runtime (see the README).",
)
@click.option(
    "--db",
    default=None,
    envvar="SOMA_DB",
    metavar="PATH",
    help="The event store (created if missing). Env: SOMA_DB.  [default: soma.db]",
)
@click.option(
    "--control",
    default=None,
    envvar="SOMA_CONTROL",
    metavar="PATH",
    help="The control socket. Env: SOMA_CONTROL.  [default: soma.sock]",
)
@click.option(
    "--root",
    default=None,
    metavar="DIR",
    help="The directory the file tools are confined to.  [default: .]",
)
@click.option("--no-vitals", is_flag=True, help="Run without the vitals monitor.")
@click.option(
    "--on-shutdown",
    type=click.Choice(["cancel", "suspend"]),
    default="cancel",
    show_default=True,
    help="What a stop records for live runs: cancelled, or suspended for the next start to resume.",
)
@click.option(
    "--otel",
    is_flag=True,
    help="Export the log to OpenTelemetry as it is written: spans and the soma.pressure gauges, "
    "over OTLP configured by the standard OTEL_* variables (OTEL_EXPORTER_OTLP_ENDPOINT…). "
    "Needs soma-runtime[telemetry].",
)
@click.option(
    "--idle-exit",
    type=click.FloatRange(min=0, min_open=True),
    metavar="SECONDS",
    help="Stop after this many seconds without a Claude Code hook or wrapped client recording "
    "through it (what `soma hook --serve` starts it with).",
)
def serve(
    config_file: str | None,
    db: str | None,
    control: str | None,
    root: str | None,
    no_vitals: bool,
    on_shutdown: str,
    otel: bool,
    idle_exit: float | None,
) -> int:
    """Run a Soma runtime until SIGINT or SIGTERM, then shut it down cleanly.

    The runtime records to --db and serves the control API on --control (a Unix socket,
    owner-only), through which `soma run`, `soma ask`, `soma cancel`, the dashboard and other
    processes give it work, see it and steer it. A socket left by a dead runtime is
    replaced; a live one is refused. With --config the runtime also has the file's tools
    (import paths) and agents (provider, model, policy, budget); the command line wins over
    the file. A database another runtime has open is refused.

    At start, runs a previous runtime left unfinished (it was killed, or suspended them)
    are resumed. On SIGINT or SIGTERM every live run records its end (cancelled, reason
    shutdown; or suspended, with --on-shutdown suspend, e.g. for a deploy) and every session
    its stop, before the database closes.

    \b
    Examples:
      soma serve
      soma serve --config soma.toml
      soma serve --db agents.db --control /run/user/1000/soma.sock
      soma --log-json serve --no-vitals
      OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4318 soma serve --otel
      soma serve --db soma.db --control soma.sock --idle-exit 1800   # for Claude Code hooks
      soma serve --on-shutdown suspend   # a deploy: the next start resumes the live runs
    """
    from .config import ServeConfig, load

    config = load(config_file) if config_file is not None else ServeConfig(Path("soma.toml"))
    options = _runtime_options(config)
    if no_vitals:
        options["vitals"] = False
    if otel:
        options["telemetry"] = True
    options["on_shutdown"] = on_shutdown
    options["root"] = root or config.root or "."
    options["control"] = os.path.abspath(control or config.control or "soma.sock")
    plan = _Plan(
        config,
        [(agent, agent.build_model(config)) for agent in config.agents],  # a key missing: now
        _database(db or config.db or "soma.db"),
        options,
        idle_exit,
    )
    return run(_serve, plan)


@dataclass(frozen=True)
class _Plan:
    """Everything checked, before anything starts."""

    config: ServeConfig
    models: list[tuple[AgentSpec, Model]]
    db: str
    options: dict[str, Any]
    """``Runtime.open`` keyword arguments besides ``db``."""
    idle_exit: float | None = None
    """Seconds without a hook or wrapped client recording before the runtime stops itself."""
    created: bool = field(init=False)
    """No database was there: one the runtime creates and then fails with is removed."""

    def __post_init__(self) -> None:
        created = not is_postgres(self.db) and not os.path.exists(self.db)
        object.__setattr__(self, "created", created)


def _database(db: str) -> str:
    """A file's absolute path (the runtime may change directory); a server's URL as given."""
    return db if is_postgres(db) else os.path.abspath(db)


def _runtime_options(config: ServeConfig) -> dict[str, Any]:
    options: dict[str, Any] = {"tools": config.tools, "builtin_tools": config.builtin_tools}
    if config.vitals is not None:
        options["vitals"] = config.vitals
    if config.secrets:
        # Kept out of every event (and the library's log records) by the runtime itself.
        options["secrets"] = list(config.secrets)
    return options


async def _serve(plan: _Plan) -> int:
    import anyio

    from soma_runtime import Runtime

    from ..integrations.served import register as register_integrations
    from ..supervisor import start_actor

    log = _logging.get_logger("soma.cli.serve")
    serving = False
    try:
        # Listen for the signals before starting, so one arriving during the start still
        # ends in an orderly shutdown rather than the default handler's abrupt exit.
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async with AsyncExitStack() as stack:
                for _, model in plan.models:
                    close = getattr(model, "aclose", None)
                    if close is not None:
                        stack.push_async_callback(close)  # after the runtime: its actors use them
                rt = await stack.enter_async_context(Runtime.open(db=plan.db, **plan.options))
                # Claude Code hooks and wrapped SDK clients record through this runtime.
                register_integrations(rt, idle_exit=plan.idle_exit)
                recovered = rt.recovery
                if recovered.resumed or recovered.started or recovered.ended:
                    log.info(
                        "recovered",
                        resumed=len(recovered.resumed) + len(recovered.started),
                        ended=len(recovered.ended),
                        killed_tool_processes=len(recovered.killed_os_pids),
                    )
                for agent, model in plan.models:
                    await start_actor(rt, agent.actor_id, model, agent.policy, agent.budget, **agent.options)
                serving = True
                frozen = _freeze_start_up_heap()
                log.info(
                    "serving",
                    db=plan.db,
                    control=plan.options["control"],
                    os_pid=os.getpid(),
                    tools=sorted(spec.name for spec in plan.config.tools),
                    agents=[agent.actor_id for agent, _ in plan.models],
                    otel=rt.telemetry is not None,
                    frozen_objects=frozen,
                )
                async for signum in signals:
                    log.info("stopping", signal=signal.Signals(signum).name)
                    break
    finally:
        if plan.created and not serving:
            _remove_store(plan.db)
    if rt.telemetry is not None:
        log.info("telemetry", **rt.telemetry.stats().to_json())  # what was sent, and lost
    log.info("stopped")
    return EXIT_OK


def _freeze_start_up_heap() -> int:
    """Take what start-up made — the imports, pydantic's schemas, the config, the runtime's
    own tree — out of the cyclic collector's sight; returns how many objects that is.

    They live as long as the process, yet every full collection walked them all again: 25 to
    35 ms each here, every few thousand steps, a pause for whoever waits on this runtime (a
    hook, a ``soma run``). Frozen, a step measured 15 to 25% faster (BENCHMARKS.md, issue 15). This
    command owns its process, so it decides; the library never touches the collector, as it
    never configures logging."""
    gc.collect()  # start-up's garbage first: frozen, a cycle would never be freed
    gc.freeze()
    return gc.get_freeze_count()


def _remove_store(db: str) -> None:
    """Remove the files of a store this command created for a runtime that never served."""
    for suffix in ("", "-wal", "-shm"):
        try:
            os.unlink(db + suffix)
        except FileNotFoundError:
            pass
        except OSError as exc:
            problem = f"the runtime did not start, and its new database {db + suffix} is left: {exc}"
            raise CliError(problem) from exc
