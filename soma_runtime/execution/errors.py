"""Typed refusals of the execution core's API that are not about a run's plan
(that is :class:`~soma_runtime.execution.steps.InvalidRun`)."""

from __future__ import annotations


class Overloaded(RuntimeError):
    """A session already holds ``limit`` live runs (``start_session(max_live_runs=…)``): one
    more is refused at once, before anything is written. Retry once some have ended."""

    def __init__(self, session_id: str, limit: int) -> None:
        super().__init__(
            f"session {session_id!r} is overloaded: it already has {limit} live runs "
            f"(max_live_runs={limit}); retry once some have ended"
        )
        self.session_id = session_id
        self.limit = limit


class SessionExists(ValueError):
    """``start_session(session_id=X)`` while a session ``X`` is live: a session id is
    unique while its session lives."""

    def __init__(self, session_id: str) -> None:
        super().__init__(f"a session {session_id!r} is already live (session ids are unique while live)")
        self.session_id = session_id
