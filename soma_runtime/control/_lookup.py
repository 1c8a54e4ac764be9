"""What the control ops share: finding the processes of a runtime, reading their ids, a run's
result as JSON, and checking an op's parameters (a bad one is a ``ValueError`` naming it,
which the server answers as ``bad_request``)."""

from __future__ import annotations

import math
from typing import Any

from pydantic_core import to_jsonable_python

from ..execution.run import RunResult
from ..kernel import DynamicSupervisor, NoProc, Pid, ProcessDied
from .protocol import RunResultView


async def children(supervisor: str) -> list[Pid]:
    """The live children of the dynamic supervisor registered as ``supervisor``."""
    try:
        found = await DynamicSupervisor.which_children(supervisor)
    except (NoProc, ProcessDied):
        return []  # being restarted by the root supervisor: nothing under it right now
    return [c.pid for c in found if isinstance(c.pid, Pid)]


def identity(pid: Pid, attribute: str) -> str | None:
    # Ids are set once in init and never change, so a view may read them off a process that
    # is too busy to answer (introspection reads live kernel state the same way).
    value = getattr(pid.process.behaviour, attribute, None)
    return value if isinstance(value, str) else None


def result_view(result: RunResult) -> RunResultView:
    return {
        "run_id": result.run_id,
        "state": result.state.value,
        # Outputs are whatever the tools returned; the store recorded them as JSON already,
        # so this only matters for the odd object, which is shown by its repr.
        "outputs": to_jsonable_python(result.outputs, fallback=repr),
        "error": result.error,
        "session_id": result.session_id,
    }


def no_params(op: str, params: dict[str, Any]) -> None:
    """Refuse what is left in ``params`` (an op pops the parameters it knows)."""
    if params:
        raise ValueError(f"op {op!r} takes no parameter {sorted(params)[0]!r}")


def str_param(op: str, params: dict[str, Any], name: str) -> str:
    value = params.pop(name, None)
    no_params(op, params)
    if not isinstance(value, str) or not value:
        raise ValueError(f"op {op!r} needs {name!r} as a non-empty string, got {value!r:.80}")
    return value


def optional_str(op: str, params: dict[str, Any], name: str) -> str | None:
    value = params.pop(name, None)
    if value is not None and (not isinstance(value, str) or not value):
        raise ValueError(f"op {op!r}: {name!r} must be a non-empty string, got {value!r:.80}")
    return value


def optional_seconds(op: str, params: dict[str, Any], name: str) -> float | None:
    value = params.pop(name, None)
    if value is None:
        return None
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if not number or not math.isfinite(value) or value <= 0:
        raise ValueError(f"op {op!r}: {name!r} must be a positive number of seconds, got {value!r:.80}")
    return float(value)


def flag(op: str, params: dict[str, Any], name: str) -> bool:
    value = params.pop(name, False)
    if not isinstance(value, bool):
        raise ValueError(f"op {op!r}: {name!r} must be true or false, got {value!r:.80}")
    return value
