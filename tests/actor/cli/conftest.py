from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from _cli import Recorded, make_db


@pytest.fixture(scope="session")
def rec(tmp_path_factory: pytest.TempPathFactory) -> Recorded:
    """One database recorded by a real runtime, shared by the CLI tests (they only read it)."""
    return make_db(tmp_path_factory.mktemp("cli") / "soma.db")


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def any_rec(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Recorded:
    """The same recording on each backend in turn: the verbs read a PostgreSQL database given
    as a ``postgresql://`` URL exactly as they read a SQLite file."""
    if request.param == "postgres":
        return make_db(request.getfixturevalue("pg_cluster").new_database())
    return make_db(tmp_path_factory.mktemp("cli-any") / "soma.db")


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    # main() run in-process configures the root logger, as the command does: undo it.
    root, soma = logging.getLogger(), logging.getLogger("soma")
    handlers, levels = list(root.handlers), (root.level, soma.level)
    yield
    root.handlers = handlers
    root.setLevel(levels[0])
    soma.setLevel(levels[1])
