"""``soma serve`` on a PostgreSQL database: the config's ``db`` is a URL, work started from a
shell runs, and the database verbs read it back by the same URL."""

from __future__ import annotations

from pathlib import Path

import pytest
from _served import CONFIG, served

pytestmark = pytest.mark.anyio


async def test_serve_runs_on_a_postgresql_url_and_the_verbs_read_it(tmp_path: Path, pg_url: str) -> None:
    config = CONFIG.replace('db = "served.db"', f'db = "{pg_url}"')
    async with served(tmp_path, config) as rt:
        assert rt.serving["db"] == pg_url
        code, out, err = await rt.soma(
            "run", "--wait", "--control", "served.sock", "--step", "whisper text=Hi"
        )
        assert code == 0, err
        assert out.splitlines() == ["s1: hi"]  # whisper: lower-cased
        run_id = next(w for w in err.split() if w.startswith("run-"))
        code, out, err = await rt.soma("trace", run_id, "--db", pg_url)
        assert code == 0, err
        assert out.splitlines()[0].startswith(f"run {run_id}") and "completed" in out.splitlines()[0]
    assert not (tmp_path / pg_url).exists(), "no file named after the URL"
