"""The envelope, the typed payloads and the registry (no store involved)."""

from __future__ import annotations

import json
import pickle
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict, ValidationError

from soma_runtime.store import _batch
from soma_runtime.store import events as events_module
from soma_runtime.store._batch import prepare_batch, prepare_trusted
from soma_runtime.store.errors import (
    EventTypeConflict,
    InvalidEvent,
    PayloadTooLarge,
    UnknownEventType,
)
from soma_runtime.store.events import (
    ID_FIELDS,
    Event,
    EventDraft,
    PreparedEvent,
    event_types,
    payload_model,
    prepare_event,
    prepare_values,
    register_event_type,
)
from soma_runtime.store.payloads import LlmSucceeded, Payload, ToolStarted


@pytest.fixture(autouse=True)
def _registrations_end_with_the_test() -> Iterator[None]:
    """Event types a test registers do not outlive it: the registry is process-wide, and a
    test run twice in one process (as ``make mutate`` does) would meet its own leftovers."""
    tables = (events_module._EXACT, events_module._FAMILIES)
    saved = [dict(table) for table in tables]
    yield
    for table, before in zip(tables, saved, strict=True):
        table.clear()
        table.update(before)


def committed(prepared: PreparedEvent, seq: int) -> Event:
    """What the store does after a commit: stamp the seq, then build the envelope."""
    prepared.seq = seq
    return prepared.event()


CORE_TYPES = [
    "session.started",
    "session.stopped",
    "run.accepted",
    "run.started",
    "run.resumed",
    "run.completed",
    "run.failed",
    "run.timeout",
    "run.cancelled",
    "step.started",
    "step.succeeded",
    "step.failed",
    "tool.started",
    "tool.succeeded",
    "tool.failed",
    "tool.blocked",
    "llm.started",
    "llm.succeeded",
    "llm.failed",
    "llm.timeout",
    "llm.cancelled",
    "vitals.updated",
    "guidance.fired",
    "supervisor.child_restarted",
    "supervisor.shutdown",
]


@pytest.mark.parametrize("name", CORE_TYPES)
def test_every_core_type_is_registered(name: str) -> None:
    assert issubclass(payload_model(name), BaseModel)


def test_actor_and_proposal_are_open_families() -> None:
    assert "actor.*" in event_types() and "proposal.*" in event_types()
    for name in ("actor.task_started", "actor.custom.note", "proposal.drafted"):
        prepared = prepare_event(name, {"anything": [1, 2]}, {"task_id": "t-1"})
        assert prepared.payload == {"anything": [1, 2]}


def test_prepare_fills_defaults_and_keeps_extra_fields() -> None:
    prepared = prepare_event("tool.started", {"tool": "echo", "extra": {"k": 1}}, {"run_id": "r"})
    assert prepared.payload == {"tool": "echo", "args": {}, "isolation": None, "extra": {"k": 1}}
    assert prepared.ids == tuple("r" if f == "run_id" else None for f in ID_FIELDS)
    event = committed(prepared, 7)
    assert event.seq == 7 and event.run_id == "r" and event.type == "tool.started"
    assert event.event_id == prepared.event_id and event.ts == prepared.ts


def test_fast_envelope_equals_validated_envelope() -> None:
    prepared = prepare_event("run.failed", {"error": "boom"}, {"run_id": "r", "agent_id": "a"})
    fast = committed(prepared, 3)
    slow = Event.model_validate(  # every field present, as when read back from the database
        {
            "seq": 3,
            "event_id": prepared.event_id,
            "ts": prepared.ts,
            "type": "run.failed",
            **dict.fromkeys(ID_FIELDS),
            "run_id": "r",
            "agent_id": "a",
            "source": "runtime",
            "payload": {"error": "boom"},
        }
    )
    assert fast == slow and repr(fast) == repr(slow)
    assert fast.model_dump() == slow.model_dump()
    assert fast.to_json() == slow.to_json()
    assert fast.model_fields_set == slow.model_fields_set
    assert fast.model_copy(update={"seq": 4}).seq == 4
    fast.model_copy(update={"extra_field": 1})  # the copy's fields-set grows, never the shared one
    assert fast.model_fields_set == slow.model_fields_set
    assert pickle.loads(pickle.dumps(fast)) == slow
    assert Event.model_validate_json(fast.to_json()) == fast
    assert prepared.event() is fast  # built once, shared by the appender and subscribers


def test_event_is_frozen() -> None:
    event = committed(prepare_event("run.cancelled", None), 1)
    with pytest.raises(ValidationError):
        event.seq = 2  # type: ignore[misc]


def test_unknown_type_is_rejected_by_name() -> None:
    with pytest.raises(UnknownEventType) as info:
        prepare_event("run.exploded", {})
    assert info.value.event_type == "run.exploded"
    assert "run.exploded" in str(info.value) and "unknown event type" in str(info.value)


def test_payload_mismatch_names_type_and_field() -> None:
    with pytest.raises(InvalidEvent) as info:
        prepare_event("tool.started", {"tool": 42})
    message = str(info.value)
    assert "tool.started" in message and "ToolStarted" in message and "tool" in message
    with pytest.raises(InvalidEvent, match=r"run\.failed.*error: Field required"):
        prepare_event("run.failed", {})
    with pytest.raises(InvalidEvent, match=r"vitals\.updated.*pressure"):
        prepare_event("vitals.updated", {"pressure": 1.5, "mode": "BLOCK"})


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"type": 5, "payload": {}}, "type must be a str"),
        ({"type": "run.cancelled", "payload": [1, 2]}, "payload must be a mapping"),
        ({"type": "run.cancelled", "payload": {"reason": object()}}, "reason"),
        ({"type": "actor.x", "payload": {"blob": object()}}, "not JSON-serializable"),
    ],
)
def test_wrong_types_are_invalid_events(kwargs: dict[str, Any], needle: str) -> None:
    with pytest.raises(InvalidEvent, match=needle):
        prepare_event(kwargs["type"], kwargs["payload"])


def test_ids_are_checked() -> None:
    with pytest.raises(InvalidEvent, match="run_id must be a str or None, got int"):
        prepare_event("run.cancelled", {}, {"run_id": 12})
    with pytest.raises(InvalidEvent, match=r"unknown id field\(s\) \['runid'\]"):
        prepare_event("run.cancelled", {}, {"runid": "r"})
    with pytest.raises(InvalidEvent, match="event_id must be a non-empty str"):
        prepare_event("run.cancelled", {}, event_id="")
    # SQLite would cut an id at a NUL: refused, rather than acknowledged and read back cut.
    with pytest.raises(InvalidEvent, match="task_id must not contain NUL characters"):
        prepare_event("run.cancelled", {}, {"task_id": "a\x00b"})
    with pytest.raises(InvalidEvent, match="event_id must be a non-empty str without NUL"):
        prepare_event("run.cancelled", {}, event_id="ev-\x00")
    assert prepare_event("run.cancelled", {"reason": "a\x00b"}).payload == {"reason": "a\x00b"}
    with pytest.raises(InvalidEvent, match="ts must be an int"):
        prepare_event("run.cancelled", {}, ts=1.5)  # type: ignore[arg-type]


def test_non_finite_numbers_are_invalid_but_their_names_are_fine() -> None:
    with pytest.raises(InvalidEvent, match=r"signals\.c: Input should be a finite number"):
        prepare_event("vitals.updated", {"pressure": 0.5, "mode": "x", "signals": {"c": float("inf")}})
    with pytest.raises(InvalidEvent, match="cost_usd"):
        prepare_event("llm.succeeded", {"cost_usd": float("nan")})
    assert prepare_event("actor.metric", {"value": float("nan")}).payload == {"value": None}

    class Lenient(Payload):
        model_config = ConfigDict(allow_inf_nan=True)
        x: float

    register_event_type("test.lenient", Lenient)
    with pytest.raises(InvalidEvent, match="NaN or Infinity"):
        prepare_event("test.lenient", {"x": float("inf")})  # would poison its whole batch
    assert prepare_event("actor.note", {"text": "NaN and Infinity are words"}).payload


def test_cyclic_payload_is_an_invalid_event() -> None:
    cyclic: dict[str, Any] = {}
    cyclic["self"] = cyclic
    with pytest.raises(InvalidEvent, match="nested too deeply"):
        prepare_event("actor.loop", cyclic)


def test_payload_cap_counts_utf8_bytes() -> None:
    text = "é" * 600  # 600 characters, 1200 bytes, plus JSON framing
    with pytest.raises(PayloadTooLarge) as info:
        prepare_event("actor.note", {"t": text}, max_payload_bytes=1000)
    assert info.value.size > 1200 and info.value.limit == 1000
    assert "over the cap of 1000 bytes" in str(info.value)
    prepare_event("actor.note", {"t": "e" * 600}, max_payload_bytes=1000)


def test_payload_may_be_a_model_instance() -> None:
    prepared = prepare_event("tool.started", ToolStarted(tool="grep", args={"p": "x"}))
    assert prepared.payload["tool"] == "grep"


def test_llm_payload_carries_usage_and_cost() -> None:
    event = committed(
        prepare_event(
            "llm.succeeded",
            {"model": "m", "usage": {"input_tokens": 10, "output_tokens": 5}, "cost_usd": 0.01},
        ),
        1,
    )
    data = event.data()
    assert isinstance(data, LlmSucceeded)
    assert data.usage.total_tokens == 15 and data.cost_usd == 0.01
    with pytest.raises(InvalidEvent, match="cost_usd"):
        prepare_event("llm.failed", {"error": "x", "cost_usd": -1})
    with pytest.raises(InvalidEvent, match=r"usage\.input_tokens"):
        prepare_event("llm.succeeded", {"usage": {"input_tokens": "many"}})


def test_register_event_type_rules() -> None:
    class Custom(Payload):
        n: int

    register_event_type("test.custom", Custom)
    register_event_type("test.custom", Custom)  # idempotent
    assert prepare_event("test.custom", {"n": 1}).payload == {"n": 1}
    with pytest.raises(InvalidEvent):
        prepare_event("test.custom", {"n": "x"})

    class Other(Payload):
        pass

    with pytest.raises(EventTypeConflict, match=r"test\.custom"):
        register_event_type("test.custom", Other)
    register_event_type("test.custom", Other, replace=True)
    assert payload_model("test.custom") is Other
    with pytest.raises(ValueError, match="dotted lowercase"):
        register_event_type("NoDots", Other)
    with pytest.raises(TypeError):
        register_event_type("test.bad", dict)  # type: ignore[arg-type]


def test_exact_registration_wins_over_family() -> None:
    class Asked(Payload):
        question: str

    register_event_type("proposal.test_asked", Asked)
    with pytest.raises(InvalidEvent):
        prepare_event("proposal.test_asked", {})
    assert prepare_event("proposal.other", {}).payload == {}


def test_draft_and_prepare_values_agree() -> None:
    draft = EventDraft("run.cancelled", {"reason": "user"}, run_id="r", task_id="t")
    a = prepare_values(draft.type, draft.payload, draft.id_values())
    b = prepare_event("run.cancelled", {"reason": "user"}, {"run_id": "r", "task_id": "t"})
    assert a.ids == b.ids and a.payload == b.payload and a.event_id != b.event_id


def test_an_id_that_json_cannot_encode_is_refused() -> None:
    # A lone surrogate has no UTF-8 form: refused with a clear error, not a crash in encoding.
    with pytest.raises(InvalidEvent, match="step_id must be UTF-8 text"):
        prepare_event("run.started", {}, {"step_id": "\ud800"})
    assert prepare_event("run.started", {}, {"step_id": "étape-1"}).ids[2] == "étape-1"


# -- events the runtime builds itself (``prepare_trusted``) -------------------------------------

_STEP_IDS = ("sess-1", "run-1", "s1", "tc-1", "agent", None, None)


def _step(output: Any) -> list[EventDraft]:
    tool = {"tool": "echo", "args": {"value": 1}, "isolation": "task", "effect": "pure", "destructive": False}
    return [
        EventDraft("tool.succeeded", {**tool, "output": output, "duration_ms": 0.5}, *_STEP_IDS),
        EventDraft("step.succeeded", {"output": output}, *_STEP_IDS),
    ]


@pytest.mark.parametrize(
    "output", [None, 1, "plain text", {"nested": [1, 2.5, "x", None, True]}, "x" * 10_000, "é ✓ 中"]
)
def test_a_trusted_event_is_stored_as_the_validated_path_stores_it(output: Any) -> None:
    trusted = prepare_trusted(_step(output))
    checked = [prepare_values(d.type, d.payload, d.id_values()) for d in _step(output)]
    for t, c in zip(trusted, checked, strict=True):
        assert (t.type, t.ids, t.source) == (c.type, c.ids, c.source)
        assert t.payload == c.payload
        assert json.loads(t.row) == [t.event_id, t.ts, *json.loads(c.row)[2:]]


def test_a_trusted_batch_with_a_secret_is_redacted_event_by_event() -> None:
    secret = "sk-proj-" + "A1b2C3d4" * 5
    drafts = [*_step("clean"), *_step({"token": "hunter2-hunter2", "echo": f"key is {secret}"})]
    prepared = prepare_trusted(drafts)
    assert [p.payload["output"] for p in prepared[:2]] == ["clean", "clean"]
    for p in prepared[2:]:
        assert secret not in p.row and "hunter2-hunter2" not in p.row
        assert p.payload["output"]["token"] == "[REDACTED]"


def test_a_trusted_event_over_the_cap_is_refused_with_its_size() -> None:
    with pytest.raises(PayloadTooLarge) as info:
        prepare_trusted(_step("x" * 2000), max_payload_bytes=1000)
    assert info.value.event_type == "tool.succeeded" and info.value.size > 2000


def test_a_trusted_payload_that_is_not_json_takes_the_full_path_and_is_refused() -> None:
    with pytest.raises(InvalidEvent, match="not JSON-serializable"):
        prepare_trusted(_step(object()))


def test_checking_mode_catches_a_builder_that_drifted_from_its_model() -> None:
    drifted = [EventDraft("tool.failed", {"tool": "echo"}, *_STEP_IDS)]  # no "error"
    nested = [EventDraft("step.succeeded", {"output": json.loads("[" * 200 + "]" * 200)}, *_STEP_IDS)]
    bad_id = [EventDraft("step.succeeded", {"output": 1}, "a\x00b")]
    was = _batch._CHECKED[0]
    try:
        _batch.check_trusted(False)
        for drafts in (drifted, nested, bad_id):
            prepare_trusted(drafts)  # trusted: not checked again
        _batch.check_trusted(True)
        with pytest.raises(InvalidEvent, match="does not match ToolFailed"):
            prepare_trusted(drifted)
        with pytest.raises(InvalidEvent, match="nested 201 levels deep"):
            prepare_trusted(nested)
        with pytest.raises(InvalidEvent, match="NUL"):
            prepare_trusted(bad_id)
    finally:
        _batch.check_trusted(was)


# -- a caller's batch (``prepare_batch``) --------------------------------------------------------


class _NoEquality:
    """An id that will not say whether it equals another (as an array would not)."""

    def __eq__(self, other: object) -> bool:
        raise ValueError("ambiguous")

    __hash__ = None  # type: ignore[assignment]


def _nested(depth: int) -> Any:
    return json.loads("[" * depth + "]" * depth)


def _as_stored(prepared: list[PreparedEvent]) -> list[tuple[Any, ...]]:
    return [(p.type, p.ids, p.source, p.payload_json) for p in prepared]


@pytest.mark.parametrize(
    "drafts",
    [
        [EventDraft("tool.started", {"tool": "echo", "args": {"i": i}}, run_id=f"r{i}") for i in range(10)],
        [  # several types, defaults to fill in, a model instance, a payload-less event
            EventDraft("llm.succeeded", {"model": "m", "input_tokens": 3}),
            EventDraft("tool.started", {"tool": "echo"}, agent_id="a"),
            EventDraft("session.started", None, session_id="s"),
            EventDraft("tool.started", ToolStarted(tool="echo", args={"x": 1})),
            EventDraft("step.failed", {"error": "boom", "extra": [1, {"k": None}]}, source="test"),
        ],
        [EventDraft("tool.started", {"tool": "echo", "args": {"password": "hunter2-hunter2"}})] * 5,
    ],
)
def test_a_batch_is_prepared_as_one_event_at_a_time_would_be(drafts: list[EventDraft]) -> None:
    assert _as_stored(prepare_batch(drafts)) == _as_stored(
        [prepare_values(d.type, d.payload, d.id_values(), source=d.source or "runtime") for d in drafts]
    )


@pytest.mark.parametrize(
    ("bad", "needle"),
    [
        (EventDraft("tool.started", {"args": {}}), "tool: Field required"),
        (EventDraft("no.such_type", {}), "no.such_type"),
        (EventDraft("tool.started", {"tool": "x"}, run_id="a\x00b"), "NUL"),
        (EventDraft("tool.started", {"tool": "x"}, run_id=_NoEquality()), "must be a str"),  # type: ignore[arg-type]
        (EventDraft("tool.failed", {"tool": "x", "error": "e", "duration_ms": float("inf")}), "finite"),
        (EventDraft("tool.started", {"tool": "x", "args": {"v": _nested(130)}}), "nested"),
        (EventDraft("tool.started", {"tool": "x" * 2000}), "over the cap"),
    ],
)
def test_a_bad_event_in_a_batch_fails_it_as_it_would_alone(bad: EventDraft, needle: str) -> None:
    good = [EventDraft("tool.started", {"tool": "echo"}) for _ in range(5)]
    with pytest.raises(InvalidEvent) as alone:
        prepare_values(bad.type, bad.payload, bad.id_values(), max_payload_bytes=1000)
    with pytest.raises(InvalidEvent) as batched:
        prepare_batch([*good, bad, *good], max_payload_bytes=1000)
    assert str(batched.value) == str(alone.value) and needle in str(alone.value)
