"""ToolRegistry: the runtime's tool specs by name (a GenServer under the root supervisor).

Sessions resolve a run's tools here once, when the run is accepted, and hand the specs to
the run: no registry round-trip per step.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from ..kernel import Call, GenServer, Pid
from .errors import ToolError
from .spec import ToolSpec

NAME = "soma.tool_registry"


class DuplicateTool(ToolError):
    def __init__(self, name: str) -> None:
        super().__init__(f"a tool named {name!r} is already registered")
        self.name = name


class ToolRegistry(GenServer):
    async def init(self, specs: Iterable[ToolSpec]) -> None:
        self.specs: dict[str, ToolSpec] = {}
        for spec in specs:
            self._add(spec)

    def _add(self, spec: ToolSpec) -> None:
        if not isinstance(spec, ToolSpec):
            raise TypeError(f"not a ToolSpec: {spec!r} (decorate the function with @tool)")
        if spec.name in self.specs:
            raise DuplicateTool(spec.name)
        self.specs[spec.name] = spec

    async def handle_call(self, request: Any, caller: Call) -> Any:
        match request:
            case ("lookup", names):
                return {n: self.specs[n] for n in names if n in self.specs}
            case ("all",):
                return dict(self.specs)
            case ("register", ToolSpec() as spec):
                try:
                    self._add(spec)
                except DuplicateTool as e:
                    return e
                return None
        raise ValueError(f"unknown tool registry request {request!r}")


async def lookup(registry: Pid | str, names: Sequence[str]) -> dict[str, ToolSpec]:
    from ..kernel import current_node

    specs: dict[str, ToolSpec] = await current_node().resolve(registry).call(("lookup", list(names)))
    return specs
