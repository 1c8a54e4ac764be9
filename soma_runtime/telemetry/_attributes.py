"""Attribute values from event payloads: the GenAI ones, content, and error types.

Payloads are JSON data recorded by other layers (the actor layer's ``llm.*`` and ``actor.*``
events among them); everything here reads them defensively — a field of the wrong type is
left out, never a reason to fail an export.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from ..store import redact
from . import semconv as sc
from .semconv import SemconvMode
from .spans import Attributes, AttrValue


def text(payload: Mapping[str, Any], name: str) -> str | None:
    value = payload.get(name)
    return value if isinstance(value, str) and value else None


def number(payload: Mapping[str, Any], name: str) -> int | float | None:
    value = payload.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value


def put(attributes: Attributes, name: str, value: AttrValue | None) -> None:
    """Set ``name`` unless the value is missing (OpenTelemetry has no null attribute)."""
    if value is not None:
        attributes[name] = value


def provider(attributes: Attributes, name: str | None, mode: SemconvMode) -> None:
    """``gen_ai.provider.name``, and in the default mode the pre-v1.37 ``gen_ai.system``."""
    if name is None:
        return
    attributes[sc.PROVIDER_NAME] = name
    if mode is SemconvMode.DEFAULT:
        attributes[sc.SYSTEM_DEPRECATED] = name


def usage(attributes: Attributes, payload: Mapping[str, Any]) -> None:
    """Token counts of an ``llm.*`` payload (``usage``) or a task's totals."""
    raw = payload.get("usage")
    counts = raw if isinstance(raw, Mapping) else {}
    for field, name in (
        ("input_tokens", sc.USAGE_INPUT_TOKENS),
        ("output_tokens", sc.USAGE_OUTPUT_TOKENS),
        ("cache_read_tokens", sc.USAGE_CACHE_READ_INPUT_TOKENS),
        ("cache_write_tokens", sc.USAGE_CACHE_CREATION_INPUT_TOKENS),
    ):
        value = counts.get(field)
        if isinstance(value, int) and not isinstance(value, bool):
            attributes[name] = value
    cost = number(payload, "cost_usd")
    if cost is None:
        cost = number(counts, "cost_usd")
    put(attributes, sc.SOMA_COST_USD, None if cost is None else float(cost))


def content(value: Any, limit: int) -> str:
    """Opted-in content as JSON text: redacted (again — the log already holds it redacted,
    and the redaction rules may have grown since it was written) and cut at ``limit``."""
    cleaned = redact(value)
    rendered = cleaned if isinstance(cleaned, str) else json.dumps(cleaned, ensure_ascii=False, default=str)
    if len(rendered) > limit:
        return f"{rendered[:limit]}… [truncated {len(rendered) - limit} chars]"
    return rendered


_TYPE_NAME = re.compile(r"(?:^|[\s(])([A-Z][A-Za-z0-9_]*): ")


def error_type(error: str | None) -> str:
    """A low-cardinality ``error.type`` from Soma's error text: the exception type name in
    ``TypeName: message`` (``kernel.reasons.describe``; a run's error wraps its step's, as in
    ``step 's2' (fail): ToolFailed: failed``), a timeout as ``timeout``, anything else
    ``_OTHER`` (the convention's fallback)."""
    if not error:
        return sc.ERROR_OTHER
    found = _TYPE_NAME.search(error)
    if found is not None:
        return found.group(1)
    lowered = error.lower()
    if lowered.startswith("timed out") or "timed out after" in lowered:
        return "timeout"
    return sc.ERROR_OTHER


def cancelled(error: str | None) -> bool:
    """Whether an outcome's error text says the work was cancelled (not an error: someone
    asked for it, or the runtime shut down)."""
    return bool(error) and str(error).lower().startswith(("cancelled", "its session exited"))


def signal_pressures(payload: Mapping[str, Any]) -> Attributes:
    """``soma.signal.<name>.pressure`` for each signal of a ``vitals.updated`` payload."""
    raw = payload.get("signal_pressures")
    found: Attributes = {}
    if isinstance(raw, Mapping):
        for name, value in raw.items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                found[f"{sc.SOMA_SIGNAL_PREFIX}{name}.pressure"] = float(value)
    return found
