"""Steps and the references between them.

A run is a list of steps executed strictly in order. A step's ``args`` may carry
``FromStep("s1")`` anywhere inside them (a whole field, or nested in lists and dicts); it is
replaced by the output of step ``s1`` — or, with a ``path``, by a part of it — just before
the step runs. References are checked before the run starts: one that names an unknown
step, or a step that has not run yet, is rejected by ``start_run`` with ``InvalidRun``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..store._limits import LimitExceeded, check_id, check_value
from ..tools.spec import ToolSpec


class InvalidRun(ValueError):
    """A run that cannot start: names the step (if any), the field and what is wrong."""

    def __init__(
        self, what: str, *, step_id: str | None = None, field: str | None = None, limit: int | None = None
    ) -> None:
        where = "".join([f"step {step_id!r}: " if step_id is not None else "", f"{field}: " if field else ""])
        super().__init__(f"invalid run: {where}{what}")
        self.step_id = step_id
        self.field = field
        """The field, or the path inside it (``args.data.items[3]``), that is wrong."""
        self.what = what
        self.limit = limit
        """The limit crossed (nesting depth, id length…), when it was one."""


class StepArgumentError(Exception):
    """A reference could not be resolved against the outputs at run time."""


@dataclass(frozen=True, slots=True)
class FromStep:
    """The output of an earlier step; ``path`` ("items.0.title" or a sequence) selects inside it."""

    step: str
    path: str | Sequence[str | int] | None = None

    def keys(self) -> list[str | int]:
        if self.path is None:
            return []
        if isinstance(self.path, str):
            return [int(k) if k.lstrip("-").isdigit() else k for k in self.path.split(".") if k]
        return list(self.path)

    def resolve(self, outputs: Mapping[str, Any]) -> Any:
        value = outputs[self.step]
        for key in self.keys():
            try:
                value = value[key]
            except (KeyError, IndexError, TypeError):
                raise StepArgumentError(
                    f"FromStep({self.step!r}, {self.path!r}): no {key!r} in that step's output"
                ) from None
        return value

    def to_json(self) -> dict[str, Any]:
        return {"$from_step": self.step, "path": self.keys() or None}


@dataclass(frozen=True, slots=True)
class Step:
    """One tool invocation of a run. ``timeout`` (seconds) overrides the tool's own."""

    id: str
    tool: str
    args: Mapping[str, Any] = field(default_factory=dict)
    timeout: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "tool": self.tool, "args": to_json(self.args), "timeout": self.timeout}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Step:
        return cls(data["id"], data["tool"], from_json(data.get("args") or {}), data.get("timeout"))


def references(value: Any) -> Iterator[FromStep]:
    """Every FromStep inside ``value`` (dicts, lists and tuples are searched)."""
    if isinstance(value, FromStep):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from references(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from references(item)


def substitute(value: Any, outputs: Mapping[str, Any]) -> Any:
    """``value`` with every FromStep replaced by what it refers to."""
    if isinstance(value, FromStep):
        return value.resolve(outputs)
    if isinstance(value, Mapping):
        return {k: substitute(v, outputs) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [substitute(v, outputs) for v in value]
    return value


def to_json(value: Any) -> Any:
    """Arguments as JSON (FromStep as ``{"$from_step": …}``), for the run's journal."""
    if isinstance(value, FromStep):
        return value.to_json()
    if isinstance(value, Mapping):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    return value


_SCALARS = frozenset({str, int, float, bool, type(None)})


def from_json(value: Any) -> Any:
    """Arguments read back from the journal (``to_json``'s inverse): resume parses every
    interrupted run's plan with it, so JSON's own types are told apart first, cheaply."""
    if type(value) in _SCALARS:
        return value
    if isinstance(value, Mapping):
        if "$from_step" in value:
            return FromStep(value["$from_step"], value.get("path"))
        return {k: from_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [from_json(v) for v in value]
    return value


def check_timeout(timeout: float | None, what: str, step_id: str | None = None) -> None:
    if timeout is None:
        return
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not math.isfinite(timeout):
        raise InvalidRun(f"must be a number of seconds, got {timeout!r}", step_id=step_id, field=what)
    if timeout <= 0:
        raise InvalidRun(f"must be > 0 seconds, got {timeout!r}", step_id=step_id, field=what)


def validate_plan(steps: Sequence[Step], tools: Mapping[str, ToolSpec], timeout: float | None) -> None:
    """Everything that can be known wrong before the run starts raises ``InvalidRun`` here."""
    check_timeout(timeout, "timeout")
    if isinstance(steps, (str, bytes)) or not isinstance(steps, Sequence):
        raise InvalidRun(f"steps must be a list of Step, got {type(steps).__name__}")
    if not steps:
        raise InvalidRun("a run needs at least one step", field="steps")
    seen: set[str] = set()
    for step in steps:
        if not isinstance(step, Step):
            raise InvalidRun(f"not a Step: {step!r}", field="steps")
        if not isinstance(step.id, str) or not step.id:
            raise InvalidRun(f"step ids must be non-empty strings, got {step.id!r}", field="id")
        try:
            check_id(step.id, "id")
        except LimitExceeded as e:
            raise InvalidRun(e.problem, field="id", limit=e.limit) from None
        if step.id in seen:
            raise InvalidRun("duplicate step id", step_id=step.id, field="id")
        check_timeout(step.timeout, "timeout", step.id)
        if not isinstance(step.tool, str):
            raise InvalidRun(
                f"tool must be a tool's name (a str), got {step.tool!r:.60}", step_id=step.id, field="tool"
            )
        spec = tools.get(step.tool)
        if spec is None:
            # ``tools`` holds only the plan's tools that were found: listing it as "known"
            # would name none of the others the runtime has.
            problem = f"unknown tool {step.tool!r}: no tool of that name is registered"
            raise InvalidRun(problem, step_id=step.id, field="tool")
        if not isinstance(step.args, Mapping):
            raise InvalidRun(f"args must be a mapping, got {step.args!r}", step_id=step.id, field="args")
        try:
            # Nothing the journal could not hold and give back as it was (see store._limits).
            check_value(step.args, "args")
        except LimitExceeded as e:
            raise InvalidRun(e.problem, step_id=step.id, field=e.path, limit=e.limit) from None
        refs = list(references(step.args))
        for ref in refs:
            if ref.step not in seen:
                later = any(s.id == ref.step for s in steps)
                why = "a later step (steps run in order)" if later else "an unknown step"
                raise InvalidRun(f"FromStep({ref.step!r}) refers to {why}", step_id=step.id, field="args")
        if not refs:
            # Fully known arguments are validated now; referencing ones when the step runs.
            try:
                spec.validate_args(step.args)
            except Exception as e:
                raise InvalidRun(str(e), step_id=step.id, field="args") from e
        seen.add(step.id)
