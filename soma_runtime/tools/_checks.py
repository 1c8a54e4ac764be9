"""Definition-time checks of the tools layer: option validation and argument models.

Everything here runs when a tool is *defined* (``@tool``, ``ToolSpec``, ``CommandTool``) or
when its arguments are validated, and turns each problem into a typed error naming the
option or parameter at fault.
"""

from __future__ import annotations

import enum
import inspect
import math
import re
import string
from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, create_model

from .errors import ArgumentProblem, ToolDefinitionError

_E = TypeVar("_E", bound=enum.StrEnum)

# Unknown arguments are an error (an LLM's typo must not be silently dropped); aliases let a
# parameter be called `json` or `_x` without clashing with BaseModel's own attributes.
ARGS_CONFIG = ConfigDict(
    extra="forbid", serialize_by_alias=True, validate_by_alias=True, validate_by_name=False
)


def model_from_fields(
    tool_name: str, fields: Mapping[str, tuple[Any, Any]], config: ConfigDict
) -> type[BaseModel]:
    """A model with one field per parameter: ``(annotation, default)``, ``...`` = required."""
    definitions: dict[str, Any] = {}
    for index, (param, (annotation, default)) in enumerate(fields.items()):
        if param.startswith("_") or hasattr(BaseModel, param) or param.startswith("model_"):
            definitions[f"arg{index}_{param.strip('_')}"] = (annotation, Field(default, alias=param))
        else:
            definitions[param] = (annotation, default)
    title = "".join(part.capitalize() for part in re.split(r"[_\-]+", tool_name)) + "Args"
    try:
        return create_model(title, __config__=config, **definitions)
    except Exception as exc:
        # Name the parameter whose type pydantic cannot handle, not just the whole model.
        for param, (annotation, _) in fields.items():
            try:
                TypeAdapter(annotation)
            except Exception as param_exc:
                raise ToolDefinitionError(tool_name, f"parameter {param!r}", str(param_exc)) from None
        raise ToolDefinitionError(tool_name, "fn", f"no argument model: {exc}") from None


def argument_problems(exc: ValidationError) -> list[ArgumentProblem]:
    """Pydantic's errors as one problem per field, in words fit for an event."""
    problems = []
    for error in exc.errors(include_url=False, include_input=False):
        where = ".".join(str(part) for part in error["loc"]) or "(arguments)"
        kind = error["type"]
        if kind == "missing":
            message = "missing required argument"
        elif kind == "extra_forbidden":
            message = "unexpected argument"
        else:
            message = error["msg"]
        problems.append(ArgumentProblem(where, message))
    return problems


def no_nul(value: str) -> str:
    # execve cannot pass a NUL byte; refuse it as bad input rather than fail at spawn.
    if "\x00" in value:
        raise ValueError("must not contain a NUL byte")
    return value


CommandArg = Annotated[str, AfterValidator(no_nul)]
# LLMs send 3 for "3": numbers are accepted as their text.
COMMAND_CONFIG: ConfigDict = {**ARGS_CONFIG, "coerce_numbers_to_str": True}


def check_argv(name: str, argv: object) -> tuple[str, ...]:
    if isinstance(argv, str | bytes):
        raise ToolDefinitionError(
            name,
            "argv",
            "must be a list of strings, not a single string: Soma never runs shell strings "
            "(write e.g. ['grep', '-n', '{pattern}', '{path}'])",
        )
    if not isinstance(argv, Sequence) or not argv:
        raise ToolDefinitionError(name, "argv", f"must be a non-empty list of strings, got {argv!r}")
    for index, element in enumerate(argv):
        if not isinstance(element, str):
            raise ToolDefinitionError(name, "argv", f"element {index} must be a str, got {element!r}")
        if "\x00" in element:
            raise ToolDefinitionError(name, "argv", f"element {index} contains a NUL byte")
    return tuple(argv)


def placeholders(name: str, argv: tuple[str, ...]) -> list[str]:
    found: list[str] = []
    for index, element in enumerate(argv):
        try:
            parsed = list(string.Formatter().parse(element))
        except ValueError as exc:
            raise ToolDefinitionError(
                name, "argv", f"element {index} ({element!r}): {exc} (write literal braces as {{{{ }}}})"
            ) from None
        for _literal, field_name, spec, conversion in parsed:
            if field_name is None:
                continue
            if not field_name.isidentifier() or spec or conversion:
                raise ToolDefinitionError(
                    name, "argv", f"element {index}: placeholder {{{field_name}}} must be a plain {{name}}"
                )
            if index == 0:
                raise ToolDefinitionError(
                    name, "argv", "the program (element 0) must be fixed, not chosen by the caller"
                )
            if field_name not in found:
                found.append(field_name)
    return found


# What LLM providers accept as a tool name (Anthropic and OpenAI both use this pattern).
NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


def check_name(name: object) -> str:
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise ToolDefinitionError(
            name if isinstance(name, str) else None,
            "name",
            f"must be 1-64 characters of letters, digits, '_' or '-', got {name!r}",
        )
    return name


def check_timeout(name: str, timeout: object) -> float | None:
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not math.isfinite(timeout):
        raise ToolDefinitionError(name, "timeout", f"must be a number of seconds or None, got {timeout!r}")
    if timeout <= 0:
        raise ToolDefinitionError(name, "timeout", f"must be positive, got {timeout!r}")
    return float(timeout)


def check_grace(name: str, grace: object) -> float:
    if isinstance(grace, bool) or not isinstance(grace, int | float) or not math.isfinite(grace) or grace < 0:
        raise ToolDefinitionError(name, "kill_grace", f"must be a finite number >= 0, got {grace!r}")
    return float(grace)


def coerce(kind: type[_E], tool_name: str | None, option: str, value: object) -> _E:
    if isinstance(value, str):
        try:
            return kind(value)
        except ValueError:
            pass
    choices = ", ".join(repr(member.value) for member in kind)
    raise ToolDefinitionError(tool_name, option, f"must be one of {choices}, got {value!r}")


def is_async(fn: Callable[..., Any]) -> bool:
    if inspect.iscoroutinefunction(fn):
        return True
    # A callable object whose __call__ is async is an async tool too.
    call = getattr(fn, "__call__", None)  # noqa: B004 - the method itself, not a callable() test
    return not inspect.isfunction(fn) and inspect.iscoroutinefunction(call)
