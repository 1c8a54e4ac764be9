"""Task, correlation and model-call ids (the runtime's id scheme, with the actor's prefixes)."""

from soma_runtime import new_id


def new_task_id() -> str:
    return new_id("task")


def new_correlation_id() -> str:
    return new_id("corr")


def new_call_id() -> str:
    return new_id("llm")
