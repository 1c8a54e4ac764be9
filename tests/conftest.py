from __future__ import annotations

import faulthandler
import sys
from collections.abc import Iterator

import pytest

# A test that hangs must fail CI fast and say where it hung, not eat the CI budget:
# after this many seconds the whole run dumps every thread's stack and exits.
HARD_TEST_TIMEOUT = 90


@pytest.fixture
def anyio_backend() -> str:
    # aiosqlite and Textual are asyncio-only; Soma runs on anyio's asyncio backend.
    return "asyncio"


@pytest.fixture(autouse=True)
def _hard_timeout() -> Iterator[None]:
    faulthandler.dump_traceback_later(HARD_TEST_TIMEOUT, exit=True, file=sys.stderr)
    try:
        yield
    finally:
        faulthandler.cancel_dump_traceback_later()
