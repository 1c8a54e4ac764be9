from __future__ import annotations

import os

import pytest

# Every event the runtime builds itself is also validated against its payload model, in this
# process and in the runtimes the tests start as children (``store._batch.prepare_trusted``).
os.environ["SOMA_CHECK_TRUSTED"] = "1"

# A hung test fails on its own and says where it hung; the rest of the run goes on
# (see _hang_watchdog for how, and why not pytest-timeout). Its hooks live there so that the
# watchdog's own test can load it into an inner pytest run with ``-p _hang_watchdog``.
from _hang_watchdog import (  # noqa: F401
    pytest_addoption,
    pytest_configure,
    pytest_pyfunc_call,
    pytest_runtest_call,
    pytest_runtest_setup,
    pytest_runtest_teardown,
)


@pytest.fixture
def anyio_backend() -> str:
    # aiosqlite and Textual are asyncio-only; Soma runs on anyio's asyncio backend.
    return "asyncio"


# The PostgreSQL cluster of the session and a fresh database per test (see _postgres).
from _postgres import any_db, pg_cluster, pg_url  # noqa: E402, F401
