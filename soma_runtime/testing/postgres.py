"""A throwaway PostgreSQL server for tests and benchmarks: :class:`ThrowawayCluster` runs
``initdb`` and ``pg_ctl`` in a temporary directory, listens on a Unix socket there only, and
hands out fresh databases; :meth:`~ThrowawayCluster.stop` removes it all.

    with ThrowawayCluster.started() as cluster:
        url = cluster.new_database()        # postgresql://soma@/t1?host=/tmp/soma-pg-...
        async with Runtime.open(db=url) as rt: ...

The server binaries are found in ``SOMA_PG_BIN``, ``pg_config --bindir`` or Debian's
``/usr/lib/postgresql/<version>/bin``. ``initdb`` and ``postgres`` refuse to run as root; run
as root, the cluster runs as the unprivileged ``postgres`` user the server package creates.
Durability is off (``fsync=off``): this server is for tests, and its data is thrown away.
"""

from __future__ import annotations

import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from glob import glob
from pathlib import Path

INSTALL_HINT = (
    "a throwaway PostgreSQL cluster needs the server binaries (initdb, pg_ctl): `apt-get install "
    "postgresql` on Debian/Ubuntu, or set SOMA_PG_BIN to the directory holding them"
)
SUPERUSER = "soma"


class ClusterUnavailable(RuntimeError):
    """The server binaries, or an unprivileged user to run them as, are missing (the message
    says how to get them)."""


def server_bindir() -> Path:
    """The directory of ``initdb`` and ``pg_ctl``; :class:`ClusterUnavailable` if none."""
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
    raise ClusterUnavailable(INSTALL_HINT)


def _server_user() -> str | None:
    """Who runs the server: ourselves, or ``postgres`` when we are root."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        raise ClusterUnavailable(
            "as root, a throwaway cluster needs the unprivileged `postgres` user"
        ) from None
    return "postgres"


class ThrowawayCluster:
    """A PostgreSQL server of our own, reached over a Unix socket in its directory."""

    def __init__(self, root: Path, bindir: Path, user: str | None) -> None:
        self.root = root
        self.bindir = bindir
        self.user = user
        self.data = root / "data"
        self._names = itertools.count(1)

    @classmethod
    @contextmanager
    def started(cls) -> Iterator[ThrowawayCluster]:
        """A running cluster for the length of the block, removed after it."""
        bindir, user = server_bindir(), _server_user()
        # A short path: a Unix socket's path must fit in 107 bytes.
        root = Path(tempfile.mkdtemp(prefix="soma-pg-"))
        try:
            if user is not None:
                shutil.chown(root, user)
            cluster = cls(root, bindir, user)
            cluster._start()
            try:
                yield cluster
            finally:
                cluster._stop()
        finally:
            shutil.rmtree(root, ignore_errors=True)

    def url(self, dbname: str) -> str:
        return f"postgresql://{SUPERUSER}@/{dbname}?host={self.root}"

    def new_database(self) -> str:
        """A new, empty database; its URL."""
        name = f"t{next(self._names)}"
        self._run("createdb", "-h", str(self.root), "-U", SUPERUSER, name)
        return self.url(name)

    def _run(self, *argv: str) -> None:
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

    def _start(self) -> None:
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", SUPERUSER, "-E", "UTF8", "--no-sync")
        options = (
            f"-k {self.root} -c listen_addresses='' -c fsync=off -c full_page_writes=off"
            " -c max_connections=200 -c shared_buffers=32MB"
        )
        log = str(self.root / "server.log")
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", log, "-w", "start")

    def _stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
