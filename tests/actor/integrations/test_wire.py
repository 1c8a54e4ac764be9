"""The events ``soma hook`` and ``wrap`` write without the store are the store's own, byte for
byte: each declared-field table against its pydantic payload model, and generated payloads
through ``_wire`` against ``prepare_event`` (redaction, defaults, field order, float format)."""

from __future__ import annotations

import json
import math
import sqlite3
from pathlib import Path
from typing import Any

import anyio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel
from pydantic_core import to_json

import soma_actor.events  # noqa: F401  (registers the actor.task.* payloads)
from soma_actor.integrations._direct import DirectLedger
from soma_actor.integrations._ledger import Draft
from soma_actor.integrations._wire import DECLARED, REQUIRED, canonical, encode, float_text
from soma_runtime.store._redaction import redact
from soma_runtime.store.events import EventDraft, payload_model, prepare_event
from soma_runtime.store.log import open_event_log
from soma_runtime.vitals import SIGNALS


def _default(field: Any) -> Any:
    if field.is_required():
        return REQUIRED
    if field.default_factory is not None:
        return field.default_factory()
    return field.default


@pytest.mark.parametrize("kind", sorted(DECLARED))
def test_each_table_is_its_models_fields(kind: str) -> None:
    model = payload_model(kind)
    table = DECLARED[kind]
    assert [name for name, _ in table] == list(model.model_fields), kind
    for name, default in table:
        field = model.model_fields[name]
        if isinstance(default, tuple):  # a nested model
            nested = field.default_factory() if field.default_factory is not None else field.default
            assert isinstance(nested, BaseModel)
            assert dict(default) == nested.model_dump(), (kind, name)
        else:
            assert _default(field) == default, (kind, name)


json_leaf = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
)
json_value = st.recursive(
    json_leaf,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
secretish = st.sampled_from(["sk-" + "a" * 24, "Bearer abcdefghijklmnop", "ok", "ghp_" + "x" * 36])
extras = st.dictionaries(
    st.sampled_from(["source", "args", "output", "note", "api_key", "x"]), json_value | secretish
)


def payloads(kind: str) -> st.SearchStrategy[dict[str, Any]]:
    floats = st.floats(allow_nan=False, allow_infinity=False, min_value=0.0, max_value=1.0)
    text = st.text(max_size=40) | secretish
    values: dict[str, st.SearchStrategy[Any]] = {
        "tool": text,
        "error": text,
        "reason": text,
        "message": text,
        "channel": text,
        "src": st.text(min_size=1, max_size=10),
        "dst": st.text(min_size=1, max_size=10),
        "mode": st.sampled_from(["observe", "guide", "warn", "block"]),
        "pressure": floats | st.integers(0, 1),
        "trust": floats | st.integers(0, 1),
        "firing_ids": st.lists(st.text(max_size=10), min_size=1, max_size=3),
        "upto_seq": st.integers(1, 10**6),
        # Signal names (a key that reads like a secret, "Password", would be redacted to text).
        "signals": st.dictionaries(st.sampled_from(SIGNALS), floats | st.integers(0, 5), max_size=3),
        "usage": st.fixed_dictionaries(
            {"input_tokens": st.integers(0, 10**6), "output_tokens": st.integers(0, 10**6)}
        ),
        "cost_usd": st.floats(min_value=0, max_value=10) | st.integers(0, 3),
        "args": st.dictionaries(st.text(max_size=8), json_value, max_size=3),
        "firing_id": st.text(min_size=1, max_size=10),
        "lesson_id": st.text(min_size=1, max_size=10),
        "pattern": text,
        "arm": st.sampled_from([None, "treatment", "control"]),
        "horizon": st.sampled_from([1, 5, 10]),
        "censored": st.booleans(),
        "pressure_at_firing": floats | st.integers(0, 1),
        "pressure_change": st.floats(min_value=-1.0, max_value=1.0) | st.integers(-1, 1),
        "recovered": st.none() | st.booleans(),
        "similarity": floats | st.integers(0, 1),
        "fix": st.dictionaries(st.text(max_size=8), json_value, max_size=3),
    }
    if kind == "guidance.outcome":  # its ``error`` says whether the action failed
        values["error"] = st.none() | st.booleans()
    required = {name for name, default in DECLARED[kind] if default is REQUIRED}
    optional = {name for name, default in DECLARED[kind] if default is not REQUIRED and name in values}
    names = {name for name, _ in DECLARED[kind]}
    undeclared = extras.map(lambda more: {k: v for k, v in more.items() if k not in names})
    return st.fixed_dictionaries(
        {name: values[name] for name in required}, optional={name: values[name] for name in optional}
    ).flatmap(lambda declared: undeclared.map(lambda more: {**more, **declared}))


@pytest.mark.parametrize("kind", sorted(DECLARED))
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_a_payload_encodes_as_the_store_encodes_it(kind: str, data: st.DataObject) -> None:
    payload = data.draw(payloads(kind))
    store = prepare_event(kind, payload).payload_json
    assert encode(canonical(kind, redact(payload))) == store


@settings(max_examples=3000, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_floats_as_pydantic_core_writes_them(value: float) -> None:
    assert float_text(value) == to_json(value).decode()


def test_floats_at_the_edges_of_pydantic_cores_format() -> None:
    for value in (1e-5, 2.5e-5, 9.99e-5, 1e-4, 1e-6, 1e16, 1e15, 5e-324, -0.0, 1.7976931348623157e308):
        assert float_text(value) == to_json(value).decode()
        assert float_text(-value) == to_json(-value).decode()
    assert math.isfinite(float(float_text(2.5e-5)))


def test_rows_written_directly_are_the_rows_the_store_writes(tmp_path: Path) -> None:
    drafts = [
        (
            "session.started",
            {"intent": "ship it", "metadata": {"claude_code": {"cwd": "/é"}}, "source": "hook"},
        ),
        (
            "tool.started",
            {"tool": "Bash", "args": {"command": "export KEY=sk-" + "b" * 30}, "isolation": None},
        ),
        ("tool.failed", {"tool": "Bash", "error": "exit 1\n\u2028", "args": {"n": 1e-5}}),
        ("llm.succeeded", {"model": "m", "usage": {"input_tokens": 3}, "cost_usd": 2, "text": "ok"}),
        ("guidance.delivered", {"firing_ids": ["gf-1"], "channel": "hook:PreToolUse", "upto_seq": 3}),
    ]
    direct_db = tmp_path / "direct.db"
    store_db = tmp_path / "store.db"
    ids = {"agent_id": "claude-s", "session_id": "s", "tool_call_id": "toolu_1", "task_id": "task-1"}
    with DirectLedger(str(direct_db)).transaction() as step:  # the rows alone, without vitals
        step.append([Draft(k, dict(p), **ids) for k, p in drafts])

    async def through_the_store() -> None:
        async with open_event_log(store_db) as log:
            await log.append_many([EventDraft(k, p, **ids) for k, p in drafts])

    anyio.run(through_the_store)

    def rows(db: Path) -> list[tuple[Any, ...]]:
        with sqlite3.connect(db) as conn:
            query = "SELECT seq, type, session_id, run_id, step_id, tool_call_id, agent_id, task_id, "
            return conn.execute(
                query + "correlation_id, payload, typeof(ts) FROM events ORDER BY seq"
            ).fetchall()

    assert rows(direct_db) == rows(store_db)
    assert "b" * 30 not in json.dumps(rows(direct_db)), "redacted like the store redacts"
