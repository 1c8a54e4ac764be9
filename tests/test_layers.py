"""The layers of docs/design.md §1, checked over the source: a lower module never imports a higher one.

Every import counts — module level, inside functions, and under ``TYPE_CHECKING`` — because
each one is a dependency a reader has to hold in their head, and a cycle of them is how a
package stops reading as a tree.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("soma_runtime", "soma_actor")

# soma_runtime's layers, lowest first; a module may import only from strictly lower ranks.
# store and tools share a rank: neither may import the other.
RANKS = {
    "soma_runtime._lazy": 0,
    "soma_runtime._version": 0,
    "soma_runtime.kernel": 1,
    "soma_runtime.store": 2,
    "soma_runtime.tools": 2,
    "soma_runtime.execution": 3,
    "soma_runtime.vitals": 4,
    "soma_runtime.control": 4,
    "soma_runtime.telemetry": 4,
    "soma_runtime.runtime": 5,
    "soma_runtime.testing": 6,  # the pytest plugin, over the runtime
    "soma_runtime": 7,  # the package root only re-exports
}


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


MODULES = _modules()


def _imports(module: str, path: Path) -> Iterator[str]:
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names if alias.name in MODULES)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - node.level + 1]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            for alias in node.names:
                submodule = f"{target}.{alias.name}"
                name = submodule if submodule in MODULES else target
                if name in MODULES and name != module:
                    yield name


GRAPH = {module: set(_imports(module, path)) for module, path in MODULES.items()}


def _layer(module: str) -> str:
    parts = module.split(".")
    return module if len(parts) == 1 else ".".join(parts[:2])


def test_the_graph_is_read_from_the_real_tree() -> None:
    assert {"soma_runtime.kernel.process", "soma_runtime.store.log", "soma_actor.actor"} <= set(GRAPH)
    assert "soma_runtime.kernel.process" in GRAPH["soma_runtime.kernel.node"]


def test_no_module_imports_itself_back() -> None:
    # Tarjan's strongly connected components: any component of more than one module is a cycle.
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in GRAPH[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for module in GRAPH:
        if module not in index:
            visit(module)
    assert cycles == []


@pytest.mark.parametrize("module", sorted(m for m in GRAPH if m.startswith("soma_runtime")))
def test_soma_runtime_imports_only_lower_layers(module: str) -> None:
    mine = RANKS[_layer(module)]
    upward = sorted(
        target
        for target in GRAPH[module]
        if _layer(target) != _layer(module) and RANKS[_layer(target)] >= mine
    )
    assert upward == [], f"{module} imports a layer at or above its own"


def test_soma_runtime_never_imports_soma_actor() -> None:
    assert [
        (module, target)
        for module, targets in GRAPH.items()
        if module.startswith("soma_runtime")
        for target in targets
        if target.startswith("soma_actor")
    ] == []


def test_the_cli_is_the_top_of_the_house() -> None:
    assert [
        (module, target)
        for module, targets in GRAPH.items()
        if not module.startswith("soma_actor.cli")
        for target in targets
        if target.startswith("soma_actor.cli")
    ] == []


def test_a_tool_module_imports_neither_the_store_nor_the_kernel() -> None:
    # A `process` tool's worker is a fresh interpreter per call that imports the tool's module;
    # `from soma_runtime import tool, Step` there must not drag in aiosqlite and the kernel.
    code = (
        "import sys\n"
        "from soma_runtime import Step, tool\n"
        "import soma_runtime.tools, soma_runtime.execution.steps\n"
        "print(sorted(m for m in ('aiosqlite', 'soma_runtime.kernel', 'soma_runtime.store.log')"
        " if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"
