"""Tools: what a tool is (a :class:`ToolSpec`) and how one invocation runs under its isolation.

A tool is a function plus what the runtime needs to call it safely: a pydantic model of its
arguments (built from the signature, so invalid arguments are refused before the tool runs),
a timeout, its effect (``pure`` / ``read`` / ``state``, which resume relies on), whether it is
idempotent or destructive (vitals refuse destructive tools under critical pressure), and its
isolation — what "stop" means for it:

* ``task``: the coroutine runs in the caller's task; cancellation is cooperative (it lands at
  the tool's next ``await``). A sync function with ``task`` isolation runs inline on the
  event loop and cannot be interrupted at all — only for trivial functions.
* ``thread``: a worker thread. Python threads cannot be killed, so on cancel the thread is
  *abandoned* (it keeps running, its result is discarded) and ``on_abandon`` is told so.
* ``process``: a child OS process (see ``_isolation``). On cancel: SIGTERM to its process
  group, ``kill_grace`` seconds, SIGKILL, reap. This is the only way to stop Python code that
  never yields.
* ``command``: an external program run from an argv list (:class:`CommandTool`), stopped like
  ``process``.
* ``ray``: a Ray task on the cluster the runtime is connected to (``Runtime.open(ray=...)``;
  the ``ray`` extra). On cancel: ``ray.cancel(force=True)`` kills its worker process, and the
  call ends once Ray reports the task gone (see ``_ray``). The function and its arguments
  travel pickled, so it may be any function the worker can unpickle; its output comes back
  as JSON-ready data.

:meth:`ToolSpec.invoke` does **not** enforce ``timeout``: the caller does, on the runtime's
clock, by cancelling ``invoke`` — every isolation turns that cancellation into its own stop.
"""

from __future__ import annotations

import enum
import inspect
import logging
import shlex
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, cast, overload

from pydantic import BaseModel, ValidationError

from . import _isolation
from ._checks import (
    ARGS_CONFIG,
    COMMAND_CONFIG,
    CommandArg,
    argument_problems,
    check_argv,
    check_grace,
    check_name,
    check_timeout,
    coerce,
    is_async,
    model_from_fields,
    placeholders,
)
from .errors import ArgumentProblem, ToolArgumentsError, ToolDefinitionError

__all__ = [
    "DEFAULT_KILL_GRACE",
    "CommandTool",
    "Effect",
    "Isolation",
    "ToolContext",
    "ToolSpec",
    "build_args_model",
    "tool",
]

#: Seconds between SIGTERM and SIGKILL when a process or command tool is stopped.
DEFAULT_KILL_GRACE = 1.0

_log = logging.getLogger("soma.tools")


class Effect(enum.StrEnum):
    """What a tool does to the world; resume re-runs an interrupted step only if it is safe."""

    PURE = "pure"  # no side effects at all
    READ = "read"  # reads the world, changes nothing
    STATE = "state"  # changes the world


class Isolation(enum.StrEnum):
    """Where one invocation runs, and therefore what cancelling it can really do."""

    TASK = "task"
    THREAD = "thread"
    PROCESS = "process"
    COMMAND = "command"
    RAY = "ray"


@dataclass(frozen=True, slots=True, init=False)
class ToolContext:
    """The read-only context a tool may receive: annotate a parameter ``ToolContext``.

    It carries ids and limits, never the run itself: a tool cannot reach the run's state.
    ``deadline`` is an absolute time on the runtime's clock (or ``None``); ``root`` is the
    confinement root of the file tools (default: the current directory); ``log`` defaults
    to a ``LoggerAdapter`` over the ``soma.tools`` logger whose ``extra`` holds the ids (pass
    your own adapter to route it elsewhere). The library only logs; configuring handlers is
    the application's job.
    """

    tool: str
    tool_call_id: str
    run_id: str | None
    session_id: str | None
    step_id: str | None
    agent_id: str | None
    deadline: float | None
    root: Path
    log: logging.LoggerAdapter[logging.Logger] = field(repr=False, compare=False)

    def __init__(
        self,
        tool: str,
        tool_call_id: str,
        run_id: str | None = None,
        session_id: str | None = None,
        step_id: str | None = None,
        agent_id: str | None = None,
        deadline: float | None = None,
        root: Path | None = None,
        log: logging.LoggerAdapter[logging.Logger] | None = None,
    ) -> None:
        # Written by hand, not generated: a frozen dataclass's __init__ writes each field
        # through object.__setattr__, and the runtime builds a context for every tool call;
        # the slots' own setters (bound once, below the class) take 40% less time.
        _set_tool(self, tool)
        _set_tool_call_id(self, tool_call_id)
        _set_run_id(self, run_id)
        _set_session_id(self, session_id)
        _set_step_id(self, step_id)
        _set_agent_id(self, agent_id)
        _set_deadline(self, deadline)
        _set_root(self, Path.cwd() if root is None else root)
        _set_log(self, logging.LoggerAdapter(_log, self.ids()) if log is None else log)

    def ids(self) -> dict[str, str | None]:
        """The ids, e.g. to tag a tool's own records or requests."""
        # Spelled out, not a loop over the names: every tool call builds this dict (for
        # its log), and a getattr loop cost as much as the rest of the context.
        return {
            "tool": self.tool,
            "tool_call_id": self.tool_call_id,
            "run_id": self.run_id,
            "session_id": self.session_id,
            "step_id": self.step_id,
            "agent_id": self.agent_id,
        }


def _slot_setter(name: str) -> Callable[[ToolContext, Any], None]:
    setter: Callable[[ToolContext, Any], None] = ToolContext.__dict__[name].__set__
    return setter


_set_tool = _slot_setter("tool")
_set_tool_call_id = _slot_setter("tool_call_id")
_set_run_id = _slot_setter("run_id")
_set_session_id = _slot_setter("session_id")
_set_step_id = _slot_setter("step_id")
_set_agent_id = _slot_setter("agent_id")
_set_deadline = _slot_setter("deadline")
_set_root = _slot_setter("root")
_set_log = _slot_setter("log")


@dataclass(frozen=True, eq=False)
class ToolSpec:
    """A tool: its function, argument model, limits and isolation.

    Usually built by :func:`tool` or :class:`CommandTool`; constructing one directly is
    supported (everything is validated here). Specs compare by identity.
    """

    name: str
    fn: Callable[..., Any] | None
    args_model: type[BaseModel]
    timeout: float | None = None
    effect: Effect = Effect.STATE
    idempotent: bool = False
    destructive: bool = False
    isolation: Isolation = Isolation.TASK
    description: str = ""
    kill_grace: float = DEFAULT_KILL_GRACE
    # Derived from fn and args_model: (model field, function parameter) pairs, the parameter
    # receiving the ToolContext, and where a child process finds the function.
    _params: tuple[tuple[str, str], ...] = field(init=False, repr=False)
    _context_param: str | None = field(init=False, repr=False)
    _origin: _isolation.FunctionRef | None = field(init=False, repr=False)
    # True when args_model validates as any pydantic model does (see validate_args).
    _plain_validate: bool = field(init=False, repr=False)

    def __post_init__(self) -> None:
        name = check_name(self.name)
        setattr_ = object.__setattr__  # frozen: validated values are written once, here
        setattr_(self, "timeout", check_timeout(name, self.timeout))
        setattr_(self, "effect", coerce(Effect, name, "effect", self.effect))
        setattr_(self, "isolation", coerce(Isolation, name, "isolation", self.isolation))
        for option in ("idempotent", "destructive"):
            if not isinstance(getattr(self, option), bool):
                raise ToolDefinitionError(name, option, f"must be a bool, got {getattr(self, option)!r}")
        if not isinstance(self.description, str):
            raise ToolDefinitionError(name, "description", f"must be a str, got {self.description!r}")
        setattr_(self, "kill_grace", check_grace(name, self.kill_grace))
        if not (isinstance(self.args_model, type) and issubclass(self.args_model, BaseModel)):
            raise ToolDefinitionError(name, "args_model", "must be a pydantic BaseModel subclass")
        if self.destructive and self.effect is not Effect.STATE:
            raise ToolDefinitionError(
                name, "destructive", f"a tool with effect {self.effect.value!r} changes nothing to destroy"
            )
        setattr_(
            self,
            "_params",
            tuple((f, info.alias or f) for f, info in self.args_model.model_fields.items()),
        )
        setattr_(self, "_context_param", None)
        setattr_(self, "_origin", None)
        setattr_(
            self,
            "_plain_validate",
            inspect.getattr_static(self.args_model, "model_validate")
            is inspect.getattr_static(BaseModel, "model_validate"),
        )
        if self.isolation is Isolation.COMMAND:
            if not isinstance(self, CommandTool):
                raise ToolDefinitionError(name, "isolation", "'command' is only for CommandTool")
            return
        fn = self.fn
        if fn is None or not callable(fn):
            raise ToolDefinitionError(name, "fn", f"must be callable, got {fn!r}")
        if self.isolation is Isolation.THREAD and is_async(fn):
            raise ToolDefinitionError(
                name, "isolation", "'thread' needs a sync function; an async one runs as 'task'"
            )
        params, context = _signature_info(name, fn)
        _check_fields_match(name, [param for _, param in self._params], params)
        setattr_(self, "_context_param", context)
        if self.isolation is Isolation.PROCESS:
            setattr_(self, "_origin", _isolation.function_ref(name, fn))

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Call the underlying function directly (no validation, no isolation): decorated
        functions stay usable — and unit-testable — as plain functions."""
        if self.fn is None:
            raise TypeError(f"tool {self.name!r} has no Python function to call")
        return self.fn(*args, **kwargs)

    def validate_args(self, args: Mapping[str, Any]) -> BaseModel:
        """Validate raw arguments; raises :class:`ToolArgumentsError` naming every bad field."""
        # A dict (the common case) skips the ABC check.
        if type(args) is not dict and not isinstance(args, Mapping):
            problem = ArgumentProblem("(arguments)", f"must be a mapping, got {type(args).__name__}")
            raise ToolArgumentsError(self.name, [problem])
        try:
            # A copy: the caller's mapping stays untouched by whatever the model's validators do.
            if self._plain_validate:
                # The validator itself: model_validate is a Python wrapper around it that
                # costs a third of validating a small model, on every step.
                validated: BaseModel = self.args_model.__pydantic_validator__.validate_python(dict(args))
                return validated
            return self.args_model.model_validate(dict(args))
        except ValidationError as exc:
            raise ToolArgumentsError(self.name, argument_problems(exc)) from None

    def _check_validated(self, args: BaseModel) -> None:
        """``invoke`` takes only what :meth:`validate_args` produced."""
        if not isinstance(args, self.args_model):
            problem = ArgumentProblem(
                "(arguments)", f"expected {self.args_model.__name__} from validate_args()"
            )
            raise ToolArgumentsError(self.name, [problem])

    async def invoke(
        self,
        args: BaseModel,
        ctx: ToolContext,
        *,
        on_spawn: Callable[[int], object] | None = None,
        on_abandon: Callable[[BaseException], object] | None = None,
    ) -> Any:
        """Run ONE invocation under this tool's isolation and return its JSON-ready output.

        ``args`` must come from :meth:`validate_args`. ``on_spawn(pid)`` is called with the
        child's OS pid as soon as a ``process``/``command`` tool has started (its process
        group id is the same number); if it returns an awaitable, the child's input waits
        for it (the run journals the process first). When ``invoke`` returns or raises,
        that process and its group are gone and reaped. ``on_abandon(error)`` receives a
        :class:`~soma_runtime.tools.errors.ToolAbandoned` when a ``thread`` tool is cancelled.
        Cancellation always propagates as cancellation. Errors: ``ToolFailed`` (and its
        subclasses) when the tool raised or its process died; the typed errors of
        ``errors`` otherwise.
        """
        self._check_validated(args)
        if self._origin is not None:
            return await _isolation.run_in_process(
                self.name,
                self._origin,
                args.model_dump(mode="json", by_alias=True),
                _context_data(ctx),
                ctx.log,
                grace=self.kill_grace,
                on_spawn=on_spawn,
            )
        assert self.fn is not None
        if self.isolation is Isolation.RAY:
            from . import _ray  # here: Ray is imported only by those who use it

            # The context travels pickled: with its default log, which pickles by logger name.
            travelling = replace(ctx, log=cast(Any, None))
            return await _ray.run_on_ray(self.name, self.fn, self._bind(args, travelling), ctx.log)
        kwargs = self._bind(args, ctx)
        if self.isolation is Isolation.THREAD:
            result = await _isolation.run_in_thread(self.name, self.fn, kwargs, ctx.log, on_abandon)
        else:
            result = await _isolation.run_in_task(self.name, self.fn, kwargs)
        return _isolation.to_json_value(self.name, result)

    def _values(self, args: BaseModel) -> dict[str, Any]:
        """The arguments by function parameter (the context apart)."""
        if not self._params:
            return {}  # no comprehension frame for a tool without arguments
        return {param: getattr(args, attr) for attr, param in self._params}

    def _bind(self, args: BaseModel, ctx: ToolContext) -> dict[str, Any]:
        kwargs = self._values(args)
        if self._context_param is not None:
            kwargs[self._context_param] = ctx
        return kwargs


def _context_data(ctx: ToolContext) -> dict[str, Any]:
    return {**ctx.ids(), "deadline": ctx.deadline, "root": str(ctx.root)}


# --------------------------------------------------------------------------- @tool


@overload
def tool(
    fn: Callable[..., Any],
    /,
    *,
    name: str | None = None,
    timeout: float | None = None,
    effect: Effect | str = Effect.STATE,
    idempotent: bool = False,
    destructive: bool = False,
    isolation: Isolation | str | None = None,
    description: str | None = None,
    kill_grace: float = DEFAULT_KILL_GRACE,
) -> ToolSpec: ...


@overload
def tool(
    fn: None = None,
    /,
    *,
    name: str | None = None,
    timeout: float | None = None,
    effect: Effect | str = Effect.STATE,
    idempotent: bool = False,
    destructive: bool = False,
    isolation: Isolation | str | None = None,
    description: str | None = None,
    kill_grace: float = DEFAULT_KILL_GRACE,
) -> Callable[[Callable[..., Any]], ToolSpec]: ...


def tool(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    timeout: float | None = None,
    effect: Effect | str = Effect.STATE,
    idempotent: bool = False,
    destructive: bool = False,
    isolation: Isolation | str | None = None,
    description: str | None = None,
    kill_grace: float = DEFAULT_KILL_GRACE,
) -> ToolSpec | Callable[[Callable[..., Any]], ToolSpec]:
    """Turn a function into a :class:`ToolSpec` (bare ``@tool`` or ``@tool(...)``).

    The argument model comes from the signature: annotations are the types (unannotated
    means ``Any``), defaults are defaults, and a parameter annotated :class:`ToolContext` is
    injected rather than validated. ``isolation`` defaults to ``task`` for async functions
    and ``thread`` for sync ones; ``name`` to the function's name; ``description`` to its
    docstring. Outputs must be JSON-serialisable (pydantic models, dataclasses, tuples…
    are converted; anything else fails the call). Bad options raise
    :class:`~soma_runtime.tools.errors.ToolDefinitionError` naming the option.
    """

    def build(f: Callable[..., Any]) -> ToolSpec:
        if isinstance(f, ToolSpec):
            raise ToolDefinitionError(f.name, "fn", "is already a ToolSpec (@tool applied twice?)")
        if not callable(f):
            hint = " (to name a tool, write @tool(name=...))" if isinstance(f, str) else ""
            raise ToolDefinitionError(name, "fn", f"must be a function, got {f!r}{hint}")
        tool_name = name if name is not None else getattr(f, "__name__", "")
        iso = coerce(Isolation, tool_name, "isolation", isolation) if isolation is not None else None
        if iso is None:
            iso = Isolation.TASK if is_async(f) else Isolation.THREAD
        elif iso is Isolation.COMMAND:
            raise ToolDefinitionError(
                tool_name, "isolation", "'command' runs an external program: use CommandTool"
            )
        doc = description if description is not None else (inspect.getdoc(f) or "")
        return ToolSpec(
            check_name(tool_name),
            f,
            build_args_model(tool_name, f),
            timeout=timeout,
            effect=coerce(Effect, tool_name, "effect", effect),
            idempotent=idempotent,
            destructive=destructive,
            isolation=iso,
            description=doc,
            kill_grace=kill_grace,
        )

    return build if fn is None else build(fn)


def build_args_model(tool_name: str, fn: Callable[..., Any]) -> type[BaseModel]:
    """The pydantic model of ``fn``'s arguments (what :func:`tool` uses)."""
    params, _ = _signature_info(tool_name, fn)
    fields = {}
    for param in params:
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise ToolDefinitionError(
                tool_name, f"parameter {param.name!r}", "*args/**kwargs have no schema; name each argument"
            )
        if param.kind is param.POSITIONAL_ONLY:
            raise ToolDefinitionError(
                tool_name, f"parameter {param.name!r}", "positional-only; tools are called by keyword"
            )
        annotation = Any if param.annotation is inspect.Parameter.empty else param.annotation
        default = ... if param.default is inspect.Parameter.empty else param.default
        fields[param.name] = (annotation, default)
    return model_from_fields(tool_name, fields, ARGS_CONFIG)


def _signature_info(tool_name: str, fn: Callable[..., Any]) -> tuple[list[inspect.Parameter], str | None]:
    """``fn``'s parameters apart from the one receiving the ToolContext, and that one."""
    try:
        # eval_str resolves `from __future__ import annotations` strings in fn's globals.
        signature = inspect.signature(fn, eval_str=True)
    except Exception as exc:
        raise ToolDefinitionError(tool_name, "fn", f"its signature cannot be read: {exc}") from None
    params: list[inspect.Parameter] = []
    context: str | None = None
    for param in signature.parameters.values():
        if param.annotation is ToolContext:
            if context is not None:
                raise ToolDefinitionError(tool_name, f"parameter {param.name!r}", "a second ToolContext")
            context = param.name
        else:
            params.append(param)
    return params, context


def _check_fields_match(tool_name: str, fields: Sequence[str], params: Sequence[inspect.Parameter]) -> None:
    """A hand-made args_model must fit the function: caught here, not as a TypeError per call."""
    by_keyword = {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    if not any(p.kind is p.VAR_KEYWORD for p in params):
        for name in fields:
            if name not in by_keyword:
                raise ToolDefinitionError(tool_name, "args_model", f"field {name!r} is not a parameter of fn")
    for param in params:
        required = param.default is param.empty and param.kind not in (
            param.VAR_POSITIONAL,
            param.VAR_KEYWORD,
        )
        if required and param.name not in fields:
            raise ToolDefinitionError(
                tool_name, "args_model", f"fn's required parameter {param.name!r} has no field"
            )


@dataclass(frozen=True, eq=False, init=False)
class CommandTool(ToolSpec):
    """A tool that runs an external program from an argv list — never a shell string.

    ``CommandTool("grep", argv=["grep", "-n", "--", "{pattern}", "{path}"])``: each
    ``{name}`` placeholder in an argv element becomes a required ``str`` argument and is
    substituted as plain text (``{{``/``}}`` are literal braces); the program, ``argv[0]``,
    is fixed. No shell ever sees the values, so quotes, ``$`` and ``;`` stay literal — but a
    value may still look like an option to the program, hence ``--`` where it matters.

    Output is stdout decoded as UTF-8 (invalid bytes replaced), at most ``max_output``
    bytes: past the cap the process is killed and ``ToolOutputTooLarge`` raised. A non-zero
    exit raises ``CommandFailed`` with the code and the tail of stderr; a missing or
    non-executable program raises ``CommandNotFound``. ``cwd`` defaults to the context's
    ``root``; ``env`` (when given) *replaces* the environment. stdin is ``/dev/null``.
    The program runs in its own process group, which is killed when the call ends, on
    cancel (SIGTERM, ``kill_grace``, SIGKILL) and after a normal exit (stragglers).

    A subclass rather than a factory, so ``isinstance(spec, CommandTool)`` and ``spec.argv``
    work; to derive a variant, build a new ``CommandTool`` (``dataclasses.replace`` does not
    know this constructor).
    """

    # (Defaults only to satisfy dataclass field ordering; __init__ always sets them.)
    argv: tuple[str, ...] = ()
    max_output: int = 1_000_000
    cwd: Path | None = None
    env: Mapping[str, str] | None = None

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        timeout: float | None = None,
        max_output: int = 1_000_000,
        effect: Effect | str = Effect.STATE,
        idempotent: bool = False,
        destructive: bool = False,
        cwd: str | Path | None = None,
        env: Mapping[str, str] | None = None,
        description: str | None = None,
        kill_grace: float = DEFAULT_KILL_GRACE,
    ) -> None:
        name = check_name(name)
        fixed = check_argv(name, argv)
        if isinstance(max_output, bool) or not isinstance(max_output, int) or max_output <= 0:
            raise ToolDefinitionError(name, "max_output", f"must be a positive int, got {max_output!r}")
        if env is not None and not (
            isinstance(env, Mapping)
            and all(isinstance(k, str) and isinstance(v, str) for k, v in env.items())
        ):
            raise ToolDefinitionError(name, "env", "must be a mapping of str to str")
        if cwd is not None and not isinstance(cwd, str | Path):
            raise ToolDefinitionError(name, "cwd", f"must be a path, got {cwd!r}")
        model = model_from_fields(
            name, {p: (CommandArg, ...) for p in placeholders(name, fixed)}, COMMAND_CONFIG
        )
        super().__init__(
            name,
            None,
            model,
            timeout=timeout,
            effect=coerce(Effect, name, "effect", effect),
            idempotent=idempotent,
            destructive=destructive,
            isolation=Isolation.COMMAND,
            description=description if description is not None else f"Runs: {shlex.join(fixed)}",
            kill_grace=kill_grace,
        )
        object.__setattr__(self, "argv", fixed)
        object.__setattr__(self, "max_output", max_output)
        object.__setattr__(self, "cwd", Path(cwd) if cwd is not None else None)
        object.__setattr__(self, "env", dict(env) if env is not None else None)

    async def invoke(
        self,
        args: BaseModel,
        ctx: ToolContext,
        *,
        on_spawn: Callable[[int], object] | None = None,
        on_abandon: Callable[[BaseException], object] | None = None,
    ) -> Any:
        """Run the program once; returns its stdout text. See :meth:`ToolSpec.invoke`."""
        self._check_validated(args)
        values = self._values(args)
        # format_map is a single pass: a value containing "{x}" is not expanded again.
        argv = [element.format_map(values) for element in self.argv]
        return await _isolation.run_command(
            self.name,
            argv,
            cwd=self.cwd if self.cwd is not None else ctx.root,
            env=self.env,
            max_output=self.max_output,
            grace=self.kill_grace,
            log=ctx.log,
            on_spawn=on_spawn,
        )
