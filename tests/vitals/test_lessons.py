"""Lessons in the engine: what makes one, what it records, how it comes back, its bounds."""

from __future__ import annotations

import pytest
from _vitals_events import Log

from soma_runtime.vitals import VitalsConfig, VitalsEngine
from soma_runtime.vitals.lessons import similarity, trigrams
from soma_runtime.vitals.updates import GuidanceFiring, LessonRecalled, LessonRecorded


def fixed(log: Log, tool: str, error: str, fails: int = 2, **ids: object) -> None:
    for k in range(fails):
        log.tool(tool, {"target": f"bad{k}"}, failed=True, error=error, **ids)
    log.tool(tool, {"target": "good", "verbose": True}, **ids)


def test_a_success_after_two_failures_of_a_tool_records_what_changed() -> None:
    log = Log()
    log.start_session("build")
    log.tool("build", {"target": "a"}, failed=True, error="one failure only")
    log.tool("build", {"target": "b"})  # one failure: no lesson
    fixed(log, "build", "error: cannot find -lssl")
    log.command("sh", {"command": "make"}, failed=True, error="make: no rule")
    log.command("sh", {"command": "make"}, failed=True, error="make: no rule")
    log.command("sh", {"command": "make all"})
    log.tool("flaky", {"x": 1}, failed=True, error="timeout")
    log.tool("flaky", {"x": 1}, failed=True, error="timeout")
    log.tool("flaky", {"x": 1})  # the very call that failed: a transient failure teaches nothing
    lessons = [u for u in VitalsEngine().observe_many(log.events) if isinstance(u, LessonRecorded)]
    assert [(x.tool, x.failures, x.error) for x in lessons] == [
        ("build", 2, "error: cannot find -lssl"),
        ("sh", 2, "make: no rule"),
    ]
    assert lessons[0].fix == {"changed": {"target": ["bad1", "good"]}, "added": {"verbose": True}}
    assert lessons[1].fix == {"command": "make all", "instead_of": "make"}


def test_a_similar_error_recalls_the_lesson_as_guidance_and_a_different_one_does_not() -> None:
    log = Log()
    log.start_session("build")
    fixed(log, "build", "ld: error: cannot find -lssl (searched /usr/lib)")
    log.tool("build", {"target": "x"}, failed=True, error="ImportError: no module named yaml")
    log.tool(
        "build", {"target": "y"}, failed=True, error="ld: error: cannot find -lcrypto (searched /usr/lib)"
    )
    updates = VitalsEngine(VitalsConfig(ab=["lesson"])).observe_many(log.events)
    [recorded] = [u for u in updates if isinstance(u, LessonRecorded)]
    [recalled] = [u for u in updates if isinstance(u, LessonRecalled)]
    [firing] = [u for u in updates if isinstance(u, GuidanceFiring) and u.pattern == "lesson"]
    assert recalled.lesson_id == recorded.lesson_id and recalled.firing_id == firing.firing_id
    assert recalled.seq == log.events[-1].seq and firing.arm in ("treatment", "control")
    assert recalled.similarity == similarity(
        trigrams(recorded.error), trigrams(log.events[-1].payload["error"])
    )
    assert firing.details["lesson_id"] == recorded.lesson_id and "good" in firing.message
    # A stricter threshold: the same error is not similar enough any more.
    strict = VitalsEngine(VitalsConfig(lesson_similarity=0.95)).observe_many(log.events)
    assert not any(isinstance(u, LessonRecalled) for u in strict)


def test_lessons_are_bounded_per_agent_and_in_all() -> None:
    log = Log()
    for agent in ("a", "b"):
        for k in range(4):
            fixed(log, f"tool{k}", f"error number {k}", agent_id=agent, session_id=agent)
    engine = VitalsEngine(VitalsConfig(max_lessons_per_agent=3, max_lessons=5))
    recorded = [u for u in engine.observe_many(log.events) if isinstance(u, LessonRecorded)]
    assert len(recorded) == 8
    kept = engine.state()["lessons"]
    assert len(kept) == 5
    assert [row[1] for row in kept] == ["a", "a", "b", "b", "b"]  # the oldest went first
    assert [row[2] for row in kept if row[1] == "b"] == ["tool1", "tool2", "tool3"]


def test_the_ab_switch_names_patterns() -> None:
    assert VitalsConfig(ab="*").ab == VitalsConfig(ab=["lesson", *VitalsConfig(ab="*").ab]).ab
    assert VitalsConfig(ab=["lesson", "budget"]).ab == ("budget", "lesson")
    with pytest.raises(ValueError, match="unknown pattern"):
        VitalsConfig(ab=["bash_retyr"])
    with pytest.raises(ValueError, match="ab_block"):
        VitalsConfig(ab_block=3)
    config = VitalsConfig(ab=["lesson"], ab_block=6, lesson_similarity=0.7)
    assert VitalsConfig.from_json(config.to_json()) == config
