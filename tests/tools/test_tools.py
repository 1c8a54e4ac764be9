"""What a tool is: the argument model from the signature, validation before the tool runs,
the decorator's options and their errors, context injection, outputs and failures, and
CommandTool's definition rules. (How invocations are stopped: test_isolation.py.)"""

from __future__ import annotations

import dataclasses
import logging
import threading
from pathlib import Path
from typing import Annotated, Any

import pydantic
import pytest
from pydantic import Field

from soma_runtime.tools.errors import (
    ToolArgumentsError,
    ToolDefinitionError,
    ToolFailed,
    ToolOutputNotSerializable,
    UnknownTool,
)
from soma_runtime.tools.spec import (
    CommandTool,
    Effect,
    Isolation,
    ToolContext,
    ToolSpec,
    build_args_model,
    tool,
)

pytestmark = pytest.mark.anyio


def ctx_for(spec: ToolSpec, **ids: Any) -> ToolContext:
    return ToolContext(spec.name, "tc-1", **ids)


async def call(spec: ToolSpec, **args: Any) -> Any:
    return await spec.invoke(spec.validate_args(args), ctx_for(spec))


# --------------------------------------------------------------------------- argument model


def test_the_argument_model_comes_from_the_signature() -> None:
    @tool
    async def search(query: str, limit: int = 5, tags: list[str] | None = None, raw=None) -> list[str]:  # type: ignore[no-untyped-def]
        return []

    fields = search.args_model.model_fields
    assert list(fields) == ["query", "limit", "tags", "raw"]
    assert fields["query"].is_required() and fields["query"].annotation is str
    assert fields["limit"].default == 5
    assert fields["raw"].annotation is Any  # unannotated means Any
    args = search.validate_args({"query": "otp", "tags": ["a"]})
    assert args.model_dump() == {"query": "otp", "limit": 5, "tags": ["a"], "raw": None}
    # The model doubles as the tool's input schema for a model provider.
    schema = search.args_model.model_json_schema()
    assert schema["required"] == ["query"]
    assert schema["properties"]["limit"]["default"] == 5


def test_a_tool_context_parameter_is_injected_not_part_of_the_model() -> None:
    @tool
    async def reads(path: str, ctx: ToolContext) -> str:
        return ""

    assert list(reads.args_model.model_fields) == ["path"]
    with pytest.raises(ToolArgumentsError, match="ctx: unexpected argument"):
        reads.validate_args({"path": "a", "ctx": {}})


def test_annotated_constraints_from_the_signature_are_enforced() -> None:
    @tool
    async def page(n: Annotated[int, Field(ge=1, le=10)]) -> int:
        return n

    assert page.validate_args({"n": "3"}).model_dump() == {"n": 3}  # lax: an LLM's "3" is 3
    with pytest.raises(ToolArgumentsError, match="n: Input should be less than or equal to 10"):
        page.validate_args({"n": 11})


async def test_parameters_named_like_model_attributes_still_work() -> None:
    @tool
    async def odd(json: str, _private: int = 1, model_name: str = "m", schema: str = "s") -> list[Any]:
        return [json, _private, model_name, schema]

    args = odd.validate_args({"json": "j", "_private": 2})
    assert args.model_dump() == {"json": "j", "_private": 2, "model_name": "m", "schema": "s"}
    assert await odd.invoke(args, ctx_for(odd)) == ["j", 2, "m", "s"]


def test_invalid_arguments_name_every_bad_field() -> None:
    @tool
    async def search(query: str, limit: int = 5) -> None: ...

    with pytest.raises(ToolArgumentsError) as info:
        search.validate_args({"limit": "many", "extra": 1})
    error = info.value
    assert error.tool == "search"
    assert error.fields == ("query", "limit", "extra")
    message = str(error)
    assert message.startswith("invalid arguments for tool 'search': ")
    assert "query: missing required argument" in message
    assert "limit: Input should be a valid integer" in message
    assert "extra: unexpected argument" in message
    assert "many" not in message  # input values stay out of messages (and events)
    with pytest.raises(ToolArgumentsError, match=r"\(arguments\): must be a mapping, got list"):
        search.validate_args(["otp"])  # type: ignore[arg-type]


async def test_invalid_arguments_never_reach_the_tool() -> None:
    calls: list[int] = []

    @tool
    async def count(n: int) -> int:
        calls.append(n)
        return n

    with pytest.raises(ToolArgumentsError):
        await count.invoke(count.validate_args({"n": "x"}), ctx_for(count))
    # invoke only takes the tool's own validated model, never raw data or another model.
    other = build_args_model("other", lambda n: n)(n=1)
    for unvalidated in ({"n": 1}, other):
        with pytest.raises(ToolArgumentsError, match="expected CountArgs from validate_args"):
            await count.invoke(unvalidated, ctx_for(count))  # type: ignore[arg-type]
    assert calls == []


# --------------------------------------------------------------------------- the decorator


def test_bare_and_configured_decorators_and_their_defaults() -> None:
    @tool
    async def fetch(url: str) -> str:
        """Fetch a page."""
        return url

    @tool()
    def compute(x: int) -> int:
        return x

    heavy = tool(name="custom-name", timeout=2, effect="read", idempotent=True, isolation=Isolation.PROCESS)(
        module_level
    )
    assert (fetch.name, fetch.isolation, fetch.effect, fetch.timeout) == ("fetch", "task", "state", None)
    assert fetch.description == "Fetch a page."
    assert not fetch.idempotent and not fetch.destructive
    assert compute.isolation is Isolation.THREAD  # sync functions default to a thread
    assert (heavy.name, heavy.timeout, heavy.effect, heavy.isolation) == (
        "custom-name",
        2.0,
        Effect.READ,
        "process",
    )
    assert heavy.idempotent
    assert compute(3) == 3  # a decorated function stays callable as itself


async def noop() -> None: ...


def module_level(x: int) -> int:
    return x


def nested_process_tool() -> ToolSpec:
    def inner() -> None: ...

    return tool(isolation="process")(inner)


@pytest.mark.parametrize(
    ("make", "parameter", "problem"),
    [
        (lambda: tool(name="has space")(noop), "name", "letters, digits"),
        (lambda: tool(name="")(noop), "name", "1-64 characters"),
        (lambda: tool(timeout=0)(noop), "timeout", "must be positive"),
        (lambda: tool(timeout=-1.0)(noop), "timeout", "must be positive"),
        (lambda: tool(timeout=float("nan"))(noop), "timeout", "number of seconds"),
        (lambda: tool(timeout=True)(noop), "timeout", "number of seconds"),
        (lambda: tool(timeout="5")(noop), "timeout", "number of seconds"),
        (lambda: tool(effect="delete")(noop), "effect", "one of 'pure', 'read', 'state'"),
        (lambda: tool(effect=None)(noop), "effect", "got None"),
        (lambda: tool(isolation="vm")(noop), "isolation", "one of 'task', 'thread'"),
        (lambda: tool(isolation="command")(noop), "isolation", "use CommandTool"),
        (lambda: tool(isolation="thread")(noop), "isolation", "needs a sync function"),
        (lambda: tool(name="anon", isolation="process")(lambda: None), "isolation", "module-level function"),
        (nested_process_tool, "isolation", "module-level function"),
        (lambda: tool(idempotent="yes")(noop), "idempotent", "must be a bool"),
        (lambda: tool(destructive=1)(noop), "destructive", "must be a bool"),
        (lambda: tool(effect="pure", destructive=True)(noop), "destructive", "changes nothing"),
        (lambda: tool(kill_grace=-1)(noop), "kill_grace", ">= 0"),
        (lambda: tool(description=3)(noop), "description", "must be a str"),
        (lambda: tool("search"), "fn", "@tool(name=...)"),
        (lambda: tool(tool(noop)), "fn", "applied twice"),
    ],
)
def test_bad_decorator_options_are_typed_errors_naming_the_option(
    make: Any, parameter: str, problem: str
) -> None:
    with pytest.raises(ToolDefinitionError) as info:
        make()
    assert info.value.parameter == parameter
    assert problem in str(info.value)
    assert parameter in str(info.value)


class Opaque:
    """Not a type pydantic can validate."""


async def star_args(*items: int) -> None: ...


async def star_kwargs(**options: int) -> None: ...


async def positional_only(x: int, /) -> None: ...


async def two_contexts(a: ToolContext, b: ToolContext) -> None: ...


async def opaque_param(thing: Opaque) -> None: ...


@pytest.mark.parametrize(
    ("fn", "parameter", "problem"),
    [
        (star_args, "parameter 'items'", "*args/**kwargs"),
        (star_kwargs, "parameter 'options'", "*args/**kwargs"),
        (positional_only, "parameter 'x'", "positional-only"),
        (two_contexts, "parameter 'b'", "a second ToolContext"),
        (opaque_param, "parameter 'thing'", "Opaque"),
    ],
)
def test_signatures_that_cannot_be_a_model_name_the_parameter(fn: Any, parameter: str, problem: str) -> None:
    with pytest.raises(ToolDefinitionError) as info:
        tool(fn)
    assert info.value.parameter == parameter
    assert problem in str(info.value)


def test_a_spec_can_be_built_directly_and_is_validated_the_same_way() -> None:
    class Args(pydantic.BaseModel):
        x: int

    def double(x: int) -> int:
        return 2 * x

    spec = ToolSpec("double", double, Args, effect="read", isolation="thread")  # type: ignore[arg-type]
    assert (spec.effect, spec.isolation) == (Effect.READ, Isolation.THREAD)
    with pytest.raises(ToolDefinitionError, match="args_model"):
        ToolSpec("double", double, dict)  # type: ignore[arg-type]
    with pytest.raises(ToolDefinitionError, match="only for CommandTool"):
        ToolSpec("double", double, Args, isolation=Isolation.COMMAND)
    with pytest.raises(ToolDefinitionError, match="must be callable"):
        ToolSpec("double", None, Args)
    # A hand-made model must fit the function, or every call would be a TypeError.
    with pytest.raises(ToolDefinitionError, match="field 'x' is not a parameter of fn"):
        ToolSpec("double", lambda y: y, Args)
    with pytest.raises(ToolDefinitionError, match="required parameter 'y' has no field"):
        ToolSpec("double", lambda x, y: x, Args)
    assert ToolSpec("double", lambda **kw: kw, Args).validate_args({"x": 1}).model_dump() == {"x": 1}
    # replace() re-validates too.
    with pytest.raises(ToolDefinitionError, match="timeout"):
        dataclasses.replace(spec, timeout=-1)


# --------------------------------------------------------------------------- context


async def test_tools_get_the_read_only_context_with_a_logger_bound_to_the_ids() -> None:
    seen: list[ToolContext] = []

    @tool
    async def in_task(ctx: ToolContext) -> None:
        seen.append(ctx)

    @tool
    def in_thread(ctx: ToolContext) -> str:
        seen.append(ctx)
        return threading.current_thread().name

    ctx = ctx_for(in_task, run_id="run-1", session_id="sess-1", step_id="s1", agent_id="a1", deadline=12.5)
    await in_task.invoke(in_task.validate_args({}), ctx)
    thread_name = await in_thread.invoke(in_thread.validate_args({}), ctx)
    assert seen == [ctx, ctx] and seen[0] is ctx
    assert thread_name != threading.current_thread().name
    with pytest.raises(dataclasses.FrozenInstanceError):
        ctx.run_id = "run-2"  # type: ignore[misc]
    assert ctx.log.extra == {
        "tool": "in_task",
        "tool_call_id": "tc-1",
        "run_id": "run-1",
        "session_id": "sess-1",
        "step_id": "s1",
        "agent_id": "a1",
    }
    assert ctx.log.logger.name == "soma.tools"
    custom = logging.LoggerAdapter(logging.getLogger("mine"), {"k": "v"})
    assert ToolContext("t", "tc-2", log=custom).log is custom


def test_a_tool_context_defaults_to_the_current_directory_and_survives_replace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    ctx = ToolContext("t", "tc-1", run_id="run-1")
    assert (ctx.root, ctx.deadline, ctx.step_id) == (tmp_path, None, None)
    moved = dataclasses.replace(ctx, step_id="s2", log=None)
    assert (moved.run_id, moved.step_id, moved.root) == ("run-1", "s2", tmp_path)
    assert moved.log.extra["step_id"] == "s2"  # a fresh adapter, bound to the new ids
    assert moved != ctx and dataclasses.replace(moved, step_id=None) == ctx  # log is not compared
    assert [f.name for f in dataclasses.fields(ToolContext)][-2:] == ["root", "log"]


def test_validate_args_goes_through_a_models_own_model_validate() -> None:
    calls: list[Any] = []

    class Args(pydantic.BaseModel):
        model_config = pydantic.ConfigDict(extra="forbid")
        n: int

        @classmethod
        def model_validate(cls, obj: Any, **kwargs: Any) -> Any:
            calls.append(obj)
            return super().model_validate({**obj, "n": obj["n"] * 2}, **kwargs)

    def double(n: int) -> int:
        return n

    spec = ToolSpec("double", double, Args)
    raw = {"n": 2}
    assert spec.validate_args(raw).n == 4  # type: ignore[attr-defined]
    assert calls == [raw] and raw == {"n": 2}
    with pytest.raises(ToolArgumentsError, match="must be a mapping"):
        spec.validate_args([("n", 2)])  # type: ignore[arg-type]


# --------------------------------------------------------------------------- outputs and failures


async def test_outputs_are_converted_to_plain_json_data() -> None:
    class Hit(pydantic.BaseModel):
        title: str

    @dataclasses.dataclass
    class Point:
        x: int

    @tool
    async def shapes() -> Any:
        return {"hit": Hit(title="t"), "point": Point(1), "pair": (1, 2), 3: {"a"}}

    assert await call(shapes) == {"hit": {"title": "t"}, "point": {"x": 1}, "pair": [1, 2], "3": ["a"]}


async def test_an_output_that_is_not_json_fails_clearly() -> None:
    @tool
    async def handle() -> Any:
        return threading.Lock()

    with pytest.raises(ToolOutputNotSerializable, match="tool 'handle' returned a value that is not JSON"):
        await call(handle)


async def test_a_raising_tool_fails_with_the_exception_type_and_message() -> None:
    @tool
    async def broken(key: str) -> None:
        raise KeyError(key)

    @tool
    def broken_sync() -> None:
        raise RuntimeError("disk on fire")

    with pytest.raises(ToolFailed) as info:
        await call(broken, key="k")
    assert str(info.value) == "tool 'broken' failed: KeyError: 'k'"
    assert info.value.error_type == "KeyError"
    assert isinstance(info.value.__cause__, KeyError)
    with pytest.raises(ToolFailed, match="tool 'broken_sync' failed: RuntimeError: disk on fire"):
        await call(broken_sync)


async def test_a_typed_tool_error_raised_by_a_tool_passes_through_unchanged() -> None:
    refusal = ToolFailed("picky", "will not")

    @tool
    async def picky() -> None:
        raise refusal

    with pytest.raises(ToolFailed) as info:
        await call(picky)
    assert info.value is refusal


def test_unknown_tool_suggests_a_close_name() -> None:
    assert (
        str(UnknownTool("file_raed", ["echo", "file_read"]))
        == "unknown tool 'file_raed' (did you mean 'file_read'?)"
    )
    assert str(UnknownTool("zzz", ["echo", "sleep"])) == "unknown tool 'zzz' (known tools: echo, sleep)"


# --------------------------------------------------------------------------- CommandTool definition


def test_command_placeholders_become_string_arguments() -> None:
    grep = CommandTool("grep", ["grep", "-n", "--", "{pattern}", "{path}", "--label={path}"], effect="read")
    assert list(grep.args_model.model_fields) == ["pattern", "path"]
    assert grep.isolation is Isolation.COMMAND and grep.fn is None
    assert grep.description == "Runs: grep -n -- '{pattern}' '{path}' '--label={path}'"
    assert grep.validate_args({"pattern": 5, "path": "f"}).model_dump() == {"pattern": "5", "path": "f"}
    with pytest.raises(ToolArgumentsError, match="pattern: Value error, must not contain a NUL byte"):
        grep.validate_args({"pattern": "a\x00b", "path": "f"})
    with pytest.raises(ToolArgumentsError, match="path: missing required argument"):
        grep.validate_args({"pattern": "a"})


@pytest.mark.parametrize(
    ("kwargs", "parameter", "problem"),
    [
        ({"argv": "grep -n {pattern} {path}"}, "argv", "never runs shell strings"),
        ({"argv": []}, "argv", "non-empty list"),
        ({"argv": ["grep", 3]}, "argv", "element 1 must be a str"),
        ({"argv": ["{program}", "x"]}, "argv", "the program (element 0) must be fixed"),
        ({"argv": ["echo", "{0}"]}, "argv", "must be a plain {name}"),
        ({"argv": ["echo", "{a.b}"]}, "argv", "must be a plain {name}"),
        ({"argv": ["echo", "{a!r}"]}, "argv", "must be a plain {name}"),
        ({"argv": ["echo", "{unclosed"]}, "argv", "element 1"),
        ({"argv": ["echo"], "max_output": 0}, "max_output", "positive int"),
        ({"argv": ["echo"], "env": {"A": 1}}, "env", "str to str"),
        ({"argv": ["echo"], "effect": "pure", "destructive": True}, "destructive", "changes nothing"),
        ({"argv": ["echo"], "timeout": 0}, "timeout", "positive"),
    ],
)
def test_bad_command_definitions_are_typed_errors(
    kwargs: dict[str, Any], parameter: str, problem: str
) -> None:
    with pytest.raises(ToolDefinitionError) as info:
        CommandTool("cmd", **kwargs)
    assert info.value.parameter == parameter
    assert problem in str(info.value)
