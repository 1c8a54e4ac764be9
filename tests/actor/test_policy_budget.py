"""Policy (deny by default) and budget (per task) checks, and their validation."""

from __future__ import annotations

import pytest

from soma_actor import Budget, Policy, TaskUsage


def test_the_default_policy_allows_no_tool_and_no_actor() -> None:
    policy = Policy()
    assert policy.check_tools("a", ["echo"]) == "policy: actor 'a' may not use tool(s) 'echo'"
    assert policy.check_message("a", "b") == "policy: actor 'a' may not message actor 'b'"
    assert not policy.messages_anyone


def test_named_and_wildcard_permissions() -> None:
    policy = Policy(["echo", "file_read"], ["helper"])
    assert policy.check_tools("a", ["echo", "file_read"]) is None
    assert "'file_write'" in (policy.check_tools("a", ["echo", "file_write"]) or "")
    assert policy.check_message("a", "helper") is None and policy.check_message("a", "other") is not None
    everything = Policy.allow_all()
    assert (
        everything.check_tools("a", ["anything"]) is None and everything.check_message("a", "anyone") is None
    )


def test_a_policy_can_cap_steps_per_proposal() -> None:
    policy = Policy(["echo"], max_steps_per_proposal=2)
    assert policy.check_tools("a", ["echo", "echo"]) is None
    assert "max_steps_per_proposal=2" in (policy.check_tools("a", ["echo"] * 3) or "")


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"allowed_tools": "echo"}, TypeError),
        ({"allowed_tools": [""]}, ValueError),
        ({"allowed_actors": [3]}, ValueError),
        ({"max_steps_per_proposal": 0}, ValueError),
    ],
)
def test_bad_policies_are_refused_with_a_clear_error(
    kwargs: dict[str, object], error: type[Exception]
) -> None:
    with pytest.raises(error, match=r"Policy|max_steps"):
        Policy(**kwargs)  # type: ignore[arg-type]


def test_the_budget_stops_model_calls_tokens_cost_and_steps() -> None:
    budget = Budget(max_model_calls=2, max_steps=3, max_tokens=100, max_cost_usd=0.5)
    assert budget.before_model_call(TaskUsage()) is None
    assert "max_model_calls=2" in (budget.before_model_call(TaskUsage(model_calls=2)) or "")
    assert "max_tokens=100" in (budget.before_model_call(TaskUsage(input_tokens=60, output_tokens=40)) or "")
    assert "max_cost_usd=0.5" in (budget.before_model_call(TaskUsage(cost_usd=0.5)) or "")
    assert budget.before_steps(TaskUsage(steps=1), 2) is None
    assert "max_steps=3" in (budget.before_steps(TaskUsage(steps=2), 2) or "")
    unlimited = Budget.unlimited()
    assert unlimited.before_model_call(TaskUsage(model_calls=10**6, cost_usd=1e6)) is None


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_model_calls": 0},
        {"max_steps": -1},
        {"max_tokens": 1.5},
        {"max_cost_usd": 0},
        {"max_cost_usd": True},
    ],
)
def test_bad_budgets_are_refused_with_a_clear_error(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="Budget\\."):
        Budget(**kwargs)  # type: ignore[arg-type]


def test_policy_errors_name_the_field_and_the_bad_value() -> None:
    with pytest.raises(TypeError) as tools_str:
        Policy("echo")
    assert str(tools_str.value) == "Policy.allowed_tools must be a collection of names, not the string 'echo'"
    with pytest.raises(ValueError) as actors_empty:
        Policy([], [""])
    assert str(actors_empty.value) == "Policy.allowed_actors holds ''; names are non-empty strings"
    with pytest.raises(TypeError, match=r"^Policy\.allowed_actors must be a collection"):
        Policy([], "helper")
    with pytest.raises(ValueError, match=r"^Policy\.allowed_tools holds 3;"):
        Policy([3])  # type: ignore[list-item]


@pytest.mark.parametrize("bad", [0, -1, 1.5, 2.0, True, "2"])
def test_max_steps_per_proposal_must_be_a_positive_int(bad: object) -> None:
    with pytest.raises(ValueError) as refused:
        Policy(["echo"], max_steps_per_proposal=bad)  # type: ignore[arg-type]
    assert str(refused.value) == f"max_steps_per_proposal must be a positive int or None, got {bad!r}"


def test_the_smallest_step_cap_is_one_step() -> None:
    policy = Policy(["echo"], max_steps_per_proposal=1)
    assert policy.check_tools("a", ["echo"]) is None
    assert policy.check_tools("a", ["echo", "echo"]) == (
        "policy: 2 steps in one proposal exceeds max_steps_per_proposal=1"
    )


def test_every_denied_tool_is_named_once_in_order() -> None:
    policy = Policy(["echo"])
    assert policy.check_tools("a", ["rm", "echo", "curl", "rm"]) == (
        "policy: actor 'a' may not use tool(s) 'curl', 'rm'"
    )
    assert Policy.allow_all().to_json() == {
        "allowed_tools": ["*"],
        "allowed_actors": ["*"],
        "max_steps_per_proposal": None,
    }
