"""Failover: in a log several runtimes share (PostgreSQL), each runtime resumes the work of
those that died (docs/design.md §11).

One :class:`Failover` process per runtime on a shared log, started after recovery at open
(the store keeps this runtime's own lease). Every third of a lease it claims the unfinished runs,
sessions and tasks of every node whose lease expired (``SharedLog.claim``: one claimant
wins each dead node) and recovers them exactly as an open recovers a stopped runtime's —
``resume.recover``: completed steps never run again, a non-idempotent step that was in
flight fails its run ``resume_unsafe`` — then adopts them as its own.

A runtime that lost its own lease (frozen or cut off past it: its work may have moved) can
no longer write — the store refuses its appends, its store ends with ``LeaseLost`` and cannot
start again as the same node — so the runtime stops rather than go on as if it still owned
what it ran.
"""

from __future__ import annotations

import itertools
import logging
from typing import Any, cast

from ..kernel import TIMEOUT, GenServer
from ..store._backend import SharedLog
from ..store.log import EventLog
from .resume import recover
from .session import Services

log = logging.getLogger("soma.failover")


class Failover(GenServer):
    """Keeps this node's lease and takes over dead nodes' work (see the module docstring)."""

    async def init(self, events: EventLog, services: Services, session_supervisor: str, resume: bool) -> None:
        self._events = events
        self._services = services
        self._session_supervisor = session_supervisor
        self._resume = resume
        self._log = cast(SharedLog, await events.backend())
        self._claims = itertools.count(1)
        self._interval = self._log.lease / 3
        self.set_timeout(self._interval)

    async def handle_info(self, message: Any) -> None:
        if message is TIMEOUT:
            await self._take_over()
        self.set_timeout(self._interval)

    async def _take_over(self) -> None:
        claimant = f"{self._log.node_id}/takeover-{next(self._claims)}"
        dead, taken = await self._log.claim(claimant)
        if not taken:
            return
        self._log.recovering = claimant
        try:
            report = await recover(
                self._events, self._services, self._session_supervisor, resume=self._resume
            )
        finally:
            self._log.recovering = self._log.node_id
        await self._log.adopt(claimant)
        log.info(
            "took over the work of %s: %d runs resumed, %d started, %d ended, %d sessions resumed",
            ", ".join(dead) or "nodes gone",
            len(report.resumed),
            len(report.started),
            len(report.ended),
            len(report.sessions_resumed),
        )
