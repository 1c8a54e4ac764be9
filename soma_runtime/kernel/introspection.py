"""Introspection: the live supervision tree, each process's queue depth and current message.

Reads live kernel state directly rather than messaging the processes: a snapshot must work
while a supervisor is busy restarting children or a server is stuck in a long handler —
exactly when someone runs ``soma status`` to see what is going on.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field

from .dynamic_supervisor import DynamicSupervisorServer
from .gen_server import GenServer
from .node import Node
from .process import Pid, Process
from .supervisor import SupervisorServer

_MESSAGE_PREVIEW = 120


@dataclass(frozen=True, slots=True)
class ProcessInfo:
    pid: Pid
    name: str | None
    behaviour: str  # supervisor | dynamic_supervisor | gen_server | gen_statem | process
    module: str  # the behaviour's class name (or the body function's name)
    status: str  # waiting (idle on its mailbox) | running | stopping
    queue_depth: int
    current_message: str | None
    state: str | None = None  # a gen_statem's current state
    child_id: Hashable = None  # the id under its supervisor, if any
    children: tuple[ProcessInfo, ...] = field(default=())

    def walk(self) -> Iterable[ProcessInfo]:
        """This process and every descendant, depth first."""
        yield self
        for child in self.children:
            yield from child.walk()


def _preview(message: object) -> str | None:
    if message is None:
        return None
    text = repr(message)
    return text if len(text) <= _MESSAGE_PREVIEW else text[: _MESSAGE_PREVIEW - 1] + "…"


def _kind(proc: Process) -> tuple[str, str]:
    b = proc.behaviour
    if b is None:
        return "process", _body_name(proc)
    if isinstance(b, SupervisorServer):
        return "supervisor", type(b).__name__
    if isinstance(b, DynamicSupervisorServer):
        return "dynamic_supervisor", type(b).__name__
    if isinstance(b, GenServer):
        return "gen_server", type(b).__name__
    return "gen_statem", type(b).__name__


def _body_name(proc: Process) -> str:
    """``tool_call``, ``Worker.run``: the function a plain process runs. The kernel keeps no
    reference to a body once it has started it (it would cost every process memory for the
    rare look); the process's task is suspended awaiting the body's coroutine, which is
    named after its function."""
    coro = proc.task.get_coro() if proc.task is not None else None
    name = getattr(getattr(coro, "cr_await", None), "__qualname__", None)
    return name if isinstance(name, str) else "process"


def process_info(pid: Pid, *, child_id: Hashable = None) -> ProcessInfo:
    """A snapshot of one process (without its children)."""
    proc = pid.process
    behaviour, module = _kind(proc)
    if not proc.alive:
        status = "exited"
    elif proc.stopping:
        status = "stopping"
    elif proc.current is None and not len(proc.mailbox):
        status = "waiting"
    else:
        status = "running"
    state = getattr(proc.behaviour, "state", None) if behaviour == "gen_statem" else None
    return ProcessInfo(
        pid=pid,
        name=proc.name,
        behaviour=behaviour,
        module=module,
        status=status,
        queue_depth=len(proc.mailbox),
        current_message=_preview(proc.current),
        state=None if state is None else _preview(state),
        child_id=child_id,
    )


def _ordered_children(proc: Process, by_parent: dict[int, list[Process]]) -> list[tuple[Hashable, Pid]]:
    b = proc.behaviour
    if isinstance(b, SupervisorServer):
        return [(c.spec.id, c.pid) for c in b.children if isinstance(c.pid, Pid)]
    if isinstance(b, DynamicSupervisorServer):
        return [(None, pid) for pid in b.children]
    return [(None, p.pid) for p in by_parent.get(proc.pid.id, [])]


def tree(node: Node) -> list[ProcessInfo]:
    """The live tree: root processes with their children, in start order."""
    procs = list(node.processes())
    by_parent: dict[int, list[Process]] = {}
    for p in procs:
        if p.parent is not None and p.parent.is_alive():
            by_parent.setdefault(p.parent.id, []).append(p)

    def build(pid: Pid, child_id: Hashable, seen: set[int]) -> ProcessInfo:
        seen.add(pid.id)
        info = process_info(pid, child_id=child_id)
        kids = tuple(
            build(kid, kid_id, seen)
            for kid_id, kid in _ordered_children(pid.process, by_parent)
            if kid.is_alive() and kid.id not in seen
        )
        return dataclasses.replace(info, children=kids)

    seen: set[int] = set()
    roots = [build(p.pid, None, seen) for p in procs if p.parent is None or not p.parent.is_alive()]
    # Anything not reached from a root (e.g. a child re-parented by a dead supervisor).
    orphans = [build(p.pid, None, seen) for p in procs if p.alive and p.pid.id not in seen]
    return roots + orphans


def render(infos: Iterable[ProcessInfo], indent: str = "") -> str:
    """A plain-text tree, one process per line (``soma status`` and debugging)."""
    lines: list[str] = []
    for info in infos:
        label = info.name or (repr(info.child_id) if info.child_id is not None else info.module)
        extra = f" state={info.state}" if info.state is not None else ""
        doing = f" handling {info.current_message}" if info.current_message else ""
        lines.append(
            f"{indent}{info.pid!s:<12} {label} [{info.behaviour}] {info.status} q={info.queue_depth}"
            f"{extra}{doing}"
        )
        if info.children:
            lines.append(render(info.children, indent + "  "))
    return "\n".join(lines)
