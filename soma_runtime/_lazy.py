"""Lazy re-exports for package ``__init__`` modules (PEP 562).

A package's public names are listed once, name → defining module, and each is imported the
first time someone reads it. Why not plain imports: importing ``soma_runtime.execution.steps``
runs ``soma_runtime/execution/__init__.py`` first, and an eager ``__init__`` would drag the
store, aiosqlite and the kernel into every process that only wanted ``Step`` — a
``process`` tool's worker is a fresh interpreter per call, and ``soma hook`` must start in
tens of milliseconds. Type checkers read the ``TYPE_CHECKING`` imports next to each table.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(
    package: str, exports: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package``, resolving ``exports[name]`` (a module
    path relative to the package) on first access and caching the value in the package."""

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module, package), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted({*exports, *vars(sys.modules[package])})

    return __getattr__, __dir__
