import pytest


@pytest.fixture
def anyio_backend() -> str:
    # aiosqlite and Textual are asyncio-only; Soma runs on anyio's asyncio backend.
    return "asyncio"
