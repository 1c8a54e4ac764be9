"""What a hook event becomes: the Soma events it records, and Claude Code's answer.

=======================  ===================================================================
hook                     recorded (every payload has ``"source": "hook"``)
=======================  ===================================================================
any, first of a session  ``session.started`` (``metadata.claude_code``: cwd, transcript,
                         model…) — and for a subagent ``vitals.trust`` subagent → session
``UserPromptSubmit``     ``actor.task.received`` (``message``: the prompt): a task of the
                         session's agent, whose id the turn's events carry (``task_id``,
                         ``correlation_id``); an unfinished earlier turn ``actor.task.cancelled``
``PreToolUse``           ``tool.started`` (``tool``, ``args``; ``tool_call_id`` = ``tool_use_id``)
                         — or, refused, ``tool.blocked``
``PostToolUse``          ``tool.succeeded`` (``output``: the response, long texts cut)
``PostToolUseFailure``   ``tool.failed`` (``error``); an interrupt by the user is
                         ``hook.tool_interrupted``, not a failure of the agent's
``Stop``                 ``actor.task.completed`` (``reply``: the last message)
``SubagentStop``         ``session.stopped`` of the subagent's session
``SessionEnd``           ``session.stopped`` (an unfinished turn ``actor.task.cancelled``)
=======================  ===================================================================

The answer goes through the channel the model reads: ``hookSpecificOutput.additionalContext``
on ``SessionStart``, ``UserPromptSubmit``, ``PreToolUse``, ``PostToolUse``,
``PostToolUseFailure`` and ``SubagentStart`` (plain stdout of a tool hook only reaches the
debug log; ``Stop`` and ``SubagentStop`` take no context — pending guidance waits for the
next channel). It carries the guidance fired for the agent since its last delivery. Under
BLOCK, a destructive action (``destructive``) gets PreToolUse's ``permissionDecision: "deny"``
with the reason, which Claude reads as the tool's result.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from .._ledger import Draft
from .._wire import bounded
from ..destructive import destructive_action
from . import agent_of, session_of

if TYPE_CHECKING:
    from typing import Any

    from .._ledger import Facts, Outcome
    from .hook_input import HookInput
    from .policy import HookPolicy

CHANNELS = frozenset(
    {"SessionStart", "UserPromptSubmit", "PreToolUse", "PostToolUse", "PostToolUseFailure", "SubagentStart"}
)
SOURCE = "hook"
MAX_PROMPT = 16_000
MAX_GUIDANCE_SHOWN = 3


class Plan:
    """The events of one hook, for one agent, and whether it refuses the action."""

    __slots__ = ("agent_id", "channel", "deny", "drafts")

    def __init__(self, agent_id: str, drafts: list[Draft], channel: str | None, deny: str | None) -> None:
        self.agent_id = agent_id
        self.drafts = drafts
        self.channel = channel
        self.deny = deny


def sessions(hook: HookInput) -> list[str]:
    """The sessions whose start the hook must know about: its session, and a subagent's own."""
    found = [hook.session_id]
    if hook.subagent is not None:
        found.append(session_of(hook.session_id, hook.subagent))
    return found


def main_agent(hook: HookInput) -> str:
    return agent_of(hook.session_id)


def plan(hook: HookInput, facts: Facts, policy: HookPolicy) -> Plan:
    agent = agent_of(hook.session_id, hook.subagent)
    session = session_of(hook.session_id, hook.subagent)
    task = facts.open_task
    drafts = _starts(hook, facts, policy)

    def draft(type: str, payload: dict[str, Any], **ids: Any) -> Draft:
        mine = hook.subagent is None
        return Draft(
            type,
            payload,
            source=SOURCE,
            agent_id=agent,
            session_id=session,
            task_id=ids.pop("task_id", task if mine else None),
            correlation_id=ids.pop("correlation_id", task),
            **ids,
        )

    deny: str | None = None
    event = hook.event
    if event == "UserPromptSubmit" and hook.subagent is None:
        if task is not None:
            drafts.append(draft("actor.task.cancelled", {"error": "a new prompt came before the turn ended"}))
        new_task = "task-" + (hook.prompt_id or os.urandom(8).hex())
        message = bounded(hook.prompt or "", MAX_PROMPT)
        drafts.append(
            draft("actor.task.received", {"message": message}, task_id=new_task, correlation_id=new_task)
        )
    elif event == "PreToolUse":
        tool, args = hook.tool_name or "?", bounded(hook.tool_input, 8000)
        vitals = facts.vitals
        why = None
        if policy.deny and vitals is not None and vitals.blocked:
            why = destructive_action(tool, hook.tool_input, cwd=hook.cwd, rules=policy.rules)
        if why is not None and vitals is not None:
            deny = _refusal(why, vitals.pressure, vitals.signals)
            payload = {"tool": tool, "reason": deny, "pressure": vitals.pressure, "args": args}
            drafts.append(draft("tool.blocked", payload, tool_call_id=hook.tool_use_id))
        else:
            payload = {"tool": tool, "args": args, "isolation": None}
            drafts.append(draft("tool.started", payload, tool_call_id=hook.tool_use_id))
    elif event == "PostToolUse":
        payload = {
            "tool": hook.tool_name,
            "output": bounded(hook.tool_response),
            "args": bounded(hook.tool_input, 8000),
        }
        drafts.append(draft("tool.succeeded", payload, tool_call_id=hook.tool_use_id))
    elif event == "PostToolUseFailure":
        kind = "hook.tool_interrupted" if hook.is_interrupt else "tool.failed"
        payload = {
            "tool": hook.tool_name,
            "error": bounded(hook.error or "failed", 4000),
            "args": bounded(hook.tool_input, 8000),
        }
        drafts.append(draft(kind, payload, tool_call_id=hook.tool_use_id))
    elif event == "Stop" and hook.subagent is None and task is not None:
        drafts.append(draft("actor.task.completed", {"reply": bounded(hook.last_message, 4000)}))
    elif event == "SubagentStop" and hook.subagent is not None:
        drafts.append(draft("session.stopped", {"reason": "completed", "agent_type": hook.agent_type}))
    elif event == "SessionEnd" and hook.subagent is None:
        if task is not None:
            drafts.append(draft("actor.task.cancelled", {"error": "the session ended before the turn did"}))
        drafts.append(draft("session.stopped", {"reason": hook.reason or "ended"}))
    channel = f"{SOURCE}:{event}" if event in CHANNELS else None
    return Plan(agent, drafts, channel, deny)


def _starts(hook: HookInput, facts: Facts, policy: HookPolicy) -> list[Draft]:
    """``session.started`` for the sessions not known to have started (``once``: recorded
    only if still not started when written), and a new subagent's trust edge."""
    drafts: list[Draft] = []
    main = agent_of(hook.session_id)
    if hook.session_id not in facts.started:
        metadata = {
            "claude_code": {
                "cwd": hook.cwd,
                "transcript_path": hook.transcript_path,
                "model": hook.model,
                "start": hook.source,
                "agent_type": hook.agent_type if hook.subagent is None else None,
            }
        }
        drafts.append(
            Draft(
                "session.started",
                {"intent": None, "metadata": metadata},
                source=SOURCE,
                agent_id=main,
                session_id=hook.session_id,
                once=hook.session_id,
            )
        )
    if hook.subagent is not None:
        sub_session = session_of(hook.session_id, hook.subagent)
        if sub_session not in facts.started:
            sub = agent_of(hook.session_id, hook.subagent)
            metadata = {"claude_code": {"cwd": hook.cwd, "agent_type": hook.agent_type, "parent": main}}
            drafts.append(
                Draft(
                    "session.started",
                    {"intent": None, "metadata": metadata},
                    source=SOURCE,
                    agent_id=sub,
                    session_id=sub_session,
                    correlation_id=facts.open_task,
                    once=sub_session,
                )
            )
            trust = {"src": sub, "dst": main, "trust": policy.subagent_trust}
            drafts.append(Draft("vitals.trust", trust, once=sub_session, source=SOURCE))
    return drafts


def _refusal(why: str, pressure: float, signals: dict[str, float]) -> str:
    hot = [name for name, p in sorted(signals.items(), key=lambda kv: -kv[1]) if p >= 0.5]
    cause = f" ({', '.join(hot)} far above this session's usual)" if hot else ""
    return (
        f"Soma refused this action: {why}, and this session's vitals are at BLOCK "
        f"(pressure {pressure:.2f}){cause}. Destructive actions are refused until pressure falls. "
        "Do not retry it: find out why the previous steps failed, or stop and tell the user what blocks you."
    )


def render(hook: HookInput, plan: Plan, outcome: Outcome) -> dict[str, Any] | None:
    """Claude Code's JSON answer, or None for no output at all."""
    context = guidance_text(outcome)
    if plan.deny is not None:
        out: dict[str, Any] = {
            "hookEventName": "PreToolUse",
            "permissionDecision": "deny",
            "permissionDecisionReason": plan.deny,
        }
        if context:
            out["additionalContext"] = context
        return {"hookSpecificOutput": out}
    if context and hook.event in CHANNELS:
        return {"hookSpecificOutput": {"hookEventName": hook.event, "additionalContext": context}}
    return None


def guidance_text(outcome: Outcome) -> str | None:
    """The guidance handed out, as the model reads it: the newest few, under the agent's mode."""
    firings = outcome.guidance
    if not firings:
        return None
    vitals = outcome.vitals
    mode, pressure = (vitals.mode, vitals.pressure) if vitals else (firings[-1].mode, firings[-1].pressure)
    shown = firings[-MAX_GUIDANCE_SHOWN:]
    lines = [f"Soma vitals for this session: {mode.upper()} (pressure {pressure:.2f})."]
    lines += [f"- {f.message}" for f in reversed(shown)]
    if len(firings) > len(shown):
        lines.append(f"({len(firings) - len(shown)} earlier notes of the same kind left out.)")
    return "\n".join(lines)
