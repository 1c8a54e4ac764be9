"""A throwaway PostgreSQL cluster for the tests: one per test session, on a Unix socket in a
temporary directory, removed at the end; each test that asks gets a database of its own.

The server binaries are Debian's (``/usr/lib/postgresql/<version>/bin``), or wherever
``SOMA_PG_BIN`` or ``pg_config --bindir`` says. ``initdb`` and ``postgres`` refuse to run as
root, so when the tests run as root the cluster runs as the ``postgres`` user the package
creates. A machine without PostgreSQL fails these tests with how to get it — they are never
skipped.
"""

from __future__ import annotations

import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from glob import glob
from pathlib import Path

import pytest

INSTALL_HINT = (
    "the PostgreSQL tests need the server binaries (initdb, pg_ctl): `apt-get install postgresql` "
    "on Debian/Ubuntu, or set SOMA_PG_BIN to the directory holding them"
)
_SUPERUSER = "soma"


def server_bindir() -> Path:
    candidates = []
    if env := os.environ.get("SOMA_PG_BIN"):
        candidates.append(Path(env))
    if pg_config := shutil.which("pg_config"):
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        candidates.append(Path(out.stdout.strip()))
    candidates += [Path(p) for p in sorted(glob("/usr/lib/postgresql/*/bin"), reverse=True)]
    for bindir in candidates:
        if (bindir / "initdb").is_file() and (bindir / "pg_ctl").is_file():
            return bindir
    pytest.fail(INSTALL_HINT, pytrace=False)


class Cluster:
    """A running PostgreSQL server of our own, reached over a Unix socket."""

    def __init__(self, root: Path, bindir: Path, user: str | None) -> None:
        self.root = root
        self.bindir = bindir
        self.user = user  # run the server as this user (when we are root), else as ourselves
        self.data = root / "data"
        self.socket_dir = root
        self._names = itertools.count(1)

    def _run(self, *argv: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [str(self.bindir / argv[0]), *argv[1:]],
            user=self.user,
            capture_output=True,
            text=True,
            check=False,
            cwd=self.root,
        )
        if done.returncode != 0:
            raise RuntimeError(f"{argv[0]} failed ({done.returncode}): {done.stderr.strip() or done.stdout}")
        return done

    def start(self) -> None:
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", _SUPERUSER, "-E", "UTF8", "--no-sync")
        options = (
            f"-k {self.socket_dir} -c listen_addresses='' -c fsync=off -c full_page_writes=off"
            " -c max_connections=200 -c shared_buffers=32MB"
        )
        log = str(self.root / "server.log")
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", log, "-w", "start")

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def url(self, dbname: str) -> str:
        return f"postgresql://{_SUPERUSER}@/{dbname}?host={self.socket_dir}"

    def new_database(self) -> str:
        """A new, empty database; its URL."""
        name = f"t{next(self._names)}"
        self._run("createdb", "-h", str(self.socket_dir), "-U", _SUPERUSER, name)
        return self.url(name)


def _server_user() -> str | None:
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        pytest.fail("as root, the PostgreSQL tests need the unprivileged `postgres` user", pytrace=False)
    return "postgres"


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[Cluster]:
    bindir = server_bindir()
    user = _server_user()
    # A short path: a Unix socket's path must fit in 107 bytes.
    root = Path(tempfile.mkdtemp(prefix="soma-pg-"))
    if user is not None:
        shutil.chown(root, user)
    cluster = Cluster(root, bindir, user)
    cluster.start()
    try:
        yield cluster
    finally:
        try:
            cluster.stop()
        finally:
            shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def pg_url(pg_cluster: Cluster) -> str:
    """The URL of a fresh database of the session's cluster."""
    return pg_cluster.new_database()


@pytest.fixture(params=["sqlite", "postgres"])
def any_db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh database of each backend in turn: a SQLite file, a PostgreSQL database — the
    store's contract is the same on both, and the tests that take this prove it."""
    if request.param == "postgres":
        url: str = request.getfixturevalue("pg_url")
        return url
    return str(tmp_path / "soma.db")


async def raw_rows(db: str, sql: str) -> list[tuple[object, ...]]:
    """Rows of ``sql`` read past the store, on a connection of its own (as another process
    would): sqlite3 for a file, asyncpg for a PostgreSQL URL."""
    if db.startswith("postgresql://"):
        import asyncpg

        conn = await asyncpg.connect(db)
        try:
            return [tuple(r) for r in await conn.fetch(sql)]
        finally:
            await conn.close()
    import sqlite3

    raw = sqlite3.connect(db)
    try:
        return list(raw.execute(sql).fetchall())
    finally:
        raw.close()
