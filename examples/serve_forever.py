"""A program that embeds Soma and runs until Ctrl-C or SIGTERM: its control socket is open
meanwhile (`soma run --control soma.sock --step 'echo value=hi'`, `soma dashboard`), and the
stop is orderly — every live run records its end, every session its stop — with no traceback.

python examples/serve_forever.py
"""

from __future__ import annotations

import signal

import anyio

from soma_runtime import Runtime


async def main() -> None:
    async with Runtime.open(db="soma-serve.db", control="soma.sock") as rt:
        recovered = rt.recovery
        print(f"serving (resumed {len(recovered.resumed)} runs, ended {len(recovered.ended)}); Ctrl-C stops")
        signum = await rt.serve_forever()
        print(f"{signal.Signals(signum).name}: stopping in order")


if __name__ == "__main__":
    anyio.run(main, backend="asyncio")
