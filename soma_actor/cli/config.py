"""``soma serve --config soma.toml``: a runtime's tools, agents and settings, from one file.

The file is TOML, read with the standard library (``tomllib``)::

    db = "soma.db"                    # the event store (or a postgresql:// URL); relative paths
                                      # are to this file's directory
    control = "soma.sock"             # the control socket
    root = "."                        # the directory the file tools are confined to
    tools = ["mytools:search", "mytools.more"]   # import paths: module:function, or a module's @tools
    secrets = ["STRIPE_KEY"]          # environment variables whose values never enter an event

    [vitals]
    enabled = true                    # false: run without the vitals monitor
    config = "vitals.json"            # a VitalsConfig.to_json() file (what `soma replay --config` reads)
    window = 10                       # any number of VitalsConfig, over the file's or the default

    [agents.greeter]
    provider = "scripted"             # scripted | anthropic | openai
    script = [{ use_tools = [{ tool = "echo", args = { value = "hi" } }] }, { reply = "said hi" }]
    repeat = true                     # start the script over when it ends
    system = "You are a careful agent."

    [agents.greeter.policy]           # deny by default
    tools = ["echo"]                  # "*": every tool of the runtime
    actors = []

    [agents.greeter.budget]           # per task
    max_model_calls = 5
    max_cost_usd = 0.5

    [agents.reader]
    provider = "openai"               # or any OpenAI-compatible endpoint:
    model = "gpt-4.1-mini"
    base_url = "http://localhost:8000/v1"
    api_key_env = "OPENAI_API_KEY"    # where the key is (default: the provider's own variable)

Keys are checked as strictly as Soma's constructors check their arguments: an unknown key,
a value of the wrong type or out of range is a :class:`ConfigError` — one line naming the
file, the line and the key (``soma.toml:12: agents.reader.budget.max_steps: must be a
positive int or None, got 0``). Nothing runs until the whole file is good. An API key never
goes in the file: it is read from the environment variable the agent names.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import math
import os
import re
import sys
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

from ._common import CliError

if TYPE_CHECKING:
    from soma_runtime import ToolSpec
    from soma_runtime.vitals import VitalsConfig

    from ..budget import Budget
    from ..model import Model
    from ..policy import Policy
    from ..providers.scripted import Turn

PROVIDERS: Final = ("scripted", "anthropic", "openai")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_TOML_POSITION = re.compile(r"\s*\(at line (\d+), column (\d+)\)$")


class ConfigError(CliError):
    """What is wrong with a config file, and where: ``file:line: key: problem``."""

    def __init__(self, file: Path, line: int, key: str, problem: str) -> None:
        where = f"{file}:{line}: " + (f"{key}: " if key else "")
        super().__init__(where + problem)
        self.file = file
        self.line = line
        self.key = key
        self.problem = problem


# --------------------------------------------------------------------------- the result


@dataclass(frozen=True)
class AgentSpec:
    """One ``[agents.NAME]`` table: enough to build its model and start its actor."""

    actor_id: str
    provider: str
    model: str | None
    base_url: str | None
    api_key_env: str | None
    timeout: float
    max_retries: int
    script: tuple[Turn, ...]
    repeat: bool
    policy: Policy
    budget: Budget
    options: Mapping[str, Any]
    """``start_actor`` options (``ActorOptions`` fields: system, intent, model_timeout, …)."""

    def build_model(self, config: ServeConfig) -> Model:
        """The agent's model; a missing key or SDK is a :class:`ConfigError` at its table."""
        from ..providers import AnthropicModel, MissingApiKey, OpenAIModel, ProviderConfigError, ScriptedModel

        key = os.environ.get(self.api_key_env) if self.api_key_env else None
        if self.api_key_env and not key:
            raise config.fail(("agents", self.actor_id, "api_key_env"), f"{self.api_key_env} is not set")
        try:
            if self.provider == "anthropic":
                return AnthropicModel(
                    self.model or "claude-sonnet-4-6",
                    api_key=key,
                    base_url=self.base_url,
                    timeout=self.timeout,
                    max_retries=self.max_retries,
                )
            if self.provider == "openai":
                return OpenAIModel(
                    self.model or "gpt-4.1",
                    api_key=key,
                    base_url=self.base_url,
                    timeout=self.timeout,
                    max_retries=self.max_retries,
                )
            return ScriptedModel(self.script, name=self.model or "scripted", repeat=self.repeat)
        except MissingApiKey as exc:
            problem = f"no {self.provider} API key: set {exc.env_var} (or name another variable: api_key_env)"
            raise config.fail(("agents", self.actor_id), problem) from None
        except ProviderConfigError as exc:
            raise config.fail(("agents", self.actor_id), exc.message) from None


@dataclass(frozen=True)
class ServeConfig:
    """A config file, checked: what ``soma serve`` starts."""

    file: Path
    db: str | None = None
    control: str | None = None
    root: str | None = None
    builtin_tools: bool = True
    tools: tuple[ToolSpec, ...] = ()
    vitals: VitalsConfig | Literal[False] | None = None
    secrets: tuple[str, ...] = ()
    """The values of the environment variables ``secrets`` names (never printed)."""
    secret_names: tuple[str, ...] = ()
    agents: tuple[AgentSpec, ...] = ()
    lines: Mapping[tuple[str, ...], int] = field(default_factory=dict, repr=False)
    """Where each key was written (its path → line), for errors found later."""

    def fail(self, key: tuple[str, ...], problem: str) -> ConfigError:
        """An error about ``key`` found after loading (building a model, starting the runtime)."""
        return ConfigError(self.file, _nearest(self.lines, key), _render(key), problem)


def load(path: str | os.PathLike[str]) -> ServeConfig:
    """Read and check the config file at ``path``; :class:`ConfigError` says what is wrong."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CliError(f"no config file at {file}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CliError(f"cannot read the config file {file}: {exc}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        found = _TOML_POSITION.search(message)
        line = int(found.group(1)) if found else 1
        raise ConfigError(file, line, "", f"not TOML: {_TOML_POSITION.sub('', message)}") from None
    return _Reader(file, text).serve_config(data)


# --------------------------------------------------------------------------- reading


class _Reader:
    """Walks the parsed file, checking each key, with the line of every key at hand."""

    def __init__(self, file: Path, text: str) -> None:
        self.file = file
        self.base = file.resolve().parent
        self.lines = _key_lines(text)

    def fail(self, key: tuple[str, ...], problem: str) -> ConfigError:
        return ConfigError(self.file, _nearest(self.lines, key), _render(key), problem)

    def serve_config(self, data: dict[str, Any]) -> ServeConfig:
        top = _Table(self, (), data)
        db = top.database("db")
        control = top.path("control")
        root = top.path("root")
        builtin_tools = top.get("builtin_tools", bool, True)
        tool_paths = top.strings("tools")
        secret_names = top.strings("secrets")
        vitals_table = top.table("vitals")
        agents_table = top.table("agents")
        top.done()
        secrets = tuple(self._secret(i, name) for i, name in enumerate(secret_names))
        vitals = self._vitals(vitals_table)
        tools = self._tools(tool_paths)
        known = {t.name for t in tools}
        agents = tuple(
            self._agent(name, agents_table.table(name)) for name in list(agents_table.data)
        )
        agents_table.done()
        for agent in agents:
            self._check_policy(agent, known, builtin_tools)
        return ServeConfig(
            self.file,
            db,
            control,
            root,
            builtin_tools,
            tools,
            vitals,
            secrets,
            tuple(secret_names),
            agents,
            self.lines,
        )

    def _secret(self, index: int, name: str) -> str:
        key = ("secrets", str(index))
        if not _ENV_NAME.match(name):
            raise self.fail(key, f"{name!r} is not the name of an environment variable")
        value = os.environ.get(name)
        if not value:
            raise self.fail(key, f"{name} is not set (a secret must have a value to keep out of events)")
        return value

    def _vitals(self, table: _Table) -> VitalsConfig | Literal[False] | None:
        from soma_runtime.vitals import VitalsConfig

        enabled = table.get("enabled", bool, True)
        config_path = table.path("config")
        scalars = {
            f.name: f.type for f in dataclasses.fields(VitalsConfig) if f.type in ("int", "float")
        }
        overrides = {}
        for name, kind in scalars.items():
            value = table.get(name, int if kind == "int" else float, None)
            if value is not None:
                overrides[name] = value
        table.done()
        if not enabled:
            if config_path is not None or overrides:
                raise self.fail(("vitals", "enabled"), "vitals are off: drop the other [vitals] keys")
            return False
        base: VitalsConfig | None = None
        if config_path is not None:
            from .replay import load_config

            try:
                base = load_config(config_path)
            except CliError as exc:
                raise self.fail(("vitals", "config"), str(exc)) from None
        if not overrides:
            return base
        try:
            return dataclasses.replace(base or VitalsConfig(), **overrides)
        except (TypeError, ValueError) as exc:
            raise self.fail(("vitals", next(iter(overrides))), str(exc)) from None

    def _tools(self, paths: Sequence[str]) -> tuple[ToolSpec, ...]:
        # The config's own directory comes first: a project's tools module beside its
        # soma.toml imports as it does for `python -m` run there (and process-isolated tools'
        # workers adopt this path too).
        if str(self.base) not in sys.path:
            sys.path.insert(0, str(self.base))
        found: dict[str, tuple[ToolSpec, int]] = {}
        for index, path in enumerate(paths):
            for spec in self._import_tools(("tools", str(index)), path):
                earlier = found.get(spec.name)
                if earlier is not None and earlier[0] is not spec:
                    raise self.fail(
                        ("tools", str(index)),
                        f"{path!r} defines a tool {spec.name!r}, and tools[{earlier[1]}] already did",
                    )
                found[spec.name] = (spec, index)
        return tuple(spec for spec, _ in found.values())

    def _import_tools(self, key: tuple[str, ...], path: str) -> list[ToolSpec]:
        from soma_runtime import ToolSpec, tool
        from soma_runtime.tools.errors import ToolDefinitionError

        module_name, _, attribute = path.partition(":")
        if not module_name or (":" in path and not attribute):
            raise self.fail(key, f"{path!r} is not an import path (module:function, or module)")
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise self.fail(key, f"cannot import {module_name!r}: {exc}") from None
        except Exception as exc:
            raise self.fail(key, f"importing {module_name!r} failed: {type(exc).__name__}: {exc}") from None
        if not attribute:
            specs = [value for value in vars(module).values() if isinstance(value, ToolSpec)]
            if not specs:
                raise self.fail(key, f"module {module_name!r} defines no @tool")
            return specs
        value = getattr(module, attribute, None)
        if isinstance(value, ToolSpec):
            return [value]
        if value is None:
            raise self.fail(key, f"module {module_name!r} has no {attribute!r}")
        if not (inspect.isfunction(value) or inspect.iscoroutinefunction(value)):
            raise self.fail(key, f"{path!r} is a {type(value).__name__}, not a function or a @tool")
        try:
            return [tool(value)]  # a plain function: a tool with the defaults
        except ToolDefinitionError as exc:
            raise self.fail(key, str(exc)) from None

    def _agent(self, name: str, table: _Table) -> AgentSpec:
        from ..actor import ActorOptions

        if not name.isprintable() or not name.strip():
            raise self.fail(("agents", name), "an agent's name must be printable text")
        provider = table.get("provider", str, None)
        if provider is None:
            raise self.fail(table.key, f"no 'provider' (one of {', '.join(PROVIDERS)})")
        if provider not in PROVIDERS:
            raise self.fail((*table.key, "provider"), f"{provider!r} is not one of {', '.join(PROVIDERS)}")
        model = table.get("model", str, None)
        scripted = provider == "scripted"
        base_url = None if scripted else table.get("base_url", str, None)
        api_key_env = None if scripted else table.get("api_key_env", str, None)
        if api_key_env is not None and not _ENV_NAME.match(api_key_env):
            raise self.fail((*table.key, "api_key_env"), f"{api_key_env!r} is not a variable name")
        if "api_key" in table.data:
            raise self.fail(
                (*table.key, "api_key"),
                "keys stay out of files: name the environment variable that holds it (api_key_env)",
            )
        timeout = 60.0 if scripted else table.get("timeout", float, 60.0)
        max_retries = 0 if scripted else table.get("max_retries", int, 0)
        script = self._script(table) if scripted else ()
        repeat = table.get("repeat", bool, False) if scripted else False
        options = {
            f.name: value
            for f in dataclasses.fields(ActorOptions)
            if (value := table.get(f.name, _OPTION_KINDS.get(f.name, str), None)) is not None
        }
        for option, (low, high) in _OPTION_RANGES.items():
            value = options.get(option)
            if value is not None and not low < value <= high:
                raise self.fail((*table.key, option), f"must be in ({low}, {high}], got {value!r}")
        policy = self._policy(table.table("policy"))
        budget = self._budget(table.table("budget"))
        table.done()
        try:
            ActorOptions(**options)
        except (TypeError, ValueError) as exc:
            raise self.fail(table.key, str(exc)) from None
        return AgentSpec(
            name,
            provider,
            model,
            base_url,
            api_key_env,
            timeout,
            max_retries,
            script,
            repeat,
            policy,
            budget,
            options,
        )

    def _script(self, table: _Table) -> tuple[Turn, ...]:
        turns = table.get("script", list, None)
        if turns is None:
            raise self.fail(table.key, "a scripted agent needs a 'script' (a list of turns)")
        return tuple(self._turn((*table.key, "script", str(i)), turn) for i, turn in enumerate(turns))

    def _turn(self, key: tuple[str, ...], value: Any) -> Turn:
        from ..providers.scripted import delayed, message_actor, reject, reply, use_tools

        if not isinstance(value, dict):
            raise self.fail(key, f"a turn is a table like {{ reply = \"…\" }}, got {value!r:.60}")
        turn = _Table(self, key, value)
        delay = turn.get("delay", float, None)
        kinds = [k for k in ("reply", "use_tools", "reject", "message") if k in value]
        if len(kinds) != 1:
            raise self.fail(key, "a turn is one of: reply, use_tools, reject, message (and maybe a delay)")
        response: Any
        if kinds == ["reply"]:
            response = reply(turn.get("reply", str, ""))
        elif kinds == ["reject"]:
            response = reject(turn.get("reject", str, ""))
        elif kinds == ["message"]:
            message = turn.table("message")
            response = message_actor(message.get("to", str, ""), message.get("text", str, ""))
            message.done()
        else:
            calls = []
            for i, call in enumerate(turn.get("use_tools", list, [])):
                where = (*key, "use_tools", str(i))
                if not isinstance(call, dict):
                    raise self.fail(where, 'a tool call is { tool = "…", args = { … } }')
                entry = _Table(self, where, call)
                calls.append((entry.get("tool", str, ""), entry.table("args").data))
                entry.done()
            if not calls:
                raise self.fail((*key, "use_tools"), "names no tool call")
            response = use_tools(*calls)
        turn.done()
        return response if delay is None else delayed(delay, response)

    def _policy(self, table: _Table) -> Policy:
        from ..policy import Policy

        tools = table.strings("tools")
        actors = table.strings("actors")
        per_proposal = table.get("max_steps_per_proposal", int, None)
        table.done()
        try:
            return Policy(tools, actors, per_proposal)
        except (TypeError, ValueError) as exc:
            raise self.fail(table.key, str(exc)) from None

    def _budget(self, table: _Table) -> Budget:
        from ..budget import Budget

        limits = {
            name: table.get(name, float if name == "max_cost_usd" else int, default)
            for name, default in (
                ("max_model_calls", 10),
                ("max_steps", 50),
                ("max_tokens", None),
                ("max_cost_usd", None),
            )
        }
        table.done()
        try:
            return Budget(**limits)
        except (TypeError, ValueError) as exc:
            wrong = next((n for n in limits if f"Budget.{n} " in str(exc)), "")
            raise self.fail((*table.key, wrong) if wrong else table.key, str(exc)) from None

    def _check_policy(self, agent: AgentSpec, tools: set[str], builtins: bool) -> None:
        from soma_runtime.tools.builtin import BUILTIN_TOOLS

        known = tools | ({t.name for t in BUILTIN_TOOLS} if builtins else set())
        unknown = sorted(agent.policy.allowed_tools - known - {"*"})
        if unknown:
            raise self.fail(
                ("agents", agent.actor_id, "policy", "tools"),
                f"no tool {unknown[0]!r} in this runtime (its tools: {', '.join(sorted(known))})",
            )


_OPTION_KINDS: Final[dict[str, type]] = {
    "system": str,
    "intent": str,
    "model_timeout": float,
    "run_timeout": float,
    "max_tokens": int,
    "delegation_trust": float,
    "cancel_grace": float,
}


_OPTION_RANGES: Final[dict[str, tuple[float, float]]] = {
    "model_timeout": (0, math.inf),
    "run_timeout": (0, math.inf),
    "cancel_grace": (0, math.inf),
    "max_tokens": (0, math.inf),
    "delegation_trust": (0, 1),
}


class _Table:
    """One table of the file: typed reads by key, and the keys left unread."""

    def __init__(self, reader: _Reader, key: tuple[str, ...], data: dict[str, Any]) -> None:
        self.reader = reader
        self.key = key
        self.data = data
        self._read: set[str] = set()

    def get(self, name: str, kind: type, default: Any) -> Any:
        self._read.add(name)
        if name not in self.data:
            return default
        value: Any = self.data[name]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise self.reader.fail((*self.key, name), f"must be {_KIND_NAMES[kind]}, got {value!r:.60}")
        if isinstance(value, float) and not math.isfinite(value):
            raise self.reader.fail((*self.key, name), f"must be a finite number, got {value!r}")
        return value

    def path(self, name: str) -> str | None:
        """A path, made absolute against the config file's directory."""
        value: str | None = self.get(name, str, None)
        if value is None:
            return None
        if not value:
            raise self.reader.fail((*self.key, name), "must be a path, got an empty string")
        return str(self.reader.base / os.path.expanduser(value))

    def database(self, name: str) -> str | None:
        """A database: a ``postgresql://`` URL as written, or a file's :meth:`path`."""
        from soma_runtime.store._backend import is_postgres

        value = self.get(name, str, None)
        return value if value is not None and is_postgres(value) else self.path(name)

    def strings(self, name: str) -> list[str]:
        values: list[Any] = self.get(name, list, [])
        for index, value in enumerate(values):
            if not isinstance(value, str) or not value:
                problem = f"must be a non-empty string, got {value!r:.60}"
                raise self.reader.fail((*self.key, name, str(index)), problem)
        return values

    def table(self, name: str) -> _Table:
        value: dict[str, Any] = self.get(name, dict, {})
        return _Table(self.reader, (*self.key, name), value)

    def done(self) -> None:
        """Refuse keys nothing read: a typo must not be silently ignored."""
        unknown = [name for name in self.data if name not in self._read]
        if unknown:
            known = ", ".join(sorted(self._read))
            raise self.reader.fail((*self.key, unknown[0]), f"unknown key (known here: {known})")


_KIND_NAMES: Final[dict[type, str]] = {
    str: "a string",
    int: "an integer",
    float: "a number",
    bool: "true or false",
    list: "a list",
    dict: "a table",
}


# --------------------------------------------------------------------------- lines

_HEADER = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_PART = r"""(?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*')"""
_KEY = re.compile(rf"^\s*({_PART}(?:\s*\.\s*{_PART})*)\s*=")


def _key_lines(text: str) -> dict[tuple[str, ...], int]:
    """The line of every table header and ``key =`` in TOML source (1-based).

    ``tomllib`` gives values, not positions; an error must still say where to look. This
    reads headers and key lines (not values), which is all a position needs: a key inside an
    inline table or a multi-line array is found at the line of its enclosing key.
    """
    found: dict[tuple[str, ...], int] = {}
    table: tuple[str, ...] = ()
    arrays: dict[tuple[str, ...], int] = {}
    depth = 0  # open brackets of a multi-line value: lines inside it hold no keys of ours
    for number, line in enumerate(text.splitlines(), start=1):
        if depth == 0:
            header = _HEADER.match(line)
            if header is not None:
                table = _split_key(header.group(1))
                if line.lstrip().startswith("[["):
                    index = arrays.get(table, -1) + 1
                    arrays[table] = index
                    table = (*table, str(index))
                found.setdefault(table, number)
                continue
            key = _KEY.match(line)
            if key is not None:
                found.setdefault((*table, *_split_key(key.group(1))), number)
        depth = max(0, depth + _bracket_balance(line))
    return found


def _split_key(text: str) -> tuple[str, ...]:
    parts = re.findall(r""""([^"]*)"|'([^']*)'|([A-Za-z0-9_-]+)""", text)
    return tuple(next(p for p in part if p) if any(part) else "" for part in parts)


def _bracket_balance(line: str) -> int:
    """Opening minus closing brackets and braces outside strings and comments."""
    balance, quote = 0, ""
    for char in line:
        if quote:
            quote = "" if char == quote else quote
        elif char in "\"'":
            quote = char
        elif char == "#":
            break
        elif char in "[{":
            balance += 1
        elif char in "]}":
            balance -= 1
    return balance


def _render(key: tuple[str, ...]) -> str:
    """``agents.a.script[0].reply``: keys dotted, list positions in brackets."""
    return "".join(f"[{part}]" if part.isdigit() else f".{part}" for part in key).lstrip(".")


def _nearest(lines: Mapping[tuple[str, ...], int], key: tuple[str, ...]) -> int:
    """The line of ``key``, else of its nearest enclosing key written in the file."""
    for end in range(len(key), 0, -1):
        line = lines.get(key[:end])
        if line is not None:
            return line
    return 1

