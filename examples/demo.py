"""The main job (`make run`): real runs on the embedded default, a SQLite file (./soma.db).

Three agents work through a successful chain, a failing tool, a hanging tool that times
out, a run cancelled mid-tool, and an external command — every session survives — and the
demo ends with a summary read back from the event store, the source of truth.
"""

from __future__ import annotations

import sys
from collections import Counter

import anyio

from soma_runtime import CommandTool, FromStep, RunHandle, RunResult, Runtime, Step, tool
from soma_runtime.kernel import render


@tool(effect="read", idempotent=True, timeout=5.0)
async def search(query: str, limit: int = 3) -> list[str]:
    await anyio.sleep(0.01)
    return [f"{query}: finding {i}" for i in range(1, limit + 1)]


@tool(effect="pure")
def summarise(findings: list[str]) -> str:
    return f"{len(findings)} findings, first: {findings[0]}"


@tool(timeout=0.3)
async def flaky_api(endpoint: str) -> str:
    await anyio.sleep_forever()  # the remote side never answers
    return endpoint


interpreter = CommandTool("interpreter", [sys.executable, "--version"], effect="pure")


async def main(db: str = "soma.db") -> None:
    async with Runtime.open(db=db, tools=[search, summarise, flaky_api, interpreter]) as rt:
        print(f"runtime up on {db}; the tree:")
        print(render(rt.tree()))
        research = await rt.start_session("research", intent="summarise what is known about OTP")
        ops = await rt.start_session("ops", intent="check the build machine")
        fetcher = await rt.start_session("fetcher", intent="pull data from a partner API")

        runs: list[tuple[str, RunHandle]] = [
            (
                "research chain",
                await research.start_run(
                    [
                        Step("find", "search", {"query": "otp supervisors"}),
                        Step("sum", "summarise", {"findings": FromStep("find")}),
                    ]
                ),
            ),
            ("failing tool", await ops.start_run([Step("boom", "fail", {"message": "disk quota exceeded"})])),
            ("hanging tool", await fetcher.start_run([Step("call", "flaky_api", {"endpoint": "/v1/data"})])),
            ("external command", await ops.start_run([Step("py", "interpreter")])),
        ]
        slow = await research.start_run([Step("wait", "sleep", {"seconds": 30})])
        await anyio.sleep(0.05)
        print(f"cancelling {slow.run_id} while its tool sleeps …")
        await slow.cancel()
        runs.append(("cancelled run", slow))
        again = await fetcher.start_run([Step("retry", "echo", {"value": "recovered"})])
        runs.append(("after the timeout", again))

        print(f"\n{'run':<20} {'id':<24} {'state':<10} detail")
        results: list[RunResult] = []
        for label, run in runs:
            result = await run.result()
            results.append(result)
            detail = result.error or "; ".join(f"{k}={v}" for k, v in result.outputs.items())
            print(f"{label:<20} {result.run_id:<24} {result.state:<10} {' '.join(str(detail).split())[:70]}")

        for session in (research, ops, fetcher):
            assert session.pid.is_alive(), "sessions survive every run outcome"
        counts = Counter(e.type for e in await rt.events.query())
        print(
            f"\n{sum(counts.values())} events in {db}: "
            + ", ".join(f"{t} x{n}" for t, n in sorted(counts.items()))
        )
        await rt.vitals.caught_up()
        print("vitals:")
        for agent, v in sorted((await rt.vitals.snapshot()).items()):
            signals = " ".join(f"{name[:4]}={r.pressure:.2f}" for name, r in v.signals.items())
            print(f"  {agent:<9} {v.mode.value:<8} p={v.pressure:.2f} after {v.actions} actions  ({signals})")
        states = Counter(str(r.state) for r in results)
        print("outcomes: " + ", ".join(f"{s}={n}" for s, n in sorted(states.items())))
        print(f'look closer: sqlite3 {db} "select seq, type, run_id from events order by seq desc limit 20"')


if __name__ == "__main__":
    anyio.run(main, sys.argv[1] if len(sys.argv) > 1 else "soma.db", backend="asyncio")
