"""Vitals for Claude Code sessions, through its hooks: ``soma init`` and ``soma hook``.

``soma init`` writes hook entries into Claude Code's settings (``settings``); Claude Code then
runs ``soma hook`` at every session start, prompt, tool call and stop, with the event as JSON
on stdin (``hook_input``). The hook records it as Soma events — the Claude session is an
agent, each prompt a task, each tool call ``tool.started`` / ``tool.succeeded|failed``, a
subagent an agent of its own with a trust edge to its session's agent (``answer``) — through
a running ``soma serve`` or straight into the database, runs the vitals, and answers in the
JSON Claude Code reads: pending guidance as ``additionalContext``, and under BLOCK a
destructive action refused (``hook``).

Agent ids: ``claude-<session id>`` for a session, ``claude-<session id>/<agent id>`` for a
subagent in it (:func:`agent_of`), so ``soma status --db …`` and ``soma statusline`` find a
Claude session by the ``session_id`` Claude Code gives them.
"""

from __future__ import annotations

AGENT_PREFIX = "claude-"


def agent_of(session_id: str, subagent: str | None = None) -> str:
    """The Soma agent of a Claude Code session (or of a subagent in it)."""
    main = AGENT_PREFIX + session_id
    return main if subagent is None else f"{main}/{subagent}"


def session_of(session_id: str, subagent: str | None = None) -> str:
    """The Soma session of a Claude Code session (a subagent's is its own)."""
    return session_id if subagent is None else f"{session_id}/{subagent}"
