"""Following work a command started in a live runtime, until it ends — and Ctrl-C.

``soma run --wait`` and ``soma ask`` start their work through the control socket, then
:func:`watch` follows its events (a second connection, narrowed to the run or the task's
correlation id, from the seq the runtime had reached before the work started, so nothing is
missed) until the event that ends it, drawing each on a :class:`~._progress.Progress`.

Ctrl-C does not simply kill the command, because the work is not the command's: it runs in
the runtime and would go on. ``on_interrupt`` says what then happens:

- ``ask`` (the default): on a terminal, ask — cancel the work, keep waiting, or detach and
  leave it running; a second Ctrl-C at the question cancels. Without a terminal to ask on
  (stdin is not one), cancel.
- ``cancel``: cancel it, then wait for it to end (cancel is prompt: the active tool or model
  call is stopped).
- ``detach``: leave it running and say how to follow or cancel it.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractContextManager as ContextManager
from contextlib import aclosing, nullcontext
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, Final, TextIO

import anyio
import click

from ._common import CliError
from ._progress import TICK, Progress

if TYPE_CHECKING:
    from soma_runtime import Event
    from soma_runtime.control import ControlClient

ON_INTERRUPT: Final = ("ask", "cancel", "detach")


def interrupts() -> ContextManager[AsyncIterator[int]]:
    """SIGINT as a stream: open it before starting the work :func:`watch` follows."""
    return anyio.open_signal_receiver(signal.SIGINT)

on_interrupt_option = click.option(
    "--on-interrupt",
    type=click.Choice(ON_INTERRUPT),
    default="ask",
    show_default=True,
    help="What Ctrl-C does: ask (on a terminal; else cancel), cancel the work, or detach from it.",
)


@dataclass(frozen=True)
class Work:
    """What a command started in the runtime, and how to follow and cancel it."""

    id: str
    banner: str
    """The first line of progress: what was started, for whom."""
    follow: dict[str, str]
    """``ControlClient.follow`` filters that select its events."""
    is_end: Callable[[Event], bool]
    what: str
    """The work as a question names it."""
    cancel: Callable[[ControlClient], Awaitable[Any]]


async def drive(
    control: str, *, wait: bool, on_interrupt: str, start: Callable[[ControlClient], Awaitable[Work]]
) -> tuple[Work, Outcome] | None:
    """Start work through the runtime on ``control`` (``start``) and, with ``wait``, follow
    it to its end; without, print its id and return None. Work the runtime refuses is one
    line (:class:`~._common.CliError`): nothing was started."""
    from soma_runtime.control import ControlClient, ControlError

    # SIGINT is taken from Python before the work starts: a Ctrl-C that comes while it is
    # being started must still offer to cancel it, not kill this command and leave it.
    with interrupts() if wait else nullcontext() as signals:
        async with ControlClient.connect(control) as client:
            from_seq = (await client.hello())["last_seq"] + 1
            try:
                work = await start(client)
            except ControlError as exc:
                if exc.code in ("bad_request", "not_found"):
                    raise CliError(exc.message) from None
                raise
            if signals is None:
                click.echo(work.id)
                return None
            progress = Progress(sys.stderr, live=sys.stderr.isatty())
            progress.note(work.banner)
            outcome = await watch(
                control,
                signals,
                from_seq=from_seq,
                follow=work.follow,
                is_end=work.is_end,
                progress=progress,
                what=work.what,
                cancel=partial(work.cancel, client),
                on_interrupt=on_interrupt,
            )
    if outcome.detached:
        click.echo(f"{work.id} left running: `soma cancel {work.id}` cancels it", err=True)
    elif outcome.end is None:
        # The event stream ended without the work's end: the runtime went away.
        raise CliError(f"the runtime on {control} stopped before {work.id} ended")
    return work, outcome


@dataclass
class Outcome:
    """How watching ended."""

    first: Event | None = None
    """The first event of the work (its start, for how long it took)."""
    end: Event | None = None
    """The event that ended the work (None when the command detached)."""
    interrupted: bool = False
    """Ctrl-C was pressed and the work was cancelled or left (exit 130)."""
    detached: bool = False


async def watch(
    control: str,
    signals: AsyncIterator[int],
    *,
    from_seq: int,
    follow: dict[str, str],
    is_end: Callable[[Event], bool],
    progress: Progress,
    what: str,
    cancel: Callable[[], Awaitable[Any]],
    on_interrupt: str,
    answers: TextIO | None = None,
) -> Outcome:
    """Follow the work's events until ``is_end`` says one ended it; handle Ctrl-C meanwhile.

    ``signals``: SIGINT, received since before the work was started (so a Ctrl-C right after
    starting it is not lost to Python's default handler); ``follow``: the
    ``ControlClient.follow`` filters; ``what``: the work, as a prompt names it; ``cancel``:
    cancels the work; ``answers``: where a prompt reads (default stdin).
    """
    from soma_runtime.control import ControlClient, NoRuntimeListening

    outcome = Outcome()
    answers = answers if answers is not None else sys.stdin
    async with ControlClient.connect(control) as client, anyio.create_task_group() as tg:

        async def follow_events() -> None:
            try:
                async with aclosing(client.follow(from_seq=from_seq, **follow)) as events:
                    async for event in events:
                        outcome.first = outcome.first or event
                        progress.event(event)
                        if is_end(event):
                            outcome.end = event
                            break
            except NoRuntimeListening:
                pass  # gone before the stream opened: as when it ends, the work's end unseen
            tg.cancel_scope.cancel()

        async def tick() -> None:
            while True:
                await anyio.sleep(TICK)  # an animation frame: nothing is waited for here
                progress.draw()

        async def on_signals() -> None:
            async for _ in signals:
                choice = on_interrupt
                if choice == "ask":
                    # Without a terminal to ask on, the safe reading of Ctrl-C is "stop it".
                    interactive = answers.isatty()
                    choice = await _ask(progress, what, answers, signals) if interactive else "cancel"
                if choice == "cancel":
                    outcome.interrupted = True
                    progress.note(f"interrupted: cancelling {what}…")
                    # Shielded: its reply comes as the work's end event does, and a
                    # request cancelled in the very moment its reply arrives trips
                    # asyncio over anyio's socket (see dashboard.source._uninterrupted).
                    # It returns once the work ended, so the shield is bounded.
                    with anyio.CancelScope(shield=True):
                        await cancel()
                elif choice == "detach":
                    outcome.interrupted = outcome.detached = True
                    tg.cancel_scope.cancel()
                    return
                else:
                    progress.note(f"still waiting for {what} (Ctrl-C to ask again)")

        tg.start_soon(follow_events)
        tg.start_soon(on_signals)
        if progress.live:
            tg.start_soon(tick)
    progress.release()  # had it ended while a question was open
    progress.pause()
    return outcome


async def _ask(progress: Progress, what: str, answers: TextIO, signals: AsyncIterator[int]) -> str:
    """Ask what to do; a second Ctrl-C while asking is the answer "cancel"."""
    progress.hold()
    prompt = f"\ninterrupted: cancel {what}? [y] cancel  [n] keep waiting  [d] detach, leave it running: "
    progress.out.write(prompt)
    progress.out.flush()
    choice = "wait"
    async with anyio.create_task_group() as tg:

        async def read() -> None:
            nonlocal choice
            line = await anyio.to_thread.run_sync(answers.readline, abandon_on_cancel=True)
            answer = line.strip().lower()[:1]
            choice = {"y": "cancel", "d": "detach"}.get(answer, "wait")
            tg.cancel_scope.cancel()

        async def again() -> None:
            nonlocal choice
            async for _ in signals:
                choice = "cancel"
                progress.out.write("\n")
                tg.cancel_scope.cancel()

        tg.start_soon(read)
        tg.start_soon(again)
    progress.release()
    return choice


def took_since(first: Event | None, end: Event) -> str:
    """`` in 1.23s``: from the work's first event to its end, by the events' own clocks."""
    if first is None:
        return ""
    return f" in {max(0, end.ts - first.ts) / 1e9:.2f}s"
