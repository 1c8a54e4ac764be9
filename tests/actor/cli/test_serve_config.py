"""The ``soma serve --config`` file: what a good one gives the runtime, and every kind of
mistake as one line naming the file, the line and the key — before anything starts, and
without leaving a database behind."""

from __future__ import annotations

import textwrap
from pathlib import Path

import anyio
import pytest
from _cli import soma_all
from _served import write_project

import soma_actor.cli.serve as serve_module
from soma_actor.cli.config import ConfigError, load
from soma_actor.providers import ScriptedModel
from soma_runtime import Runtime, Step
from soma_runtime.vitals import VitalsConfig

SCRIPTED = "[agents.a]\nprovider = 'scripted'\nscript = [{ reply = 'x' }]\n"


def write(tmp_path: Path, text: str, name: str = "soma.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def test_a_good_config_gives_paths_tools_agents_and_vitals(tmp_path: Path) -> None:
    write_project(tmp_path)
    config = load(tmp_path / "soma.toml")
    assert config.db == str(tmp_path / "served.db") and config.control == str(tmp_path / "served.sock")
    assert [t.name for t in config.tools] == ["shout", "whisper"], "a module's @tools, and a plain function"
    greeter, _ = config.agents
    assert (greeter.actor_id, greeter.provider, greeter.repeat) == ("greeter", "scripted", True)
    assert greeter.policy.allowed_tools == {"shout"} and greeter.budget.max_model_calls == 4
    model = greeter.build_model(config)
    assert isinstance(model, ScriptedModel) and model.remaining == 2
    assert config.vitals is None and config.builtin_tools is True

    vitals = write(tmp_path, "[vitals]\nwindow = 5\nalpha = 0.2\n", "v.toml")
    assert load(vitals).vitals == VitalsConfig(window=5, alpha=0.2)
    off = write(tmp_path, "[vitals]\nenabled = false\n", "off.toml")
    assert load(off).vitals is False


def test_the_openai_provider_takes_a_base_url_and_a_key_from_the_named_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(
        tmp_path,
        """
        [agents.reader]
        provider = "openai"
        model = "local-model"
        base_url = "http://127.0.0.1:9/v1"
        api_key_env = "READER_KEY"
        system = "Read carefully."
        model_timeout = 30
        """,
    )
    config = load(path)
    [reader] = config.agents
    assert reader.options == {"system": "Read carefully.", "model_timeout": 30.0}
    with pytest.raises(ConfigError) as missing:
        reader.build_model(config)
    assert str(missing.value) == f"{path}:5: agents.reader.api_key_env: READER_KEY is not set"
    monkeypatch.setenv("READER_KEY", "sk-local")
    model = reader.build_model(config)
    assert model.name == "local-model"
    assert str(model._client.base_url) == "http://127.0.0.1:9/v1/"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("text", "line", "key", "problem"),
    [
        ("db = \n", 1, "", "not TOML: Invalid value"),
        ('db = "x.db"\nfoo = 1\n', 2, "foo", "unknown key (known here: agents, builtin_tools, control, db,"),
        ("db = 3\n", 1, "db", "must be a string, got 3"),
        ('tools = ["nope_mod"]\n', 1, "tools[0]", "cannot import 'nope_mod': No module named 'nope_mod'"),
        ('tools = ["served_tools:nothing"]\n', 1, "tools[0]", "module 'served_tools' has no 'nothing'"),
        ('tools = ["served_tools:"]\n', 1, "tools[0]", "is not an import path"),
        ("[agents.a]\nmodel = 'm'\n", 1, "agents.a", "no 'provider' (one of scripted, anthropic, openai)"),
        ("[agents.a]\nprovider = 'gpt'\n", 2, "agents.a.provider", "'gpt' is not one of scripted"),
        ("[agents.a]\nprovider = 'scripted'\n", 1, "agents.a", "a scripted agent needs a 'script'"),
        (
            "[agents.a]\nprovider = 'scripted'\nscript = [{ reply = 'x', shout = 1 }]\n",
            3,
            "agents.a.script[0].shout",
            "unknown key",
        ),
        (
            "[agents.a]\nprovider = 'openai'\napi_key = 'sk-x'\n",
            3,
            "agents.a.api_key",
            "keys stay out of files",
        ),
        (
            f"{SCRIPTED}\n[agents.a.budget]\nmax_steps = 0\n",
            6,
            "agents.a.budget.max_steps",
            "Budget.max_steps must be a positive int or None, got 0",
        ),
        (
            f"{SCRIPTED}[agents.a.policy]\ntools = ['rm']\n",
            5,
            "agents.a.policy.tools",
            "no tool 'rm' in this runtime (its tools: echo, fail,",
        ),
        (
            f"{SCRIPTED}model_timeout = -1\n",
            4,
            "agents.a.model_timeout",
            "must be in (0, inf], got -1.0",
        ),
        ("[vitals]\nwindow = 0\n", 2, "vitals.window", "VitalsConfig.window must be a positive int, got 0"),
        ("[vitals]\nenabled = false\nwindow = 3\n", 2, "vitals.enabled", "vitals are off"),
        ("secrets = ['NOT A NAME']\n", 1, "secrets[0]", "is not the name of an environment variable"),
        ("secrets = ['SOMA_TEST_UNSET_SECRET']\n", 1, "secrets[0]", "SOMA_TEST_UNSET_SECRET is not set"),
    ],
)
def test_each_mistake_is_one_line_naming_file_line_and_key(
    tmp_path: Path, text: str, line: int, key: str, problem: str
) -> None:
    write_project(tmp_path)  # served_tools.py, for the import paths
    path = write(tmp_path, text, "bad.toml")
    with pytest.raises(ConfigError) as err:
        load(path)
    assert (err.value.line, err.value.key) == (line, key), str(err.value)
    assert str(err.value).startswith(f"{path}:{line}: " + (f"{key}: " if key else ""))
    assert problem in err.value.problem, err.value.problem


def test_secrets_reach_the_runtime_and_stay_out_of_events(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = "hunter2-very-secret"
    monkeypatch.setenv("SOMA_TEST_SECRET", secret)
    (tmp_path / "leaky_tools.py").write_text(
        "import os\nfrom soma_runtime import tool\n\n\n@tool\n"
        "def leak() -> str:\n    return 'token ' + os.environ['SOMA_TEST_SECRET']\n"
    )
    path = write(tmp_path, 'db = "s.db"\nsecrets = ["SOMA_TEST_SECRET"]\ntools = ["leaky_tools"]\n')
    config = load(path)
    assert config.secrets == (secret,) and config.secret_names == ("SOMA_TEST_SECRET",)
    # The served runtime gets them, and what a tool returned with the secret in it is in no
    # event.
    options = serve_module._runtime_options(config)
    assert options["secrets"] == [secret]

    async def leak() -> str:
        async with Runtime.open(db=tmp_path / "s.db", **options) as rt:
            session = await rt.start_session("leaker")
            await (await session.start_run([Step("s1", "leak")])).result()
            return "\n".join(e.to_json() for e in await rt.events.query())

    recorded = anyio.run(leak, backend="asyncio")
    assert "step.succeeded" in recorded and secret not in recorded


def test_a_failed_serve_is_one_line_and_leaves_no_database(tmp_path: Path) -> None:
    write_project(tmp_path)
    taken = tmp_path / "taken.sock"
    taken.write_text("not a socket")  # the control path is taken by a file
    bad = write(tmp_path, "[agents.x]\nprovider = 'scripted'\nscript = 'no'\n", "bad.toml")
    keyless = write(tmp_path, "[agents.r]\nprovider = 'anthropic'\n", "keyless.toml")
    results = soma_all(
        ["serve", "--config", "bad.toml", "--db", "a.db"],
        ["serve", "--config", "soma.toml", "--db", "b.db", "--control", str(taken)],
        ["serve", "--config", "keyless.toml", "--db", "c.db"],
        cwd=tmp_path,
    )
    lines = [r.err_lines for r in results]
    assert [r.code for r in results] == [1, 1, 1], lines
    assert lines[0] == [f"soma: error: {bad.name}:3: agents.x.script: must be a list, got 'no'"]
    assert lines[1][-1] == f"soma: error: cannot serve the control API on {taken}: " + (
        "it exists and is not a socket; refusing to replace it"
    )
    no_key = f"soma: error: {keyless.name}:1: agents.r: no anthropic API key: set ANTHROPIC_API_KEY"
    assert lines[2][-1].startswith(no_key)
    assert not [p.name for p in tmp_path.glob("*.db*")], "no database left behind"
