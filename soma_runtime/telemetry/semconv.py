"""Which OpenTelemetry semantic conventions Soma's spans follow, and the names it uses.

Soma follows the **GenAI semantic conventions of semantic-conventions v1.40.0**: span names
``invoke_agent {gen_ai.agent.name}`` (INTERNAL), ``chat {gen_ai.request.model}`` (CLIENT) and
``execute_tool {gen_ai.tool.name}`` (INTERNAL); ``gen_ai.provider.name`` for the provider
(v1.37.0 replaced ``gen_ai.system`` with it); ``gen_ai.usage.cache_read.input_tokens`` /
``gen_ai.usage.cache_creation.input_tokens`` beside ``gen_ai.usage.input_tokens`` (which, as
the convention asks, counts cached tokens too — Soma's ``TokenUsage`` already does);
``gen_ai.tool.call.arguments`` / ``gen_ai.tool.call.result`` for opted-in content. The names
are written out here rather than imported from ``opentelemetry.semconv._incubating``: that
module is private, and the mapping must import without the optional OpenTelemetry extra.

The GenAI conventions are still in development, and the transition rule for them uses
``OTEL_SEMCONV_STABILITY_OPT_IN`` (a comma-separated list):

* without ``gen_ai_latest_experimental`` (the default), Soma emits v1.40.0 *and* the
  pre-v1.37 name of the one attribute that was renamed (``gen_ai.system`` beside
  ``gen_ai.provider.name``), so dashboards built on the older conventions keep working;
* with ``gen_ai_latest_experimental``, it emits the latest experimental conventions it knows
  (v1.40.0) and nothing deprecated.

Nothing in the conventions covers vitals, so they are ``soma.*`` attributes and span events.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Mapping
from typing import Final

SEMCONV_VERSION: Final = "1.40.0"
SCHEMA_URL: Final = f"https://opentelemetry.io/schemas/{SEMCONV_VERSION}"
INSTRUMENTATION_NAME: Final = "soma"

STABILITY_ENV: Final = "OTEL_SEMCONV_STABILITY_OPT_IN"
GEN_AI_LATEST: Final = "gen_ai_latest_experimental"


class SemconvMode(enum.StrEnum):
    """What ``OTEL_SEMCONV_STABILITY_OPT_IN`` selects for the GenAI conventions."""

    DEFAULT = "default"  # v1.40.0 plus the renamed attribute's old name
    LATEST = "latest"  # gen_ai_latest_experimental: v1.40.0 only

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> SemconvMode:
        env = os.environ if environ is None else environ
        values = {v.strip().lower() for v in env.get(STABILITY_ENV, "").split(",")}
        return cls.LATEST if GEN_AI_LATEST in values else cls.DEFAULT


# -- GenAI (semantic-conventions v1.40.0) ------------------------------------------------------

OPERATION_NAME: Final = "gen_ai.operation.name"
PROVIDER_NAME: Final = "gen_ai.provider.name"
SYSTEM_DEPRECATED: Final = "gen_ai.system"  # before v1.37.0; DEFAULT mode only
AGENT_ID: Final = "gen_ai.agent.id"
AGENT_NAME: Final = "gen_ai.agent.name"
CONVERSATION_ID: Final = "gen_ai.conversation.id"
REQUEST_MODEL: Final = "gen_ai.request.model"
RESPONSE_MODEL: Final = "gen_ai.response.model"
RESPONSE_FINISH_REASONS: Final = "gen_ai.response.finish_reasons"
USAGE_INPUT_TOKENS: Final = "gen_ai.usage.input_tokens"
USAGE_OUTPUT_TOKENS: Final = "gen_ai.usage.output_tokens"
USAGE_CACHE_READ_INPUT_TOKENS: Final = "gen_ai.usage.cache_read.input_tokens"
USAGE_CACHE_CREATION_INPUT_TOKENS: Final = "gen_ai.usage.cache_creation.input_tokens"
TOOL_NAME: Final = "gen_ai.tool.name"
TOOL_CALL_ID: Final = "gen_ai.tool.call.id"
TOOL_TYPE: Final = "gen_ai.tool.type"
TOOL_CALL_ARGUMENTS: Final = "gen_ai.tool.call.arguments"
TOOL_CALL_RESULT: Final = "gen_ai.tool.call.result"
ERROR_TYPE: Final = "error.type"
ERROR_OTHER: Final = "_OTHER"

OP_INVOKE_AGENT: Final = "invoke_agent"
OP_CHAT: Final = "chat"
OP_EXECUTE_TOOL: Final = "execute_tool"

# -- Soma's own (no convention covers these) ---------------------------------------------------

SOMA_AGENT_ID: Final = "soma.agent.id"
SOMA_SESSION_ID: Final = "soma.session.id"
SOMA_RUN_ID: Final = "soma.run.id"
SOMA_RUN_STATE: Final = "soma.run.state"
SOMA_STEP_ID: Final = "soma.step.id"
SOMA_TASK_ID: Final = "soma.task.id"
SOMA_TASK_STATE: Final = "soma.task.state"
SOMA_TASK_PARENT: Final = "soma.task.parent_id"
SOMA_COST_USD: Final = "soma.cost_usd"
SOMA_PRESSURE: Final = "soma.pressure"
SOMA_EFFECTIVE_PRESSURE: Final = "soma.pressure.effective"
SOMA_MODE: Final = "soma.mode"
SOMA_SIGNAL_PREFIX: Final = "soma.signal."  # + "<name>.pressure"
SOMA_CAUSE_SEQ: Final = "soma.cause_seq"
SOMA_GUIDANCE_PATTERN: Final = "soma.guidance.pattern"
SOMA_GUIDANCE_MESSAGE: Final = "soma.guidance.message"
SOMA_GUIDANCE_PATTERNS: Final = "soma.guidance.patterns"  # delivered with a model call
SOMA_FIRING_ID: Final = "soma.firing_id"
SOMA_AB_ARM: Final = "soma.ab.arm"
SOMA_BLOCKED: Final = "soma.blocked"
SOMA_INCOMPLETE: Final = "soma.incomplete"
SOMA_SEQ: Final = "soma.seq"
